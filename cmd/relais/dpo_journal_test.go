package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/local"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
	"github.com/relais-bot/relais/journal"
)

// TestDPOJournalVerify: relais dpo journal exports the access journal and, with --verify,
// exits 0 on an intact chain and 1 once an entry was removed, naming where.
func TestDPOJournalVerify(t *testing.T) {
	env := eventstest.New(t)
	j, err := journal.Open(t.Context(), env.JS, env.Names, journal.Config{Days: 365})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.JS.DeleteStream(context.Background(), env.Names.JournalStream()) })
	for _, what := range []string{"fiche", "page:overview", "campagne"} {
		if err := j.Append(t.Context(), journal.Entry{Who: "tok-odile", Role: journal.RoleOrganiser, What: what, Members: []string{"tok-camille"}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(t.TempDir())
	t.Setenv("NATS_URL", env.URL)
	t.Setenv("RELAIS_NAMESPACE", strings.TrimSuffix(env.Names.EventsStream(), "_RELAIS_EVENTS"))
	t.Setenv("RELAIS_DATA_DIR", t.TempDir())
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runMain(t.Context(), append([]string{"dpo", "journal"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("--verify")
	if code != exitOK || !strings.Contains(errs, "chain intact") {
		t.Fatalf("intact journal: exit %d, %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("export: %d lines:\n%s", len(lines), out)
	}
	var e journal.Entry
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.What != "page:overview" || e.Members[0] != "tok-camille" {
		t.Fatalf("line 2: %v %+v", err, e)
	}
	if code, out, _ := run("--format", "md", "--since", "1h"); code != exitOK || !strings.Contains(out, "| 3 |") || !strings.Contains(out, "campagne") {
		t.Fatalf("markdown: exit %d\n%s", code, out)
	}

	s, err := env.JS.Stream(t.Context(), env.Names.JournalStream())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	code, _, errs = run("--verify")
	if code != exitFailure || !strings.Contains(errs, "entry 3") || !strings.Contains(errs, "chain broken") {
		t.Fatalf("entry 2 removed: exit %d, %s", code, errs)
	}
}

// TestExportIsJournaled: relais export against NATS_URL appends an "export" entry naming
// every exported contact by token, and no name.
func TestExportIsJournaled(t *testing.T) {
	env := eventstest.New(t)
	t.Cleanup(func() { _ = env.JS.DeleteStream(context.Background(), env.Names.JournalStream()) })
	dataDir := t.TempDir()
	store, err := local.Open(t.Context(), localCRMPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Upsert(t.Context(), crm.Contact{ExternalID: events.ExternalID("tokcamille"), Name: "Camille Exportée"}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	t.Chdir(t.TempDir())
	t.Setenv("NATS_URL", env.URL)
	t.Setenv("RELAIS_NAMESPACE", strings.TrimSuffix(env.Names.EventsStream(), "_RELAIS_EVENTS"))
	t.Setenv("RELAIS_DATA_DIR", dataDir)
	var out, errb bytes.Buffer
	if code := runMain(t.Context(), []string{"export", "--out", "-"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "Camille") {
		t.Fatalf("export: exit %d, %s\n%s", code, errb.String(), out.String())
	}
	j, err := journal.Open(t.Context(), env.JS, env.Names, journal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log, problems, err := j.Verify(t.Context())
	if err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", err, problems)
	}
	got := log.Since(time.Time{})
	if len(got) != 1 || got[0].What != "export" || got[0].Role != journal.RoleOperator || len(got[0].Members) != 1 || got[0].Members[0] != "tokcamille" {
		t.Fatalf("journal: %+v", got)
	}
}
