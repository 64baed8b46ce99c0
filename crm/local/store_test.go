package local_test

import (
	"bytes"
	"context"
	"encoding/csv"
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
