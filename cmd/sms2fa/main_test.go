package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/dburl"
	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/store"
)

// Each test runs the command as an operator would, against a real SQLite
// file and a real Postgres schema, and checks the store afterwards through
// the store's own reads.

// onBoth runs fn against a new SQLite file and a new Postgres schema.
func onBoth(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, filepath.Join(t.TempDir(), "sms2fa.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.Fresh(t)) })
}

// result is one run of the command.
type result struct {
	code        int
	out, stderr string
}

// cmd runs the command with args against url, as operator "tester".
func cmd(t *testing.T, url string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"DATABASE_URL": url, "USER": "tester"}
	code := run(t.Context(), args, func(k string) string { return env[k] }, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// migrated opens url's store, migrating it.
func migrated(t *testing.T, url string) *store.SQL {
	t.Helper()
	st, err := dburl.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// oneLine fails unless s is exactly one line containing want.
func oneLine(t *testing.T, what, s, want string) {
	t.Helper()
	if strings.Count(s, "\n") != 1 || !strings.Contains(s, want) {
		t.Fatalf("%s: stderr %q, want one line with %q", what, s, want)
	}
}

// audited fails unless stderr logs one change of action on target by the
// operator.
func audited(t *testing.T, r result, action, target string) {
	t.Helper()
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "action="+action) ||
		!strings.Contains(r.stderr, "target="+target) || !strings.Contains(r.stderr, "operator=tester") {
		t.Fatalf("the change log of %s: %q", action, r.stderr)
	}
}

var policy = contract.DefaultPolicy()

// dialect is the store's name for url's database.
func dialect(url string) string {
	if dburl.IsPostgres(url) {
		return "postgres"
	}
	return "sqlite"
}

// row is the line of a table whose first column is first, split in fields.
func row(out, first string) []string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}

// grant signs user in with a recovery code (of codes, by index), creating
// grant id.
func grant(t *testing.T, st *store.SQL, user, id string) contract.Grant {
	t.Helper()
	mac := []byte("mac-" + id)
	if err := st.ReplaceRecoveryCodes(t.Context(), user, [][]byte{mac, []byte("spare-1"), []byte("spare-2")}); err != nil {
		t.Fatal(err)
	}
	_, g, err := st.UseRecoveryCode(t.Context(), user, mac, contract.VerifyParams{Policy: policy,
		Grant: contract.GrantParams{ID: id, Login: "login-" + id, How: "recovery", Lifetime: time.Hour}})
	if err != nil {
		t.Fatalf("signing %s in: %v", user, err)
	}
	return g
}

// fail counts n wrong recovery codes of user, under a lockout of threshold
// 3.
func failures(t *testing.T, st *store.SQL, user string, n int) {
	t.Helper()
	p := policy
	p.Lockout = contract.Lockout{Threshold: 3, Duration: 15 * time.Minute, Max: time.Hour}
	for range n {
		if _, _, err := st.UseRecoveryCode(t.Context(), user, []byte("wrong"), contract.VerifyParams{Policy: p}); err == nil {
			t.Fatal("a wrong recovery code was taken")
		}
	}
}

func TestMigrate(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		r := cmd(t, url, "migrate", "-check")
		if r.code != exitFailed || r.out != "" {
			t.Fatalf("check of an empty database: %+v", r)
		}
		oneLine(t, "check", r.stderr, "sms2fa migrate") // "creates it" (SQLite), "applies it" (Postgres)
		if _, err := os.Stat(url); !dburl.IsPostgres(url) && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the check wrote a SQLite file: %v", err)
		}
		r = cmd(t, url, "migrate")
		if r.code != exitOK || r.out != "the schema is current\n" {
			t.Fatalf("migrate: %+v", r)
		}
		audited(t, r, "migrate", dialect(url))
		if r := cmd(t, url, "-json", "migrate", "-check"); r.code != exitOK || !strings.Contains(r.out, `"schema": "current"`) || r.stderr != "" {
			t.Fatalf("check after migrating: %+v", r)
		}
	})
}

