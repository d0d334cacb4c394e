package metrics_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// An app that does not import this package does not compile client_golang:
// the guard and its stores and senders never import it. `go list -deps` is
// the judge.
func TestOnlyThisPackageCompilesClientGolang(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go command is not on PATH; under CI this check must run")
		}
		t.Skip("dependency check skipped: the go command is not on PATH")
	}
	const prom = "github.com/prometheus/client_golang"
	for _, c := range []struct {
		pkg  string
		with bool
	}{
		{"github.com/sms2fa/sms2fa", false},
		{"github.com/sms2fa/sms2fa/store", false},
		{"github.com/sms2fa/sms2fa/store/sqlite", false},
		{"github.com/sms2fa/sms2fa/store/postgres", false},
		{"github.com/sms2fa/sms2fa/sender", false},
		{"github.com/sms2fa/sms2fa/metrics", true}, // proves the check looks at the right name
	} {
		out, err := exec.Command(goCmd, "list", "-deps", c.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", c.pkg, err)
		}
		has := false
		for _, d := range strings.Fields(string(out)) {
			if d == prom || strings.HasPrefix(d, prom+"/") {
				has = true
			}
		}
		switch {
		case has && !c.with:
			t.Errorf("%s compiles %s", c.pkg, prom)
		case !has && c.with:
			t.Errorf("%s does not compile %s: the check looks at the wrong name", c.pkg, prom)
		}
	}
}
