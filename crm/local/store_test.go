package local_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/local"
	"github.com/relais-bot/relais/events"
)

func open(t *testing.T) *local.Store {
	t.Helper()
	s, err := local.Open(context.Background(), filepath.Join(t.TempDir(), "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestUpsertTagsAndErase(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	c := crm.Contact{ExternalID: "relais-a", FirstName: "Ana", Phone: "+33612345678", Tags: []string{"relais-actif", "relais-nouveau"}}
	if ref, err := s.Upsert(ctx, c); err != nil || ref != "relais-a" {
		t.Fatalf("upsert: %q %v", ref, err)
	}
	c.Tags, c.RemoveTags = []string{"relais-leader"}, []string{"relais-nouveau"}
	if _, err := s.Upsert(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Contacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].Tags, []string{"relais-actif", "relais-leader"}) {
		t.Fatalf("contacts %+v", got)
	}
	if err := s.Erase(ctx, "relais-a", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Contacts(ctx); len(got) != 0 {
		t.Fatalf("erased contact still there: %+v", got)
	}
	if err := s.Erase(ctx, "relais-never", ""); err != nil {
		t.Fatalf("erasing an unknown contact: %v", err)
	}
}

func TestExportIsImportableAndNeutralised(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	contacts := []crm.Contact{
		{ExternalID: "relais-a", FirstName: `=HYPERLINK("http://evil.example","x")`, LastName: "Martin", Phone: "+33612345678",
			Tags: []string{"relais-actif", "relais-groupe-lyon"}, Groups: []string{"Lyon 3e"}, LastActive: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
			Handles: []events.Handle{{Platform: events.Telegram, ID: "42", Username: "ana"}}},
		{ExternalID: "relais-b", Name: "@admin", Tags: []string{"relais-stop"}, DoNotContact: true},
		{ExternalID: "relais-c", FirstName: "-1+2", LastName: "+cmd|' /C calc'!A0"},
	}
	for _, c := range contacts {
		if _, err := s.Upsert(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v", err)
	}
	if !slices.Equal(rows[0], local.ExportColumns) {
		t.Fatalf("header %v", rows[0])
	}
	for _, want := range []string{"external_id", "first_name", "last_name", "mobile_number", "tag_list"} {
		if !slices.Contains(rows[0], want) {
			t.Errorf("no %s column", want)
		}
	}
	col := func(row []string, name string) string { return row[slices.Index(rows[0], name)] }
	tests := []struct {
		row                           int
		first, last, mobile, tags, dn string
	}{
		{1, `'=HYPERLINK("http://evil.example","x")`, "Martin", "+33612345678", "relais-actif,relais-groupe-lyon", "N"},
		{2, "'@admin", "", "", "relais-stop", "Y"},
		{3, "'-1+2", "'+cmd|' /C calc'!A0", "", "", "N"},
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	for _, tt := range tests {
		r := rows[tt.row]
		if col(r, "first_name") != tt.first || col(r, "last_name") != tt.last || col(r, "mobile_number") != tt.mobile ||
			col(r, "tag_list") != tt.tags || col(r, "do_not_contact") != tt.dn {
			t.Errorf("row %d = %q", tt.row, r)
		}
	}
	if col(rows[1], "telegram_username") != "'@ana" || col(rows[1], "last_active") != "2026-03-01T12:00:00Z" {
		t.Errorf("row 1 = %q", rows[1])
	}
}

func TestNeutralise(t *testing.T) {
	tests := map[string]string{
		"": "", "Ana": "Ana", "=1+1": "'=1+1", "+33": "'+33", "-2": "'-2", "@x": "'@x",
		"\tx": "'\tx", "\rx": "'\rx", "a=b": "a=b",
	}
	for in, want := range tests {
		if got := local.Neutralise(in); got != want {
			t.Errorf("Neutralise(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEraseLeavesNothingOnDisk: after Erase no file of the local CRM (the database, its WAL
// and shared-memory files, the default export) holds the contact's name, handle or phone,
// even for a row written before secure deletion was on, while the others stay.
func TestEraseLeavesNothingOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath, exportPath := filepath.Join(dir, "crm.db"), filepath.Join(dir, "export.csv")
	canaries := []string{"Philibertine", "Zébulonne", "Canari_Zorglub", "+33699887766", "Canardière"}

	// A database from before secure deletion, where the member's earlier row was deleted:
	// its bytes stay in the page's free space, which only VACUUM rewrites.
	s, err := local.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	// The old row sorts first and many others after it, so the later writes land in other
	// pages and nothing but VACUUM rewrites its page.
	queries := []string{`INSERT INTO contacts (external_id, first_name, last_name, updated_at) VALUES ('relais-a0', 'Philibertine', 'de la Canardière', 'x')`}
	for i := range 200 {
		queries = append(queries, fmt.Sprintf(`INSERT INTO contacts (external_id, first_name, last_name, groups, updated_at) VALUES ('relais-b%03d', 'Bob', 'Bernard', '["Quartier Nord","Quartier Sud"]', 'x')`, i))
	}
	queries = append(queries, `DELETE FROM contacts WHERE external_id = 'relais-a0'`, `PRAGMA wal_checkpoint(TRUNCATE)`)
	for _, q := range queries {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	if found := filesWith(t, dir, "Canardière"); len(found) == 0 {
		t.Fatal("the deleted row is not in the file: the test shows nothing")
	}

	s, err = local.Open(ctx, dbPath, local.WithExportPath(exportPath))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 2 {
		c := crm.Contact{ExternalID: fmt.Sprintf("relais-o%02d", i), FirstName: "Bob", LastName: fmt.Sprintf("Bernard%02d", i), Tags: []string{"relais-actif"}}
		if _, err := s.Upsert(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Upsert(ctx, crm.Contact{ExternalID: "relais-x", FirstName: "Philibertine", LastName: "Zébulonne", Phone: "+33699887766",
		Handles: []events.Handle{{Platform: events.Telegram, ID: "7001", Username: "Canari_Zorglub"}}, Tags: []string{"relais-leader"}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(exportPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Export(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if found := filesWith(t, dir, canaries[:4]...); len(found) != 4 {
		t.Fatalf("before the erasure the files show only %v: the search sees nothing", found)
	}

	if err := s.Erase(ctx, "relais-x", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Erase(ctx, "relais-x", ""); err != nil {
		t.Fatalf("erasing again: %v", err)
	}
	got, err := s.Contacts(ctx)
	if err != nil || len(got) != 202 {
		t.Fatalf("%d contacts left, want the 202 others (%v)", len(got), err)
	}
	rows := readCSV(t, exportPath)
	if len(rows) != 203 || rows[1][0] != "relais-b000" {
		t.Fatalf("export after the erasure: %d rows, want the header and the 202 others", len(rows))
	}
	// The files are searched while the store is open, as they sit on a running server.
	if found := filesWith(t, dir, canaries...); len(found) > 0 {
		t.Fatalf("after the erasure the local CRM still holds %v", found)
	}
	s.Close()
	if found := filesWith(t, dir, canaries...); len(found) > 0 {
		t.Fatalf("after closing, the local CRM holds %v", found)
	}
}

// TestEraseRemovesUnreadableExport: an export the store cannot read may name anyone: an
// erasure removes it.
func TestEraseRemovesUnreadableExport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	exportPath := filepath.Join(dir, "export.csv")
	if err := os.WriteFile(exportPath, []byte("nom;prénom\nZébulonne;Philibertine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := local.Open(ctx, filepath.Join(dir, "crm.db"), local.WithExportPath(exportPath))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Erase(ctx, "relais-x", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(exportPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unreadable export after an erasure: %v, want removed", err)
	}
}

// filesWith reports, per text, the files under dir that hold it.
func filesWith(t *testing.T, dir string, texts ...string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			if bytes.Contains(data, []byte(text)) {
				found[text] = append(found[text], e.Name())
			}
		}
	}
	return found
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
