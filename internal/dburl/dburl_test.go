package dburl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsPostgres(t *testing.T) {
	for url, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://u@h/db": true, "Postgres://u@h/db": true, "POSTGRESQL://h": true,
		"/var/lib/app/sms2fa.db": false, "sms2fa.db": false, "mysql://u:p@h/db": false, "": false,
	} {
		if got := IsPostgres(url); got != want {
			t.Errorf("IsPostgres(%q) = %v", url, got)
		}
	}
}

// What is surely not a file path is refused, naming no secret; nothing is
// created.
func TestRefusedShapes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, url := range []string{
		"mysql://app:hunter2@db/app",
		`"postgres://app:hunter2@db/app"`,
		"host=db user=app password=hunter2 dbname=app",
	} {
		_, err := Open(context.Background(), url)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v; want a refusal without the password", url, err)
		}
		if err := Exists(url); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Exists(%q) = %v", url, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused URL created %v", entries)
	}
}

func TestExists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sms2fa.db")
	if err := Exists(path); err == nil {
		t.Fatal("a missing file exists")
	}
	st, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := Exists(path); err != nil {
		t.Fatalf("after Open: %v", err)
	}
	if err := Exists("postgres://u@h/db"); err != nil {
		t.Fatalf("a Postgres URL: %v", err)
	}
}
