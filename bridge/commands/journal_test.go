package commands_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
	"github.com/relais-bot/relais/journal"
)

func withJournal() rigOption { return func(_ *commands.Config, d *rigDeps) { d.journal = true } }

func openTestJournal(t *testing.T, env *eventstest.Env, now func() time.Time) *journal.Journal {
	t.Helper()
	j, err := journal.Open(t.Context(), env.JS, env.Names, journal.Config{Days: 365, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.JS.DeleteStream(ctx, env.Names.JournalStream())
	})
	return j
}

// journalEntries reads the journal the handler writes, checking its chain.
func journalEntries(t *testing.T, r *rig) []journal.Entry {
	t.Helper()
	j := openTestJournal(t, r.env, func() time.Time { return r.now })
	log, problems, err := j.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("journal chain: %v", problems)
	}
	return log.Since(time.Time{})
}

// journalBytes is every byte the journal stream holds, as a DPO would dump it.
func journalBytes(t *testing.T, r *rig) string {
	t.Helper()
	s, err := r.env.JS.Stream(t.Context(), r.env.Names.JournalStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			continue
		}
		b.Write(m.Data)
		for k, v := range m.Header {
			b.WriteString(k + strings.Join(v, ""))
		}
	}
	return b.String()
}

// TestJournalRecordsOrganiserReads: /fiche, /actifs and /journal are in the journal with the
// organiser's token and the tokens of the members named; a member's own /moi is not a read
// by an organiser and is not there. The journal holds no name, also after the member named
// asked for erasure: their token stays a token.
func TestJournalRecordsOrganiserReads(t *testing.T) {
	r := newRig(t, "fr", withJournal())
	ctx := context.Background()
	camille, dominique := r.member(events.Telegram, tgMember), r.member(events.WhatsApp, waMember)
	odile := r.member(events.Telegram, tgOrganiser)

	card := privateText(r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "fiche", "Camille Martin")))
	if !strings.Contains(card, tgMember.Name) {
		t.Fatalf("/fiche answered %q", card)
	}
	r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "actifs"))
	r.handle(r.cmd(events.Telegram, tgMember, nil, "moi"))
	answer := privateText(r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "journal")))
	if !strings.Contains(answer, "Chaîne intacte") || !strings.Contains(answer, odile[:10]) {
		t.Errorf("/journal answered:\n%s", answer)
	}

	got := journalEntries(t, r)
	want := []struct {
		what    string
		members []string
	}{{"fiche", []string{camille}}, {"actifs", nil}, {"journal", nil}}
	if len(got) != len(want) {
		t.Fatalf("journal holds %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.What != w.what || e.Who != odile || e.Role != journal.RoleAdmin {
			t.Errorf("entry %d: %+v, want %s by %s", i, e, w.what, odile)
		}
		if w.members != nil && !slices.Equal(e.Members, w.members) {
			t.Errorf("entry %d names %v, want %v", i, e.Members, w.members)
		}
	}
	if actifs := got[1].Members; !slices.Contains(actifs, camille) || !slices.Contains(actifs, dominique) {
		t.Errorf("/actifs entry names %v, want both members listed", actifs)
	}

	// The erasure securely deletes replies naming the member: its replies are not read back.
	if err := r.h.Handle(ctx, r.cmd(events.Telegram, tgMember, nil, "oubli")); err != nil {
		t.Fatal(err)
	}
	raw := journalBytes(t, r)
	for _, name := range []string{tgMember.Name, tgMember.Username, waMember.Name, waMember.Phone, tgOrganiser.Name, tgOrganiser.ID, tgMember.ID} {
		if strings.Contains(raw, name) {
			t.Errorf("the journal holds %q", name)
		}
	}
	if !strings.Contains(raw, camille) {
		t.Error("the erased member's token is gone from the journal: the record of who read whom is incomplete")
	}
	journalEntries(t, r) // still verifies after the erasure
}

// TestJournalRecordsCampaignReport: /campagne names the members who answered "Je relaie":
// the journal says so, by token.
func TestJournalRecordsCampaignReport(t *testing.T) {
	r := newRig(t, "fr", withJournal())
	ctx := context.Background()
	leader := r.member(events.WhatsApp, waMember)
	aud := &fakeAudience{groups: []string{"g-all"}, cands: []bridge.Candidate{
		{Token: leader, Platform: events.WhatsApp, PlatformID: waMember.ID, Reach: bridge.ReachNow}}}
	if err := r.h.EnableCampaigns(ctx, commands.CampaignConfig{MaxPerWeek: 2, Audience: aud}); err != nil {
		t.Fatal(err)
	}
	if err := r.store.Set(ctx, leader, consent.Record{Status: consent.StatusYes, At: r.now}); err != nil {
		t.Fatal(err)
	}
	oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "mobiliser", "leaders\nRéunion jeudi 19h")))
	confirmed := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "envoyer")))
	slug := ""
	for _, w := range strings.Fields(confirmed.Text) {
		if strings.HasPrefix(w, "reunion-jeudi-") {
			slug = w
		}
	}
	if slug == "" {
		t.Fatalf("confirmation %q", confirmed.Text)
	}
	// The member answered "Je relaie" (as the adapter's delivery and the answer path record it).
	kv, err := r.env.JS.KeyValue(ctx, r.env.Names.CampaignsBucket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, events.AnswerKey(slug, leader), []byte("relay")); err != nil {
		t.Fatal(err)
	}
	report := privateText(r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "campagne", slug)))
	if !strings.Contains(report, waMember.Name) {
		t.Fatalf("the report does not name the relayer:\n%s", report)
	}
	got := journalEntries(t, r)
	i := slices.IndexFunc(got, func(e journal.Entry) bool { return e.What == "campagne" })
	if i < 0 || !slices.Equal(got[i].Members, []string{leader}) || got[i].Who != r.member(events.WhatsApp, waOrganiser) {
		t.Fatalf("no campaign report naming the relayer in the journal: %+v", got)
	}
	if slices.ContainsFunc(got, func(e journal.Entry) bool { return e.What == "jerelaie" }) {
		t.Error("a member's answer is in the journal of organisers' reads")
	}
}

