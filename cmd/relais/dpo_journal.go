package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/relais-bot/relais/crm/local"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/journal"
)

// journalBroken is a journal whose chain does not verify: exit 1, naming each problem.
type journalBroken struct{ problems []journal.Problem }

func (e journalBroken) Error() string {
	s := make([]string, len(e.problems))
	for i, p := range e.problems {
		s[i] = p.String()
	}
	return fmt.Sprintf("access journal: chain broken (%d problems): %s", len(e.problems), strings.Join(s, "; "))
}

// cmdDPOJournal exports the access journal and verifies its chain. It works against
// NATS_URL, or on the embedded data directory while relais is stopped.
func cmdDPOJournal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dpo journal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment")
	verify := fs.Bool("verify", false, "verify the hash chain; exit 1 naming each problem when it is broken")
	since := fs.Duration("since", 0, "export only the entries of this last while (e.g. 720h); 0: all")
	format := fs.String("format", "jsonl", "jsonl (one entry per line) or md (a Markdown table)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *format != "jsonl" && *format != "md" {
		return usageError{"dpo journal: --format: want jsonl or md"}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	j, closeRuntime, err := openJournalOnly(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeRuntime()
	log, problems, err := j.Verify(ctx)
	if err != nil {
		return err
	}
	from := time.Time{}
	if *since > 0 {
		from = time.Now().Add(-*since)
	}
	entries := log.Since(from)
	if err := writeJournal(stdout, *format, entries); err != nil {
		return err
	}
	// Reading the journal is a read of it too: tokens, but tokens of people.
	if err := j.Append(ctx, journal.Entry{Role: journal.RoleOperator, What: "dpo-journal"}); err != nil {
		return err
	}
	if *verify {
		if len(problems) > 0 {
			return journalBroken{problems}
		}
		fmt.Fprintf(stderr, "access journal: %d entries kept, chain intact\n", len(log.Entries))
	}
	return nil
}

func writeJournal(w io.Writer, format string, entries []journal.Entry) error {
	if format == "jsonl" {
		enc := json.NewEncoder(w)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := fmt.Fprintln(w, "| # | when (UTC) | who | role | what | members |\n|---|---|---|---|---|---|"); err != nil {
		return err
	}
	for _, e := range entries {
		who := e.Who
		if who == "" {
			who = "-"
		}
		if _, err := fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s |\n", e.Seq, e.At.UTC().Format(time.DateTime), who, e.Role, e.What, strings.Join(e.Members, " ")); err != nil {
			return err
		}
	}
	return nil
}

// openJournal opens the access journal with the deployment's retention and replicas.
// openJournalOnly opens the access journal for a command that needs nothing else of the
// runtime (relais dpo journal, relais export); closeRuntime closes what it opened.
func openJournalOnly(ctx context.Context, cfg Config) (j *journal.Journal, closeRuntime func(), err error) {
	rt, err := openRuntime(ctx, cfg, newLogger("warn"), false)
	if err != nil {
		return nil, nil, err
	}
	if j, err = rt.openJournal(ctx); err != nil {
		rt.Close()
		return nil, nil, err
	}
	return j, rt.Close, nil
}

func (rt *runtime) openJournal(ctx context.Context) (*journal.Journal, error) {
	return journal.Open(ctx, rt.js, rt.names, journal.Config{Days: rt.cfg.JournalDays, Replicas: rt.limits.Replicas, ReplicasGuessed: rt.limits.ReplicasGuessed})
}

// journalExport appends relais export to the access journal, naming every contact exported
// by token. It needs NATS_URL: with the embedded server the journal lives in the store of a
// relais that may be running, which no second process may open; the export then says on
// stderr that it is not journaled.
func journalExport(ctx context.Context, cfg Config, externalIDs []string, stderr io.Writer) error {
	if cfg.NATSURL == "" {
		fmt.Fprintln(stderr, "relais export: not recorded in the access journal (embedded NATS: set NATS_URL to record exports)")
		return nil
	}
	j, closeRuntime, err := openJournalOnly(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeRuntime()
	members := make([]string, 0, len(externalIDs))
	for _, id := range externalIDs {
		members = append(members, strings.TrimPrefix(id, events.ExternalID("")))
	}
	return j.Append(ctx, journal.Entry{Role: journal.RoleOperator, What: "export", Members: members})
}

// journalExportOf journals the export of the local CRM about to be written.
func journalExportOf(ctx context.Context, cfg Config, stderr io.Writer) error {
	db := localCRMPath(cfg.DataDir)
	if _, err := os.Stat(db); err != nil {
		return nil // nothing to export: exportLocalCRM says so
	}
	store, err := local.Open(ctx, db)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	contacts, err := store.Contacts(ctx)
	store.Close()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	ids := make([]string, len(contacts))
	for i, c := range contacts {
		ids[i] = c.ExternalID
	}
	return journalExport(ctx, cfg, ids, stderr)
}
