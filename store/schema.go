package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// The schema, one directory per dialect, one file per version
// (NNNN_name.sql). Each file records its own version in sms2fa_schema, and
// is idempotent but for SQLite's files that add columns (0002, 0005, 0007: SQLite
// has no ADD COLUMN IF NOT EXISTS; apply each only to a database at the
// version before it), so teams may apply the same files with their own
// migration tool and the store will accept the result.
//
//go:embed schema/sqlite/*.sql schema/postgres/*.sql
var schemaFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrationsFor lists d's migrations in version order.
func migrationsFor(d Dialect) ([]migration, error) {
	dir := path.Join("schema", string(d))
	entries, err := fs.ReadDir(schemaFS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: reading embedded schema for %s: %w", d, err)
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("store: schema file %s/%s has no version prefix", dir, e.Name())
		}
		b, err := fs.ReadFile(schemaFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: reading %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Schema returns the SQL of every migration of dialect d, in order: the
// schema as plain SQL for teams that run their own migrations.
func Schema(d Dialect) (string, error) {
	ms, err := migrationsFor(d)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "-- %s\n%s\n", m.name, m.sql)
	}
	return b.String(), nil
}

// migrateLockID is the Postgres advisory lock that serialises migrators: the
// bytes of "sms2fa" read as a number. Two instances starting at once queue on
// it instead of racing on CREATE TABLE.
const migrateLockID = 0x736d73326661

// migrate applies the migrations the database has not seen, in one
// transaction, so two processes migrating at once cannot both apply one.
func (s *SQL) migrate(ctx context.Context) error {
	ms, err := migrationsFor(s.dialect)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTxx(ctx, nil) // SQLite: BEGIN IMMEDIATE, the file's write lock
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		// Another instance's migration may take longer than the pool's
		// lock_timeout (see store/postgres): this wait is bounded by ctx.
		if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = 0`); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockID)); err != nil {
			return fmt.Errorf("store: migrate: taking the migration lock: %w", err)
		}
	}
	have, err := schemaVersion(ctx, tx, s.dialect)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.version <= have {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("store: migrate: applying %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}

// ErrSchemaBehind: with WithoutMigrations, the database's schema is older
// than this store's version needs.
var ErrSchemaBehind = errors.New("store: the schema is behind")

// checkSchema verifies, without changing anything, that the schema is at the
// newest version this package knows.
func (s *SQL) checkSchema(ctx context.Context) error {
	ms, err := migrationsFor(s.dialect)
	if err != nil {
		return err
	}
	want := ms[len(ms)-1].version
	have, err := schemaVersion(ctx, s.db, s.dialect)
	if err != nil {
		return err
	}
	if have < want {
		return fmt.Errorf("%w: the %s schema is at version %d, this store needs %d: apply store/schema/%s/ (or drop WithoutMigrations)", ErrSchemaBehind, s.dialect, have, want, s.dialect)
	}
	return nil
}

// schemaVersion returns the newest applied version, 0 for an empty database.
// It asks the catalogue whether the version table exists rather than
// provoking an error, which would abort a Postgres transaction.
func schemaVersion(ctx context.Context, q queryer, d Dialect) (int, error) {
	exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sms2fa_schema'`
	if d == Postgres {
		exists = `SELECT COUNT(*) FROM (SELECT to_regclass('sms2fa_schema') AS t) r WHERE t IS NOT NULL`
	}
	var n int
	if err := q.GetContext(ctx, &n, exists); err != nil {
		return 0, fmt.Errorf("store: looking for the schema table: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := q.GetContext(ctx, &v, `SELECT COALESCE(MAX(version), 0) FROM sms2fa_schema`); err != nil {
		return 0, fmt.Errorf("store: reading the schema version: %w", err)
	}
	return v, nil
}
