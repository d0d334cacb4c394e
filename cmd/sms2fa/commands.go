package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/dburl"
	"github.com/sms2fa/sms2fa/phone"
	"github.com/sms2fa/sms2fa/store"
)

// commands are the command's subcommands, each given the arguments after
// its name.
var commands = map[string]func(ctx context.Context, t *tool, args []string) error{
	"migrate": migrate,
	"purge":   purge,
	"user":    user,
	"unlock":  unlock,
	"signout": signout,
	"reset":   reset,
	"stats":   stats,
	"block":   block,
	"unblock": unblock,
	"allow":   allow,
}

// withStore runs fn on the store, opened without migrating it (only
// migrate changes the schema: a schema that is behind is an error naming
// it), and closes it afterwards.
func (t *tool) withStore(ctx context.Context, fn func(st *store.SQL) error, opts ...store.Option) error {
	if err := dburl.Exists(t.dbURL); err != nil {
		return fmt.Errorf("DATABASE_URL: %w (sms2fa migrate creates it)", err)
	}
	st, err := dburl.Open(ctx, t.dbURL, append(opts, store.WithoutMigrations())...)
	if errors.Is(err, store.ErrSchemaBehind) {
		return fmt.Errorf("%w (sms2fa migrate applies it)", err)
	}
	if err != nil {
		return fmt.Errorf("opening DATABASE_URL: %w", err)
	}
	defer st.Close()
	return fn(st)
}

// changed logs one change: the action, its target and the operator.
func (t *tool) changed(ctx context.Context, action, target string, attrs ...any) {
	t.audit.InfoContext(ctx, "sms2fa change", append([]any{"action", action, "target", target, "operator", t.operator}, attrs...)...)
}

// flags parses a subcommand's flags — -json among them, as before the
// subcommand — before or after its arguments, and wants exactly n
// non-empty arguments, named by what (for the error).
func (t *tool) flags(name string, args []string, n int, what string, define func(*flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&t.json, "json", t.json, "print JSON")
	if define != nil {
		define(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", name, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(pos) == n && !slices.Contains(pos, ""):
		return pos, nil
	case n == 0:
		return nil, usagef("%s takes no argument, got %q", name, pos)
	}
	return nil, usagef("%s needs %s", name, what)
}

func migrate(ctx context.Context, t *tool, args []string) error {
	var check bool
	if _, err := t.flags("migrate", args, 0, "", func(fs *flag.FlagSet) {
		fs.BoolVar(&check, "check", false, "exit 1 if the schema is behind, changing nothing")
	}); err != nil {
		return err
	}
	current := func(*store.SQL) error {
		return t.print(map[string]any{"schema": "current"}, func(w io.Writer) { fmt.Fprintln(w, "the schema is current") })
	}
	if check {
		return t.withStore(ctx, current) // opening it checks the schema
	}
	st, err := dburl.Open(ctx, t.dbURL)
	if err != nil {
		return fmt.Errorf("migrating DATABASE_URL: %w", err)
	}
	defer st.Close()
	t.changed(ctx, "migrate", string(st.Dialect()))
	return current(st)
}

// purgeView is what purge deleted.
type purgeView struct {
	Challenges int64 `json:"challenges"`
	Users      int64 `json:"users"`
	Budgets    int64 `json:"budgets"`
	Stats      int64 `json:"stats"`
	Grants     int64 `json:"grants"`
	Devices    int64 `json:"devices"`
	Prefixes   int64 `json:"prefixes"`
}

func purge(ctx context.Context, t *tool, args []string) error {
	// The store's defaults; an app that keeps rows longer (a revoked grant
	// must outlive a remembered device: store.WithRevokedRetention) gives
	// the command the same, or it deletes them early.
	challenges, stats, revoked := time.Hour, 30*24*time.Hour, 31*24*time.Hour
	if _, err := t.flags("purge", args, 0, "", func(fs *flag.FlagSet) {
		fs.DurationVar(&challenges, "retain-challenges", challenges, "keep challenges this long after they expire (store.WithRetention)")
		fs.DurationVar(&stats, "retain-stats", stats, "keep hourly statistics this long (store.WithRetention)")
		fs.DurationVar(&revoked, "retain-revoked", revoked, "keep revoked grants this long (store.WithRevokedRetention)")
	}); err != nil {
		return err
	}
	if challenges < 0 || revoked < 0 || stats < time.Hour {
		return usagef("purge: the retentions must be ≥ 0, and stats ≥ 1h")
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		p, err := st.Purge(ctx)
		if err != nil {
			return err
		}
		v := purgeView(p)
		t.changed(ctx, "purge", string(st.Dialect()), "challenges", v.Challenges, "grants", v.Grants, "devices", v.Devices,
			"retain_challenges", challenges, "retain_stats", stats, "retain_revoked", revoked)
		rows := [][]string{
			{"challenges", fmt.Sprint(v.Challenges)}, {"users", fmt.Sprint(v.Users)}, {"budgets", fmt.Sprint(v.Budgets)},
			{"stats", fmt.Sprint(v.Stats)}, {"grants", fmt.Sprint(v.Grants)}, {"devices", fmt.Sprint(v.Devices)},
			{"prefixes", fmt.Sprint(v.Prefixes)},
		}
		return t.print(v, func(w io.Writer) { table(w, []string{"DELETED", "ROWS"}, rows) })
	}, store.WithRetention(challenges, stats), store.WithRevokedRetention(revoked))
}

