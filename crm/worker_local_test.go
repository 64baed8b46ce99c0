package crm_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/local"
	"github.com/relais-bot/relais/events/eventstest"
)

// The default deployment: worker into the local store, then `relais export`.
func TestWorkerIntoLocalStoreAndExport(t *testing.T) {
	env := eventstest.New(t)
	store, err := local.Open(context.Background(), filepath.Join(t.TempDir(), "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	w, err := crm.NewWorker(crm.WorkerConfig{}, env.JS, env.Names, env.Pub, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	evil := change("l1", 1, []string{"relais-actif"}, false, "+33612345678")
	evil.FirstName = `=HYPERLINK("http://x.example","clic")`
	if err := env.Pub.ContactChange(context.Background(), evil); err != nil {
		t.Fatal(err)
	}
	if err := env.Pub.ContactChange(context.Background(), change("l2", 1, []string{"relais-leader"}, false, "")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := store.Contacts(context.Background())
		if err == nil && len(got) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("local store holds %d contacts (%v)", len(got), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var buf bytes.Buffer
	if err := store.Export(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("export: %d rows, %v", len(rows), err)
	}
	if rows[1][1] != `'=HYPERLINK("http://x.example","clic")` || rows[1][3] != "+33612345678" || rows[1][7] != "relais-actif" {
		t.Fatalf("row %q", rows[1])
	}
}
