package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.mau.fi/whatsmeow/store/sqlstore"
	waLog "go.mau.fi/whatsmeow/util/log"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL, driver name "pgx"
	_ "modernc.org/sqlite"             // pure-Go SQLite, driver name "sqlite"
)

// ErrNoPostgresDriver is returned for a PostgreSQL WHATSAPP_DB when no driver is linked in.
var ErrNoPostgresDriver = errors.New(`postgres support needs a PostgreSQL database/sql driver in the binary; ` +
	`leave WHATSAPP_DB empty to use SQLite in the data dir`)

// storeFile is the SQLite file of the WhatsApp session inside the data dir.
const storeFile = "whatsapp.db"

// openStore opens whatsmeow's device store: SQLite in dataDir by default, the PostgreSQL
// database db when it is a postgres URL, or the SQLite file db when it is a path.
func openStore(ctx context.Context, dataDir, db string, log waLog.Logger) (*sqlstore.Container, error) {
	dialect, dsn, err := storeDSN(dataDir, db, sql.Drivers())
	if err != nil {
		return nil, err
	}
	if dialect == "sqlite" {
		if err := prepareSQLiteFile(strings.TrimPrefix(strings.SplitN(dsn, "?", 2)[0], "file:")); err != nil {
			return nil, err
		}
	}
	c, err := sqlstore.New(ctx, dialect, dsn, log)
	if err != nil {
		return nil, fmt.Errorf("whatsapp store: %w", err)
	}
	if err := scrubStoredNames(ctx, dialect, dsn); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// sqlitePragmas: whatsmeow's schema needs foreign keys; WAL and a busy timeout let the
// handler goroutine and sends write concurrently; secure_delete overwrites what is deleted.
const sqlitePragmas = "_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=secure_delete(1)"

// storeDSN picks the database/sql driver and data source for a store setting. drivers are
// the registered driver names (sql.Drivers()).
func storeDSN(dataDir, db string, drivers []string) (dialect, dsn string, err error) {
	switch {
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		// whatsmeow's dialect parser reads both "pgx" and "postgres*" as PostgreSQL.
		for _, d := range []string{"pgx", "postgres"} {
			if slices.Contains(drivers, d) {
				return d, db, nil
			}
		}
		return "", "", ErrNoPostgresDriver
	case strings.Contains(db, "://"):
		return "", "", fmt.Errorf("whatsapp store: WHATSAPP_DB must be a postgres:// URL or a SQLite file path")
	}
	path := db
	if path == "" {
		if dataDir == "" {
			return "", "", fmt.Errorf("whatsapp store: no data dir")
		}
		path = filepath.Join(dataDir, storeFile)
	}
	path = strings.TrimPrefix(path, "file:")
	if strings.ContainsAny(path, "?#") {
		return "", "", fmt.Errorf("whatsapp store: SQLite path must not contain ? or #")
	}
	return "sqlite", "file:" + path + "?" + sqlitePragmas, nil
}

// prepareSQLiteFile creates the file readable by its owner only: it holds the session keys.
func prepareSQLiteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("whatsapp store: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("whatsapp store: %w", err)
	}
	return f.Close()
}