// userView is what user shows of one user.
type userView struct {
	User          string       `json:"user"`
	Number        string       `json:"number,omitempty"` // masked
	Region        string       `json:"region,omitempty"`
	NumberRemoved bool         `json:"number_removed,omitempty"`
	FactorVersion int64        `json:"factor_version"`
	App           bool         `json:"authenticator_app"`
	AppSince      *time.Time   `json:"authenticator_app_since,omitempty"`
	RecoveryCodes int          `json:"recovery_codes_left"`
	Failures      int          `json:"failures"`
	LockedUntil   *time.Time   `json:"locked_until,omitempty"`
	Grants        []grantView  `json:"grants"`
	Devices       []deviceView `json:"devices"`
}

type grantView struct {
	ID      string    `json:"id"`
	How     string    `json:"how"`
	Created time.Time `json:"created_at"`
	Fresh   time.Time `json:"fresh_at"`
	Expires time.Time `json:"expires_at"`
}

type deviceView struct {
	ID       string    `json:"id"`
	Label    string    `json:"label"`
	Created  time.Time `json:"created_at"`
	LastUsed time.Time `json:"last_used_at"`
	Expires  time.Time `json:"expires_at"`
}

func user(ctx context.Context, t *tool, args []string) error {
	a, err := t.flags("user", args, 1, "a user ID", nil)
	if err != nil {
		return err
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		v := userView{User: a[0], Grants: []grantView{}, Devices: []deviceView{}}
		switch f, err := st.Factor(ctx, v.User); {
		case errors.Is(err, contract.ErrNotFound):
		case err != nil:
			return err
		default:
			v.Number, v.Region, v.NumberRemoved, v.FactorVersion = phone.Mask(f.Phone), f.Region, f.Removed, f.Version
		}
		switch app, err := st.TOTP(ctx, v.User); {
		case errors.Is(err, contract.ErrNotFound):
		case err != nil:
			return err
		default:
			v.App, v.AppSince = true, &app.CreatedAt
		}
		if v.RecoveryCodes, err = st.RecoveryCodesLeft(ctx, v.User); err != nil {
			return err
		}
		acct, err := st.Account(ctx, v.User)
		if err != nil {
			return err
		}
		v.Failures = acct.Failures
		if acct.Locked() {
			v.LockedUntil = &acct.LockedUntil
		}
		for _, g := range acct.Grants {
			v.Grants = append(v.Grants, grantView{ID: g.ID, How: g.How, Created: g.CreatedAt, Fresh: g.FreshAt, Expires: g.ExpiresAt})
		}
		ds, err := st.Devices(ctx, v.User)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.ExpiresAt.After(acct.Now) {
				v.Devices = append(v.Devices, deviceView{ID: d.ID, Label: d.Label, Created: d.CreatedAt, LastUsed: d.LastUsedAt, Expires: d.ExpiresAt})
			}
		}
		return t.print(v, func(w io.Writer) { v.write(w) })
	})
}

