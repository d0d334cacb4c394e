package sms2fa_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// An app compiles only the database driver it uses: the root package and the
// shared store compile neither, store/postgres no SQLite, store/sqlite no
// pgx; and only an app that imports the authenticator method (totp)
// compiles a QR encoder. `go list -deps` is the judge.
func TestEachPackageCompilesOnlyItsDriver(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go command is not on PATH; under CI this check must run")
		}
		t.Skip("dependency check skipped: the go command is not on PATH")
	}
	const (
		sqliteDriver = "modernc.org/sqlite"
		pgDriver     = "github.com/jackc/pgx/v5"
		qrEncoder    = "github.com/skip2/go-qrcode" // only apps that use the authenticator method compile it
	)
	for _, c := range []struct {
		pkg     string
		without []string
		with    []string
	}{
		{"github.com/sms2fa/sms2fa", []string{sqliteDriver, pgDriver, qrEncoder}, nil},
		{"github.com/sms2fa/sms2fa/totp", []string{sqliteDriver, pgDriver}, []string{qrEncoder}},
		{"github.com/sms2fa/sms2fa/store", []string{sqliteDriver, pgDriver}, nil},
		{"github.com/sms2fa/sms2fa/sender", []string{sqliteDriver, pgDriver}, nil},
		{"github.com/sms2fa/sms2fa/store/sqlite", []string{pgDriver}, []string{sqliteDriver}},
		{"github.com/sms2fa/sms2fa/store/postgres", []string{sqliteDriver}, []string{pgDriver}},
	} {
		out, err := exec.Command(goCmd, "list", "-deps", c.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", c.pkg, err)
		}
		deps := strings.Fields(string(out))
		has := func(prefix string) bool {
			for _, d := range deps {
				if d == prefix || strings.HasPrefix(d, prefix+"/") {
					return true
				}
			}
			return false
		}
		for _, p := range c.without {
			if has(p) {
				t.Errorf("%s compiles %s", c.pkg, p)
			}
		}
		for _, p := range c.with {
			if !has(p) {
				t.Errorf("%s does not compile %s: the check looks at the wrong names", c.pkg, p)
			}
		}
	}
}

// Gin is one adapter among routers, not the core's: only the adapter
// (ginguard) and the Gin example import it, and the root package compiles
// no web framework at all — `go list` is the judge, over the module's
// non-test code.
func TestOnlyTheGinAdapterImportsGin(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go command is not on PATH; under CI this check must run")
		}
		t.Skip("dependency check skipped: the go command is not on PATH")
	}
	const gin = "github.com/gin-gonic/"
	allowed := map[string]bool{"github.com/sms2fa/sms2fa/ginguard": true, "github.com/sms2fa/sms2fa/example": true}
	out, err := exec.Command(goCmd, "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/sms2fa/sms2fa/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		for _, imp := range imports {
			if strings.HasPrefix(imp, gin) {
				seen++
				if !allowed[pkg] {
					t.Errorf("%s imports %s: only ginguard and the Gin example may", pkg, imp)
				}
			}
		}
	}
	if seen == 0 {
		t.Error("no package imports Gin: the check looks at the wrong names")
	}
	deps, err := exec.Command(goCmd, "list", "-deps", "github.com/sms2fa/sms2fa").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(deps)) {
		if strings.HasPrefix(d, gin) {
			t.Errorf("the root package compiles %s", d)
		}
	}
}

// Dependencies point one way. The contract is the bottom of the module: a
// store or sender written elsewhere depends on it alone, so it imports
// nothing of the module; the stores and senders reach the guard only through
// it; and a method (sms, recovery, device) never imports the flow (the root
// package) that calls it.
func TestDependenciesPointOneWay(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go command is not on PATH; under CI this check must run")
		}
		t.Skip("dependency check skipped: the go command is not on PATH")
	}
	const module = "github.com/sms2fa/sms2fa"
	for _, c := range []struct {
		pkg     string
		allowed []string // packages of the module it may compile
	}{
		{module + "/contract", nil},
		{module + "/store", []string{module + "/contract"}},
		{module + "/store/sqlite", []string{module + "/contract", module + "/store"}},
		{module + "/store/postgres", []string{module + "/contract", module + "/store"}},
		{module + "/sender", []string{module + "/contract", module + "/phone"}},
		{module + "/sms", []string{module + "/contract", module + "/phone"}},
		{module + "/recovery", []string{module + "/contract"}},
		{module + "/device", []string{module + "/contract"}},
		{module + "/totp", []string{module + "/contract"}},
		{module + "/templates", []string{module + "/contract"}},
	} {
		out, err := exec.Command(goCmd, "list", "-deps", c.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", c.pkg, err)
		}
		allowed := map[string]bool{c.pkg: true}
		for _, a := range c.allowed {
			allowed[a] = true
		}
		for _, d := range strings.Fields(string(out)) {
			if (d == module || strings.HasPrefix(d, module+"/")) && !allowed[d] {
				t.Errorf("%s compiles %s", c.pkg, d)
			}
		}
	}
}
