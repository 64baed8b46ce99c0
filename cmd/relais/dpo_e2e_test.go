package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
)

// TestDPOMyFileAndJournal runs what a DPO checks on the real binary against a fake Telegram:
// a member's /moi fichier arrives privately as a file naming them and nobody else; the
// organiser's /fiche is in the access journal by tokens; relais dpo journal --verify, run on
// the stopped deployment's data directory, finds the chain intact and no name in it.
func TestDPOMyFileAndJournal(t *testing.T) {
	r := newDPORig(t, "notice")
	lea := tgtest.User{ID: 801, FirstName: "Léa", LastName: "Meneuse", Username: "lea_m"}
	bob := tgtest.User{ID: 802, FirstName: "Bob", LastName: "Canari", Username: "bob_canari"}
	p := r.start()
	first := r.bot.Text(r.group, lea, "Qui peut aider Mme Durand samedi ?")
	r.say(lea, "Je coordonne", "Merci à tous")
	r.bot.Reply(r.group, bob, first, "Moi !")
	r.say(bob, "Je suis dispo", "Jeudi aussi", "Super")
	r.quiet(p)
	if card := r.ask(p, "/fiche Meneuse"); !strings.Contains(card, "Léa Meneuse") {
		t.Fatalf("organiser's card of Léa: %q", card)
	}

	r.bot.Text(tgtest.Private(lea), lea, "/moi fichier")
	var doc tgtest.Document
	r.eventually(p, "Léa's file", func() bool {
		for _, d := range r.bot.Documents() {
			if d.ChatID == lea.ID {
				doc = d
				return true
			}
		}
		return false
	})
	file := string(doc.Bytes)
	for _, want := range []string{"Meneuse", "lea_m", "Entraide Belleville", `"read_by_organisers"`, `"what": "fiche"`} {
		if !strings.Contains(file, want) {
			t.Errorf("Léa's file lacks %q:\n%s", want, file)
		}
	}
	bobToken := r.hasher.Member(events.Telegram, fmt.Sprint(bob.ID))
	for _, other := range []string{"Canari", "bob_canari", bobToken, "Odile", "odile_orga"} {
		if strings.Contains(file, other) {
			t.Errorf("Léa's file holds %q, someone else's", other)
		}
	}
	r.stop(p)

	cmd := exec.Command(r.bin, "dpo", "journal", "--verify")
	cmd.Dir = t.TempDir()
	cmd.Env = embeddedEnv(r.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("relais dpo journal --verify: %v\n%s", err, errb.String())
	}
	leaToken := r.hasher.Member(events.Telegram, fmt.Sprint(lea.ID))
	odile := r.hasher.Member(events.Telegram, fmt.Sprint(r.organiser.ID))
	if !strings.Contains(errb.String(), "chain intact") || !strings.Contains(out.String(), `"what":"fiche"`) ||
		!strings.Contains(out.String(), leaToken) || !strings.Contains(out.String(), odile) {
		t.Fatalf("journal export:\n%s\n%s", out.String(), errb.String())
	}
	for _, name := range []string{"Meneuse", "Canari", "Odile", "lea_m"} {
		if strings.Contains(out.String(), name) {
			t.Errorf("the journal holds %q", name)
		}
	}
}