// write prints v for a person.
func (v userView) write(w io.Writer) {
	number := "none"
	switch {
	case v.NumberRemoved:
		number = "removed"
	case v.Number != "":
		number = fmt.Sprintf("%s (%s)", v.Number, v.Region)
	}
	app := "none"
	if v.App {
		app = "set up " + stamp(*v.AppSince)
	}
	lock := fmt.Sprintf("not locked, %d failure(s) counted", v.Failures)
	if v.LockedUntil != nil {
		lock = "locked until " + stamp(*v.LockedUntil)
	}
	table(w, nil, [][]string{
		{"user", v.User}, {"number", number}, {"factor version", fmt.Sprint(v.FactorVersion)},
		{"authenticator app", app}, {"recovery codes left", fmt.Sprint(v.RecoveryCodes)}, {"lockout", lock},
	})
	fmt.Fprintf(w, "\nlive grants: %d\n", len(v.Grants))
	if len(v.Grants) > 0 {
		rows := make([][]string, len(v.Grants))
		for i, g := range v.Grants {
			rows[i] = []string{g.ID, g.How, stamp(g.Created), stamp(g.Fresh), stamp(g.Expires)}
		}
		table(w, []string{"GRANT", "HOW", "CREATED", "LAST CODE", "EXPIRES"}, rows)
	}
	fmt.Fprintf(w, "\nremembered devices: %d\n", len(v.Devices))
	if len(v.Devices) > 0 {
		rows := make([][]string, len(v.Devices))
		for i, d := range v.Devices {
			rows[i] = []string{d.ID, d.Label, stamp(d.Created), stamp(d.LastUsed), stamp(d.Expires)}
		}
		table(w, []string{"DEVICE", "LABEL", "CREATED", "LAST USED", "EXPIRES"}, rows)
	}
}

func unlock(ctx context.Context, t *tool, args []string) error {
	a, err := t.flags("unlock", args, 1, "a user ID", nil)
	if err != nil {
		return err
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		// The user's lockout and budgets, and the enrolled number's budgets:
		// the operator has checked who is asking.
		if err := st.Unlock(ctx, a[0], true); err != nil {
			return err
		}
		t.changed(ctx, "unlock", a[0])
		return t.print(map[string]any{"unlocked": a[0]}, func(w io.Writer) { fmt.Fprintf(w, "unlocked %s\n", a[0]) })
	})
}

func signout(ctx context.Context, t *tool, args []string) error {
	a, err := t.flags("signout", args, 1, "a user ID", nil)
	if err != nil {
		return err
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		grants, devices, err := st.RevokeAll(ctx, a[0], whyOperator)
		if err != nil {
			return err
		}
		t.changed(ctx, "signout", a[0], "grants", grants, "devices", devices)
		return t.print(map[string]any{"user": a[0], "grants_revoked": grants, "devices_revoked": devices}, func(w io.Writer) {
			fmt.Fprintf(w, "signed %s out: %d grant(s) and %d remembered device(s) revoked\n", a[0], grants, devices)
		})
	})
}

// whyOperator is why the command revokes grants: the grants' revoked_how.
const whyOperator = "operator"

// resetView is what reset did.
type resetView struct {
	User          string `json:"user"`
	Grants        int    `json:"grants_revoked"`
	Devices       int    `json:"devices_revoked"`
	Number        bool   `json:"number_removed"`
	App           bool   `json:"authenticator_app_removed"`
	RecoveryCodes int    `json:"recovery_codes_removed"`
}

func reset(ctx context.Context, t *tool, args []string) error {
	var yes bool
	a, err := t.flags("reset", args, 1, "a user ID (and -yes)", func(fs *flag.FlagSet) {
		fs.BoolVar(&yes, "yes", false, "confirm")
	})
	if err != nil {
		return err
	}
	if !yes {
		return usagef("reset removes every factor of %s (number, authenticator app, recovery codes) and signs them out everywhere: add -yes to confirm", a[0])
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		v := resetView{User: a[0]}
		// Each step is one of the store's own operations. A failure halfway
		// leaves what is done done, logged as such, and running reset again
		// finishes the rest. The sign-out comes first, so that what it
		// counts is every grant and device the user had (removing a factor
		// would revoke them too, uncounted).
		err := v.run(ctx, st)
		attrs := []any{"grants", v.Grants, "devices", v.Devices, "number", v.Number, "authenticator_app", v.App, "recovery_codes", v.RecoveryCodes}
		if err != nil {
			t.changed(ctx, "reset (partly, failed)", v.User, append(attrs, "error", err.Error())...)
			return err
		}
		t.changed(ctx, "reset", v.User, attrs...)
		return t.print(v, func(w io.Writer) {
			fmt.Fprintf(w, "reset %s: %d grant(s) and %d device(s) revoked, number removed: %v, authenticator app removed: %v, %d recovery code(s) removed\n",
				v.User, v.Grants, v.Devices, v.Number, v.App, v.RecoveryCodes)
		})
	})
}

