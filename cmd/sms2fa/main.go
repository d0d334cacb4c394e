// Command sms2fa is the operator's tool for a guard's store: the few things
// an operator needs without writing Go or SQL, against the database in
// DATABASE_URL (a postgres:// URL, or the path of a SQLite file, as the
// demos read it).
//
//	sms2fa [-json] migrate [-check]   apply the schema (-check: exit 1 if it is behind)
//	sms2fa [-json] purge [-retain-…]  delete the rows that can no longer matter
//	sms2fa [-json] user USER          the user's factor (masked), lock, codes, grants, devices
//	sms2fa [-json] unlock USER        clear the lockout and the user's and number's budgets
//	sms2fa [-json] signout USER       revoke every grant and remembered device
//	sms2fa [-json] reset -yes USER    remove every factor: number, app, recovery codes
//	sms2fa [-json] stats [-since 24h] [-prefixes 20]
//	                                  sent, verified and conversion by region and by number prefix, worst first
//	sms2fa [-json] block [-for 12h] PREFIX   block a number prefix (+91987654) on every instance
//	sms2fa [-json] unblock PREFIX     lift a prefix's block; its windows start afresh
//	sms2fa [-json] allow [-remove] PREFIX    never block the prefix (or take it off the list)
//
// purge takes the app's retentions (-retain-challenges, -retain-stats,
// -retain-revoked: store.WithRetention and WithRevokedRetention; the
// store's defaults otherwise), or it deletes rows the app keeps longer.
// Flags may come before or after a subcommand's arguments.
//
// Output is aligned for a person to read, or JSON with -json. A bad
// argument exits 2 and an unreachable database or a failed command 1, each
// with one line on stderr. The command uses the store's own operations —
// the same the guard uses, under the same locks — and opens the store
// without migrating it (but for migrate). Every change is logged on stderr
// as one line naming the action, the target and the operator ($USER).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usage is what -h and help print.
const usage = `sms2fa: the operator's tool for a guard's store, in DATABASE_URL
(a postgres:// URL or the path of a SQLite file).

  sms2fa [-json] migrate [-check]   apply the schema (-check: exit 1 if it is behind)
  sms2fa [-json] purge [-retain-challenges 1h] [-retain-stats 720h] [-retain-revoked 744h]
                                    delete the rows that can no longer matter (give the app's retention)
  sms2fa [-json] user USER          the user's number (masked), app, codes, lockout, grants, devices
  sms2fa [-json] unlock USER        clear the lockout and the user's and number's budgets
  sms2fa [-json] signout USER       revoke every grant and remembered device
  sms2fa [-json] reset -yes USER    remove every factor: number, app, recovery codes; sign out
  sms2fa [-json] stats [-since 24h] [-prefixes 20]
                                    sent, verified and conversion by region and by number prefix
                                    (its block's 1h and 24h windows), worst first, blocked marked
  sms2fa [-json] block [-for 12h] PREFIX
                                    block a number prefix, as +91987654, on every instance
  sms2fa [-json] unblock PREFIX     lift a prefix's block; its windows start afresh
  sms2fa [-json] allow [-remove] PREFIX
                                    never block the prefix (still counted), or take it off the list

Flags may come before or after a subcommand's arguments. Every change is
logged on stderr with the operator ($USER). Exit 2: a bad argument; 1: a
failure.
`

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the database, or the command, failed
	exitUsage  = 2 // a bad argument
)

// usageError is a bad argument: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// tool is one run of the command: where it writes, and who runs it.
type tool struct {
	out      io.Writer
	json     bool
	audit    *slog.Logger // one line per change
	operator string
	dbURL    string
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sms2fa", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print JSON")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp) || fs.Arg(0) == "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case err != nil:
		return fail(stderr, usagef("%v", err))
	}
	t := &tool{
		out: stdout, json: *asJSON, operator: getenv("USER"), dbURL: getenv("DATABASE_URL"),
		audit: slog.New(slog.NewTextHandler(stderr, nil)),
	}
	if t.operator == "" {
		t.operator = "unknown"
	}
	if fs.NArg() == 0 {
		return fail(stderr, usagef("a command is needed: migrate, purge, user, unlock, signout, reset or stats"))
	}
	cmd, ok := commands[fs.Arg(0)]
	if !ok {
		return fail(stderr, usagef("%q is not a command: migrate, purge, user, unlock, signout, reset or stats", fs.Arg(0)))
	}
	if t.dbURL == "" {
		return fail(stderr, usagef("DATABASE_URL is not set: a postgres:// URL or the path of a SQLite file"))
	}
	if err := cmd(ctx, t, fs.Args()[1:]); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

// fail writes err as one line (a driver's error may span several) and
// returns its exit code.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "sms2fa:", strings.Join(strings.Fields(err.Error()), " "))
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitFailed
}