func TestUser(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		st := migrated(t, url)
		ctx := t.Context()
		if _, _, err := st.AdoptFactor(ctx, "alice", "+919876543210", "IN"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetTOTP(ctx, "alice", []byte("sealed"), 100, ""); err != nil {
			t.Fatal(err)
		}
		g := grant(t, st, "alice", "g1") // 2 recovery codes left
		if err := st.AddDevice(ctx, "alice", g.ID, contract.NewDevice{ID: "d1", Label: "Chrome on Linux", FactorVersion: 1,
			Lifetime: 24 * time.Hour, MAC: []byte("device")}); err != nil {
			t.Fatal(err)
		}
		failures(t, st, "alice", 1)

		r := cmd(t, url, "user", "alice")
		if r.code != exitOK || r.stderr != "" {
			t.Fatalf("user: %+v", r)
		}
		for _, want := range []string{"+91 ••••••3210 (IN)", "authenticator app    set up", "recovery codes left  2",
			"not locked, 1 failure(s) counted", "live grants: 1", "g1", "recovery", "remembered devices: 1", "Chrome on Linux"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("user's output lacks %q:\n%s", want, r.out)
			}
		}
		if strings.Contains(r.out, "9876543210") {
			t.Errorf("the number is shown in full:\n%s", r.out)
		}
		r = cmd(t, url, "-json", "user", "alice")
		var v userView
		if err := json.Unmarshal([]byte(r.out), &v); err != nil || r.code != exitOK {
			t.Fatalf("user -json: %+v, %v", r, err)
		}
		if v.Number != "+91 ••••••3210" || !v.App || v.RecoveryCodes != 2 || v.Failures != 1 || v.LockedUntil != nil ||
			len(v.Grants) != 1 || v.Grants[0].How != "recovery" || len(v.Devices) != 1 {
			t.Fatalf("user -json: %+v", v)
		}
		failures(t, st, "alice", 2)
		if r := cmd(t, url, "user", "alice"); !strings.Contains(r.out, "locked until") {
			t.Fatalf("a locked user:\n%s", r.out)
		}
	})
}

