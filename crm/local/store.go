// Package local is the CRM relais uses when none is configured: an embedded SQLite file in
// the data dir (pure Go driver, no cgo), exported on demand as a CSV NationBuilder's people
// import accepts.
package local

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/events"
)

// Store is a crm.Sink backed by SQLite.
type Store struct{ db *sql.DB }

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
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)"
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
	return &Store{db: db}, nil
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

// Erase deletes the contact's row.
func (s *Store) Erase(ctx context.Context, externalID, _ string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM contacts WHERE external_id = ?`, externalID); err != nil {
		return s.fail("erase", err)
	}
	return nil
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
