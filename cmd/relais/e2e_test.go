package main

import (
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

// One message's way through every role: fake Telegram → adapter → NATS → bridge → Redis →
// RELAIS_CRM → worker → local CRM → relais export. Under the notice policy an active member
// reaches the CRM without /oui; someone who only said hello does not.
func TestRunEndToEnd(t *testing.T) {
	bin := buildRelais(t)
	bot := tgtest.New(t, tgtest.WithStart(time.Now().Add(-time.Hour)))
	group := tgtest.Supergroup(-100777, "Voisins du 11e")
	nadia := tgtest.User{ID: 501, FirstName: "Nadia", LastName: "Benali", Username: "nadia"}
	paul := tgtest.User{ID: 502, FirstName: "Paul", LastName: "Durand"}
	for _, text := range []string{"Bonjour !", "Je peux aider jeudi", "Et samedi aussi"} {
		bot.Text(group, nadia, text)
	}
	bot.Text(group, paul, "Salut")

	dataDir := t.TempDir()
	env := []string{
		"RELAIS_DATA_DIR=" + dataDir, "RELAIS_SYNC_POLICY=notice",
		"RELAIS_ACTIVE_MIN_MESSAGES=3", "RELAIS_ACTIVE_MIN_DAYS=1",
		"TELEGRAM_TOKEN=" + bot.Token(), "TELEGRAM_API_ENDPOINT=" + bot.Endpoint(),
	}
	addr := freeAddr(t)
	p := startRelais(t, bin, append(env, "RELAIS_HTTP_ADDR="+addr), "run")
	waitReady(t, p, addr, 15*time.Second)

	var rows [][]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		export := exec.Command(bin, "export", "--out", "-")
		export.Dir = t.TempDir()
		export.Env = append(export.Environ(), "RELAIS_DATA_DIR="+dataDir)
		out, err := export.Output() // stderr says the export is not journaled on the embedded server
		if err == nil {
			if rows, err = csv.NewReader(strings.NewReader(string(out))).ReadAll(); err == nil && len(rows) >= 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no contact in the local CRM after 30s: %v\n%s\n%s", err, out, p.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Under the notice policy the group got the information notice, once.
	var notices int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && notices == 0; time.Sleep(100 * time.Millisecond) {
		notices = 0
		for _, m := range bot.Sent() {
			if m.ChatID == group.ID && strings.Contains(m.Text, "/stop") {
				notices++
			}
		}
	}
	stopRelais(t, p)
	if notices != 1 {
		t.Fatalf("the group got %d information notices, want 1: %+v", notices, bot.Sent())
	}
	header, body := rows[0], rows[1:]
	col := func(name string) int { return slices.Index(header, name) }
	if col("first_name") < 0 || col("tag_list") < 0 || col("external_id") < 0 {
		t.Fatalf("export header %v", header)
	}
	if len(body) != 1 || body[0][col("first_name")] != "Nadia" {
		t.Fatalf("want only Nadia in the CRM, got %v", body)
	}
	tags := body[0][col("tag_list")]
	for _, want := range []string{"relais-actif", "relais-groupe-voisins-du-11e"} {
		if !strings.Contains(tags, want) {
			t.Fatalf("tags %q lack %s", tags, want)
		}
	}
	if !strings.HasPrefix(body[0][col("external_id")], "relais-") {
		t.Fatalf("external id %q", body[0][col("external_id")])
	}
	if logs := p.Logs(); strings.Contains(logs, "Nadia") || strings.Contains(logs, "Benali") || strings.Contains(logs, "samedi") {
		t.Fatalf("personal data in the logs:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "crm.db")); err != nil {
		t.Fatal(err)
	}
}