func TestUnlockSignoutReset(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		st := migrated(t, url)
		ctx := t.Context()
		if _, _, err := st.AdoptFactor(ctx, "bob", "+919812345678", "IN"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetTOTP(ctx, "bob", []byte("sealed"), 100, ""); err != nil {
			t.Fatal(err)
		}
		g := grant(t, st, "bob", "g1")
		failures(t, st, "bob", 3)
		if a, _ := st.Account(ctx, "bob"); !a.Locked() {
			t.Fatal("bob is not locked")
		}
		// The user's and the number's send budgets, spent.
		budgets := []contract.Budget{{Name: "user", Key: "bob", Limit: 1, Window: time.Hour}, {Name: "phone", Key: "+919812345678", Limit: 1, Window: time.Hour}}
		spent := func(i int) error {
			ref := contract.Ref{ID: fmt.Sprint("c", i), UserID: "bob", Binding: fmt.Sprint("b", i)}
			_, _, err := st.Open(ctx, contract.OpenParams{Ref: ref, Phone: "+919812345678", Region: "IN", MAC: []byte("m"), Policy: contract.DefaultPolicy(), Budgets: budgets})
			return err
		}

		r := cmd(t, url, "unlock", "bob")
		if r.code != exitOK || r.out != "unlocked bob\n" {
			t.Fatalf("unlock: %+v", r)
		}
		audited(t, r, "unlock", "bob")
		if a, _ := st.Account(ctx, "bob"); a.Locked() || a.Failures != 0 {
			t.Fatalf("after unlock: %+v", a)
		}
		if err := spent(1); err != nil {
			t.Fatalf("a send after unlock: %v", err)
		}
		if err := spent(2); !errors.Is(err, contract.ErrBudgetExceeded) {
			t.Fatalf("the budgets are not spent: %v", err)
		}
		budgets[0].Key = "another user" // only the number's budget counts now
		if cmd(t, url, "unlock", "bob").code != exitOK {
			t.Fatal("unlock again")
		}
		if err := spent(3); err != nil {
			t.Fatalf("the number's budget was not emptied: %v", err)
		}

		r = cmd(t, url, "signout", "bob")
		if r.code != exitOK || !strings.Contains(r.out, "1 grant(s)") {
			t.Fatalf("signout: %+v", r)
		}
		audited(t, r, "signout", "bob")
		if g, err := st.Grant(ctx, g.ID, "bob"); err != nil || g.Live() {
			t.Fatalf("the grant after signout: %+v, %v", g, err)
		}
		g = grant(t, st, "bob", "g2") // a live grant again, and 2 recovery codes left

		r = cmd(t, url, "reset", "bob")
		if r.code != exitUsage || r.stderr == "" {
			t.Fatalf("reset without -yes: %+v", r)
		}
		if _, err := st.TOTP(ctx, "bob"); err != nil {
			t.Fatalf("reset without -yes changed something: %v", err)
		}
		r = cmd(t, url, "reset", "bob", "-yes", "-json") // flags after the ID
		var v resetView
		if err := json.Unmarshal([]byte(r.out), &v); err != nil || r.code != exitOK ||
			v != (resetView{User: "bob", Grants: 1, Number: true, App: true, RecoveryCodes: 2}) {
			t.Fatalf("reset: %+v, %+v, %v", r, v, err)
		}
		audited(t, r, "reset", "bob")
		if g, err := st.Grant(ctx, g.ID, "bob"); err != nil || g.Live() {
			t.Fatalf("the grant after reset: %+v, %v", g, err)
		}
		// Again: nothing left to do, and nothing written.
		f, _ := st.Factor(ctx, "bob")
		if r := cmd(t, url, "-json", "reset", "-yes", "bob"); r.code != exitOK || !strings.Contains(r.out, `"number_removed": false`) {
			t.Fatalf("reset again: %+v", r)
		}
		if again, _ := st.Factor(ctx, "bob"); again.Version != f.Version {
			t.Fatalf("reset again changed the factor: version %d, then %d", f.Version, again.Version)
		}
		// A user never seen gets no "removed" marker.
		if r := cmd(t, url, "reset", "-yes", "nobody"); r.code != exitOK {
			t.Fatalf("reset of an unknown user: %+v", r)
		}
		if _, err := st.Factor(ctx, "nobody"); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("reset of an unknown user wrote a factor: %v", err)
		}
		if f, err := st.Factor(ctx, "bob"); err != nil || !f.Removed {
			t.Fatalf("the number after reset: %+v, %v", f, err)
		}
		if _, err := st.TOTP(ctx, "bob"); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("the app after reset: %v", err)
		}
		if n, _ := st.RecoveryCodesLeft(ctx, "bob"); n != 0 {
			t.Fatalf("%d recovery codes after reset", n)
		}
	})
}

func TestStats(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		st := migrated(t, url)
		// IN: 4 sent, 3 verified; GB: 2 sent, none verified.
		for i, c := range []struct {
			region string
			verify bool
		}{{"IN", true}, {"IN", true}, {"IN", true}, {"IN", false}, {"GB", false}, {"GB", false}} {
			send(t, st, fmt.Sprintf("u%d", i), c.region, c.verify)
		}
		r := cmd(t, url, "stats", "-since", "1h")
		if r.code != exitOK {
			t.Fatalf("stats: %+v", r)
		}
		gb, in, all := strings.Index(r.out, "GB "), strings.Index(r.out, "IN "), strings.Index(r.out, "all ")
		if gb < 0 || in < gb || all < in || fmt.Sprint(row(r.out, "GB")) != "[GB 2 0 0%]" ||
			fmt.Sprint(row(r.out, "IN")) != "[IN 4 3 75%]" || fmt.Sprint(row(r.out, "all")) != "[all 6 3 50%]" {
			t.Fatalf("stats, worst first:\n%s", r.out)
		}
		r = cmd(t, url, "-json", "stats")
		var v struct {
			Total   regionView   `json:"total"`
			Regions []regionView `json:"regions"`
		}
		if err := json.Unmarshal([]byte(r.out), &v); err != nil || v.Total.Sent != 6 || v.Total.Verified != 3 ||
			len(v.Regions) != 2 || v.Regions[0].Region != "GB" {
			t.Fatalf("stats -json: %s (%v)", r.out, err)
		}
	})
}