// run resets v.User, noting each step done in v. Nothing is written for a
// part the user does not have: a user never seen gets no "removed" marker,
// which would stop the app's number from ever being adopted.
func (v *resetView) run(ctx context.Context, st *store.SQL) error {
	var err error
	if v.Grants, v.Devices, err = st.RevokeAll(ctx, v.User, whyOperator); err != nil {
		return err
	}
	switch f, err := st.Factor(ctx, v.User); {
	case errors.Is(err, contract.ErrNotFound):
	case err != nil:
		return err
	case !f.Removed:
		if _, err := st.RemoveFactor(ctx, v.User); err != nil {
			return err
		}
		v.Number = true
	}
	if v.App, err = st.RemoveTOTP(ctx, v.User, ""); err != nil {
		return err
	}
	left, err := st.RecoveryCodesLeft(ctx, v.User)
	if err != nil || left == 0 {
		return err
	}
	if err := st.ReplaceRecoveryCodes(ctx, v.User, nil); err != nil {
		return err
	}
	v.RecoveryCodes = left
	return nil
}

// regionView is one line of stats.
type regionView struct {
	Region     string  `json:"region"`
	Sent       int64   `json:"sent"`
	Verified   int64   `json:"verified"`
	Conversion float64 `json:"conversion"`
}

func stats(ctx context.Context, t *tool, args []string) error {
	since, top := 24*time.Hour, 20
	if _, err := t.flags("stats", args, 0, "", func(fs *flag.FlagSet) {
		fs.DurationVar(&since, "since", since, "how far back, for the regions")
		fs.IntVar(&top, "prefixes", top, "how many prefixes to print, worst first (0: all)")
	}); err != nil {
		return err
	}
	if since <= 0 {
		return usagef("stats: -since must be a positive duration like 24h, got %v", since)
	}
	if top < 0 {
		return usagef("stats: -prefixes must be 0 (all) or more, got %d", top)
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		now, err := st.Now(ctx)
		if err != nil {
			return err
		}
		s, err := st.Stats(ctx, now.Add(-since))
		if err != nil {
			return err
		}
		regions := make([]regionView, 0, len(s.Regions))
		for r, c := range s.Regions {
			regions = append(regions, regionView{Region: r, Sent: c.Sent, Verified: c.Verified, Conversion: conversion(c.Verified, c.Sent)})
		}
		// Worst first: the lowest conversion, then the most sent, then by name.
		slices.SortFunc(regions, func(a, b regionView) int {
			switch {
			case a.Conversion != b.Conversion:
				return cmp.Compare(a.Conversion, b.Conversion)
			case a.Sent != b.Sent:
				return cmp.Compare(b.Sent, a.Sent)
			}
			return strings.Compare(a.Region, b.Region)
		})
		total := regionView{Region: "all", Sent: s.Sent, Verified: s.Verified, Conversion: conversion(s.Verified, s.Sent)}
		ps, err := prefixes(ctx, st)
		if err != nil {
			return err
		}
		if top > 0 && len(ps) > top {
			ps = ps[:top]
		}
		out := map[string]any{"since": s.Since, "total": total, "regions": regions, "prefixes": ps}
		return t.print(out, func(w io.Writer) {
			fmt.Fprintf(w, "since %s\n\n", stamp(s.Since))
			rows := make([][]string, 0, len(regions)+1)
			for _, r := range append(regions, total) {
				rows = append(rows, []string{r.Region, fmt.Sprint(r.Sent), fmt.Sprint(r.Verified), fmt.Sprintf("%.0f%%", 100*r.Conversion)})
			}
			table(w, []string{"REGION", "SENT", "VERIFIED", "CONVERSION"}, rows)
			// The prefix block's own windows: sends judged (their codes can
			// no longer be entered) in the last hour and day.
			fmt.Fprintf(w, "\nprefixes, worst first (judged sends, sliding windows):\n\n")
			rows = rows[:0]
			for _, p := range ps {
				rows = append(rows, p.row())
			}
			table(w, prefixHead, rows)
		})
	})
}

// conversion is verified/sent, 1 when nothing was sent.
func conversion(verified, sent int64) float64 {
	if sent <= 0 {
		return 1
	}
	return float64(verified) / float64(sent)
}
