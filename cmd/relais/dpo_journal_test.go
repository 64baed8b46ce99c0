package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

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