// send opens a challenge of user's in region and, if verify, verifies it.
func send(t *testing.T, st *store.SQL, user, region string, verify bool) {
	t.Helper()
	ref := contract.Ref{ID: user + "-challenge", UserID: user, Binding: "b-" + user}
	mac := []byte("mac-" + user)
	if _, _, err := st.Open(t.Context(), contract.OpenParams{Ref: ref, Phone: "+919876543210", Region: region, MAC: mac, Policy: policy}); err != nil {
		t.Fatal(err)
	}
	if !verify {
		return
	}
	if _, _, err := st.Verify(t.Context(), ref, contract.VerifyParams{MAC: mac, Policy: policy,
		Grant: contract.GrantParams{ID: "g-" + user, How: "sms", Lifetime: time.Hour}}); err != nil {
		t.Fatal(err)
	}
}

func TestBadArguments(t *testing.T) {
	url := filepath.Join(t.TempDir(), "sms2fa.db")
	migrated(t, url)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "a command is needed"},
		{[]string{"destroy"}, `"destroy" is not a command`},
		{[]string{"user"}, "user needs a user ID"},
		{[]string{"unlock", "a", "b"}, "unlock needs a user ID"},
		{[]string{"stats", "-since", "-1h"}, "-since must be a positive duration"},
		{[]string{"stats", "-since", "soon"}, "stats: invalid value"},
		{[]string{"-verbose", "stats"}, "flag provided but not defined"},
		{[]string{"user", ""}, "user needs a user ID"},
		{[]string{"reset", "-yes"}, "reset needs a user ID"},
		{[]string{"purge", "-retain-stats", "10m"}, "stats ≥ 1h"},
		{[]string{"purge", "extra"}, "purge takes no argument"},
		{[]string{"block", "91987654"}, `"91987654" is not a number prefix`},
		{[]string{"block", "-for", "10s", "+91987654"}, "-for must be at least 1m"},
		{[]string{"unblock"}, "unblock needs a prefix like +91987654"},
		{[]string{"allow", "+91 987654"}, "is not a number prefix"},
		{[]string{"stats", "-prefixes", "-1"}, "-prefixes must be 0 (all) or more"},
	} {
		r := cmd(t, url, c.args...)
		if r.code != exitUsage || r.out != "" {
			t.Errorf("%q: %+v, want exit 2", c.args, r)
			continue
		}
		oneLine(t, fmt.Sprint(c.args), r.stderr, c.want)
	}
	if r := cmd(t, url, "user", "alice", "-json"); r.code != exitOK || !strings.Contains(r.out, `"user": "alice"`) {
		t.Errorf("-json after the user ID: %+v", r)
	}
	if r := cmd(t, url, "-h"); r.code != exitOK || !strings.Contains(r.out, "sms2fa [-json] reset -yes USER") {
		t.Errorf("-h: %+v", r)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"stats"}, func(string) string { return "" }, &out, &errb); code != exitUsage {
		t.Errorf("without DATABASE_URL: exit %d", code)
	}
	oneLine(t, "without DATABASE_URL", errb.String(), "DATABASE_URL is not set")
	r := cmd(t, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "user", "alice")
	if r.code != exitFailed {
		t.Fatalf("an unreachable database: %+v", r)
	}
	oneLine(t, "an unreachable database", r.stderr, "opening DATABASE_URL")
}

