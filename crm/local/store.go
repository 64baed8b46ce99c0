// Package local is the CRM relais uses when none is configured: an embedded SQLite file in
// the data dir (pure Go driver, no cgo), exported on demand as a CSV NationBuilder's people
// import accepts.
package local

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/events"
)

// Store is a crm.Sink backed by SQLite.
type Store struct {
	db         *sql.DB
	exportPath string
}

// Option configures a Store.
type Option func(*Store)

// WithExportPath names the CSV `relais export` writes by default (RELAIS_DATA_DIR/export.csv):
// an erasure removes the erased contact's row from it, or the file itself when it cannot be
// read as an export. Exports written elsewhere (--out) are the operator's to delete.
func WithExportPath(path string) Option { return func(s *Store) { s.exportPath = path } }

const schema = `
CREATE TABLE IF NOT EXISTS contacts (
	external_id    TEXT PRIMARY KEY,
	first_name     TEXT NOT NULL DEFAULT '',
	last_name      TEXT NOT NULL DEFAULT '',
	name           TEXT NOT NULL DEFAULT '',
	phone          TEXT NOT NULL DEFAULT '',
	handles        TEXT NOT NULL DEFAULT '[]',
	tags           TEXT NOT NULL DEFAULT '[]',
	groups         TEXT NOT NULL DEFAULT '[]',
	last_active    TEXT NOT NULL DEFAULT '',
	do_not_contact INTEGER NOT NULL DEFAULT 0,
	updated_at     TEXT NOT NULL
) STRICT;`

// Open opens (creating if needed) the database at path.
//
// secure_delete makes SQLite overwrite deleted and superseded row content with zeros, in
// the pages it writes; temp_store keeps VACUUM's copy of the database in memory rather than
// in a temporary file.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)" +
		"&_pragma=secure_delete(ON)&_pragma=temp_store(MEMORY)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("local crm: open: %w", err)
	}
	// One writer at a time is all SQLite does anyway; a single connection also keeps the
	// pragmas applied to every statement.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("local crm: schema: %w", err)
	}
	s := &Store{db: db}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Upsert writes the contact: relais tags it must lose are removed, the others added.
func (s *Store) Upsert(ctx context.Context, c crm.Contact) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", s.fail("begin", err)
	}
	defer tx.Rollback()
	var raw string
	err = tx.QueryRowContext(ctx, `SELECT tags FROM contacts WHERE external_id = ?`, c.ExternalID).Scan(&raw)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", s.fail("read", err)
	}
	var tags []string
	if raw != "" {
		_ = json.Unmarshal([]byte(raw), &tags) // a damaged cell is rewritten below
	}
	tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(c.RemoveTags, t) })
	for _, t := range c.Tags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	lastActive := ""
	if !c.LastActive.IsZero() {
		lastActive = c.LastActive.UTC().Format(time.RFC3339)
	}
	_, err = tx.ExecContext(ctx, `
INSERT INTO contacts (external_id, first_name, last_name, name, phone, handles, tags, groups, last_active, do_not_contact, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (external_id) DO UPDATE SET
	first_name = excluded.first_name, last_name = excluded.last_name, name = excluded.name,
	phone = excluded.phone, handles = excluded.handles, tags = excluded.tags, groups = excluded.groups,
	last_active = excluded.last_active, do_not_contact = excluded.do_not_contact, updated_at = excluded.updated_at`,
		c.ExternalID, c.FirstName, c.LastName, c.Name, c.Phone, mustJSON(c.Handles), mustJSON(tags), mustJSON(c.Groups),
		lastActive, c.DoNotContact, time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		return "", s.fail("write", err)
	}
	if err := tx.Commit(); err != nil {
		return "", s.fail("commit", err)
	}
	return c.ExternalID, nil
}