// TestMyFileHoldsOnlyMine: /moi fichier sends, privately, a JSON file of what relais holds
// about the member who asked (identity, groups, figures, tags, consent history, CRM state),
// and nothing of anyone else: the other member's name, phone and token are not in it.
func TestMyFileHoldsOnlyMine(t *testing.T) {
	r := newRig(t, "fr", withJournal())
	ctx := context.Background()
	camille, dominique := r.member(events.Telegram, tgMember), r.member(events.WhatsApp, waMember)
	r.handle(r.cmd(events.Telegram, tgMember, nil, "oui"))
	r.handle(r.cmd(events.WhatsApp, waMember, nil, "oui"))
	for _, tok := range []string{camille, dominique} {
		card, _, _ := r.q.Member(ctx, tok)
		c := events.ContactChange{V: events.Version, ID: "cc-" + tok, Member: tok, ExternalID: events.ExternalID(tok),
			Op: events.OpUpsert, Name: card.Name, Phone: card.Phone, Tags: card.Tags, At: r.now}
		if err := r.env.Pub.ContactChange(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// An organiser reads both: Camille's file says when, never who.
	r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "actifs"))

	rs := r.handle(r.cmd(events.Telegram, tgMember, tgGroup, "moi", events.FileArg))
	i := slices.IndexFunc(rs, func(rep events.Reply) bool { return rep.Attachment != nil })
	if i < 0 {
		t.Fatalf("no file among %d replies", len(rs))
	}
	doc := rs[i]
	if !doc.Private || doc.Chat != tgMember.ID || doc.Attachment.Mime != "application/json" {
		t.Fatalf("file sent to %s (private %v) as %s", doc.Chat, doc.Private, doc.Attachment.Mime)
	}
	raw := string(doc.Attachment.Data)
	var f map[string]any
	if err := json.Unmarshal(doc.Attachment.Data, &f); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for _, want := range []string{tgMember.Name, tgMember.Username, tgGroup.Title, "relais-leader", `"status": "yes"`, camille,
		`"crm_last_sent"`, `"read_by_organisers"`, `"what": "actifs"`, `"messages": 57`} {
		if !strings.Contains(raw, want) {
			t.Errorf("the file lacks %q", want)
		}
	}
	for _, other := range []string{waMember.Name, waMember.Phone, dominique, waGroup.Title, tgOrganiser.Name, r.member(events.Telegram, tgOrganiser), "Camille Bernard"} {
		if strings.Contains(raw, other) {
			t.Errorf("the file holds %q, someone else's", other)
		}
	}
	// Plain /moi still answers in text, without a file.
	if rs := r.handle(r.cmd(events.Telegram, tgMember, nil, "moi")); slices.ContainsFunc(rs, func(rep events.Reply) bool { return rep.Attachment != nil }) {
		t.Error("/moi without fichier sent a file")
	}
}

// TestJournalRecordsDigestsAndPages: the weekly digest sent to an organiser, and what a
// dashboard page reads through the handler (Top, JournalRead), are in the journal by tokens.
func TestJournalRecordsDigestsAndPages(t *testing.T) {
	checker := &fakeMembership{members: map[[2]string]bool{{tgGroup.ID, tgOrganiser.ID}: true}}
	r := newRig(t, "fr", withScopes(checker), withJournal())
	r.seedScoped()
	ctx := context.Background()
	kv, err := events.OrganiserBucket(ctx, r.env.JS, r.env.Names, r.env.Names.DigestBucket(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := commands.ParseSchedule("MON 09:00 Europe/Paris")
	if _, err := r.h.DigestTick(ctx, kv, sc, time.Date(2026, 3, 9, 8, 1, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	odile := r.member(events.Telegram, tgOrganiser)
	camille := r.member(events.Telegram, tgMember)
	who := r.h.Who(events.Telegram, tgOrganiser)
	scope, err := r.h.Scope(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	pageCtx, reads := journal.Collect(ctx)
	top, err := r.h.Top(pageCtx, scope, bridge.ByMessages, 10, func(bridge.MemberCard) bool { return true })
	if err != nil || len(top) == 0 {
		t.Fatalf("top: %v, %d", err, len(top))
	}
	if err := r.h.JournalRead(pageCtx, who, "page:overview", reads.Members()); err != nil {
		t.Fatal(err)
	}
	got := journalEntries(t, r)
	digest := slices.IndexFunc(got, func(e journal.Entry) bool { return e.What == "bilan-hebdo" && e.Who == odile })
	page := slices.IndexFunc(got, func(e journal.Entry) bool { return e.What == "page:overview" && e.Who == odile })
	if digest < 0 || page < 0 {
		t.Fatalf("journal: %+v", got)
	}
	if !slices.Contains(got[digest].Members, camille) || !slices.Contains(got[page].Members, camille) {
		t.Errorf("digest names %v, page names %v: want Camille's token in both", got[digest].Members, got[page].Members)
	}
	for _, e := range got {
		if slices.Contains(e.Members, r.member(events.Telegram, otherMember)) {
			t.Errorf("%s names a member outside the organiser's scope", e.What)
		}
	}
}