func TestPrefixes(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		// Sends made 20 minutes ago, judged by the sends of 2 minutes ago
		// (still in flight): +91987654 never verified, +91981234 always.
		at := time.Now().Add(-20 * time.Minute)
		st, err := dburl.Open(t.Context(), url, store.WithClock(func() time.Time { return at }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		rule := contract.PrefixRule{Mode: contract.PrefixOn, MinSends: 20, Conversion: 0.35, For: time.Hour, Max: time.Hour}
		sendTo := func(user, number string, verify bool) {
			t.Helper()
			r := rule
			r.Key = number[:9]
			ref := contract.Ref{ID: user + "-c", UserID: user, Binding: "b"}
			if _, _, err := st.Open(t.Context(), contract.OpenParams{Ref: ref, Phone: number, Region: "IN", MAC: []byte("m"), Policy: policy, Prefix: r}); err != nil {
				t.Fatal(err)
			}
			if verify {
				if _, _, err := st.Verify(t.Context(), ref, contract.VerifyParams{MAC: []byte("m"), Policy: policy}); err != nil {
					t.Fatal(err)
				}
			}
		}
		sendTo("a1", "+919876541001", false)
		sendTo("a2", "+919876541002", false)
		sendTo("b1", "+919812341001", true)
		sendTo("b2", "+919812341002", true)
		at = at.Add(18 * time.Minute)
		sendTo("a3", "+919876541003", false) // judges the first two of each prefix
		sendTo("b3", "+919812341003", true)

		r := cmd(t, url, "block", "-for", "2h", "+91911111")
		if r.code != exitOK || !strings.Contains(r.out, "blocked +91911111 until") {
			t.Fatalf("block: %+v", r)
		}
		audited(t, r, "block", "+91911111")
		r = cmd(t, url, "allow", "+91900000")
		if r.code != exitOK {
			t.Fatalf("allow: %+v", r)
		}
		audited(t, r, "allow", "+91900000")

		r = cmd(t, url, "stats")
		if r.code != exitOK {
			t.Fatalf("stats: %+v", r)
		}
		blocked, pumped, fine := strings.Index(r.out, "+91911111"), strings.Index(r.out, "+91987654"), strings.Index(r.out, "+91981234")
		if blocked < 0 || pumped < blocked || fine < pumped || !strings.Contains(row(r.out, "+91911111")[7], "BLOCKED") ||
			row(r.out, "+91987654")[5] != "0%" || row(r.out, "+91981234")[5] != "100%" ||
			row(r.out, "+91987654")[6] != "1" || row(r.out, "+91900000")[7] != "allowed" {
			t.Fatalf("stats by prefix, worst first, blocked marked:\n%s", r.out)
		}
		r = cmd(t, url, "-json", "stats", "-prefixes", "2")
		var v struct {
			Prefixes []prefixView `json:"prefixes"`
		}
		if err := json.Unmarshal([]byte(r.out), &v); err != nil || len(v.Prefixes) != 2 || !v.Prefixes[0].Blocked ||
			v.Prefixes[1].Prefix != "+91987654" || v.Prefixes[1].DayVerified != 0 || v.Prefixes[1].InFlight != 1 {
			t.Fatalf("stats -json -prefixes 2: %s (%v)", r.out, err)
		}

		// The store sees what the command did; an unblock lifts it.
		if p, err := st.Prefix(t.Context(), "+91911111"); err != nil || !p.Blocked() || p.Blocks != 0 {
			t.Fatalf("after block: %+v, %v", p, err)
		}
		r = cmd(t, url, "unblock", "+91911111")
		if r.code != exitOK || !strings.Contains(r.out, "unblocked +91911111") {
			t.Fatalf("unblock: %+v", r)
		}
		audited(t, r, "unblock", "+91911111")
		if r = cmd(t, url, "unblock", "+91911111"); !strings.Contains(r.out, "was not blocked") {
			t.Fatalf("unblocking again: %+v", r)
		}
		r = cmd(t, url, "-json", "allow", "-remove", "+91900000")
		if r.code != exitOK || !strings.Contains(r.out, `"allowed": false`) {
			t.Fatalf("allow -remove: %+v", r)
		}
		audited(t, r, "disallow", "+91900000")
	})
}