// Erase deletes the contact's row, then makes sure no file of the store keeps its bytes:
//
//   - secure_delete zeroes the row in the page it sat in;
//   - VACUUM rebuilds every page, so versions the row had before secure_delete was on
//     (left in free space by earlier updates) go too;
//   - wal_checkpoint(TRUNCATE) copies the WAL into the database and empties it: the WAL
//     holds every page version written since the last checkpoint, the row's included;
//   - the default export loses the contact's row.
//
// Every step is repeated on a retry, even when the row is already gone.
func (s *Store) Erase(ctx context.Context, externalID, _ string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM contacts WHERE external_id = ?`, externalID); err != nil {
		return s.fail("erase", err)
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
		return s.fail("erase vacuum", err)
	}
	var busy, frames, copied int
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil {
		return s.fail("erase checkpoint", err)
	}
	if busy != 0 {
		// A reader (a `relais export` running) kept the WAL from being emptied.
		return s.fail("erase checkpoint", errors.New("database busy"))
	}
	if err := s.eraseFromExport(externalID); err != nil {
		return s.fail("erase export", err)
	}
	return nil
}

// eraseFromExport rewrites the default export without the contact's row.
func (s *Store) eraseFromExport(externalID string) error {
	if s.exportPath == "" {
		return nil
	}
	data, err := os.ReadFile(s.exportPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	col := -1
	if err == nil && len(rows) > 0 {
		col = slices.Index(rows[0], ExportColumns[0])
	}
	if col < 0 {
		// Not an export this store can read (edited by hand, say): it may hold anyone.
		return scrubFile(s.exportPath, nil, true)
	}
	kept := slices.DeleteFunc(rows[1:], func(r []string) bool { return col < len(r) && r[col] == externalID })
	if len(kept) == len(rows)-1 {
		return nil
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(append([][]string{rows[0]}, kept...)); err != nil {
		return err
	}
	return scrubFile(s.exportPath, buf.Bytes(), false)
}

// scrubFile overwrites a file's old content with zeros before writing data in its place (or
// removing it), so the old bytes are not left in blocks the file no longer uses. On a
// copy-on-write file system (btrfs, ZFS) the old blocks survive anyway: only the file's
// content is guaranteed.
func scrubFile(path string, data []byte, remove bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	zeros := make([]byte, 32<<10)
	for off := int64(0); off < info.Size(); off += int64(len(zeros)) {
		n := min(int64(len(zeros)), info.Size()-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if remove {
		if err := f.Close(); err != nil {
			return err
		}
		return os.Remove(path)
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// fail wraps a database error: retryable, since a busy or full disk heals.
func (s *Store) fail(op string, err error) error {
	return &crm.Error{Op: "local " + op, Retryable: true, RetryAfter: time.Second, Err: err}
}

func mustJSON(v any) string {
	if v == nil {
		return "[]"
	}
	data, err := json.Marshal(v)
	if err != nil || string(data) == "null" {
		return "[]"
	}
	return string(data)
}

// Contact is one exported row.
type Contact struct {
	ExternalID   string
	FirstName    string
	LastName     string
	Name         string
	Phone        string
	Handles      []events.Handle
	Tags         []string
	Groups       []string
	LastActive   string
	DoNotContact bool
}

// Contacts returns every contact, ordered by external id.
func (s *Store) Contacts(ctx context.Context) ([]Contact, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT external_id, first_name, last_name, name, phone, handles, tags, groups, last_active, do_not_contact FROM contacts ORDER BY external_id`)
	if err != nil {
		return nil, fmt.Errorf("local crm: list: %w", err)
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		var c Contact
		var handles, tags, groups string
		if err := rows.Scan(&c.ExternalID, &c.FirstName, &c.LastName, &c.Name, &c.Phone, &handles, &tags, &groups, &c.LastActive, &c.DoNotContact); err != nil {
			return nil, fmt.Errorf("local crm: list: %w", err)
		}
		_ = json.Unmarshal([]byte(handles), &c.Handles)
		_ = json.Unmarshal([]byte(tags), &c.Tags)
		_ = json.Unmarshal([]byte(groups), &c.Groups)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("local crm: list: %w", err)
	}
	return out, nil
}

// ExportColumns are the CSV header. The first ones are NationBuilder people-import fields
// (tag_list is comma-separated inside its cell, Y/N for the flags); the last ones are for
// the organiser and are simply left unmapped at import.
var ExportColumns = []string{
	"external_id", "first_name", "last_name", "mobile_number", "mobile_opt_in", "email_opt_in",
	"do_not_contact", "tag_list", "last_active", "groups", "telegram_username", "whatsapp_id",
}

// Export writes every contact as CSV. Cells that a spreadsheet would run as a formula are
// neutralised with a leading quote.
func (s *Store) Export(ctx context.Context, w io.Writer) error {
	contacts, err := s.Contacts(ctx)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportColumns); err != nil {
		return fmt.Errorf("local crm: export: %w", err)
	}
	for _, c := range contacts {
		first, last := crm.Contact{FirstName: c.FirstName, LastName: c.LastName, Name: c.Name}.Names()
		var tgUser, waID string
		for _, h := range c.Handles {
			switch h.Platform {
			case events.Telegram:
				if h.Username != "" {
					tgUser = "@" + h.Username
				}
			case events.WhatsApp:
				waID = h.ID
			}
		}
		row := []string{
			c.ExternalID, first, last, c.Phone, "N", "N", yn(c.DoNotContact),
			strings.Join(c.Tags, ","), c.LastActive, strings.Join(c.Groups, ","), tgUser, waID,
		}
		for i := range row {
			if i == 3 && crm.E164(row[i]) == row[i] {
				// A validated E.164 number is "+" and digits only: no formula can hide in
				// it, and NationBuilder's import needs it intact.
				continue
			}
			row[i] = Neutralise(row[i])
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("local crm: export: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("local crm: export: %w", err)
	}
	return nil
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// Neutralise prefixes a quote to a cell a spreadsheet would read as a formula (OWASP CSV
// injection: = + - @, tab, carriage return), so a member named "=HYPERLINK(...)" stays text.
func Neutralise(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
