package commands_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

var langs = []string{"fr", "en"}

// aliases per language: the name a French or an English speaker types.
var aliases = map[string]map[string]string{
	"fr": {"help": "aide", "yes": "oui", "stop": "stop", "forget": "oubli", "me": "moi", "privacy": "confidentialite",
		"stats": "stats", "active": "actifs", "leaders": "relais", "card": "fiche", "sync": "sync"},
	"en": {"help": "help", "yes": "consent", "stop": "stop", "forget": "forget", "me": "mydata", "privacy": "privacy",
		"stats": "stats", "active": "active", "leaders": "leaders", "card": "card", "sync": "sync"},
}

func oneReply(t *testing.T, rs []events.Reply) events.Reply {
	t.Helper()
	if len(rs) != 1 {
		t.Fatalf("got %d replies, want 1: %+v", len(rs), rs)
	}
	return rs[0]
}

func TestHelpAndUnknown(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang)
			orgHelp := "\n/" + aliases[lang]["leaders"] + " [n]"
			tests := []struct {
				name      string
				ev        events.Event
				organiser bool
				unknown   bool
			}{
				{"member in group", r.cmd(events.Telegram, tgMember, tgGroup, aliases[lang]["help"]), false, false},
				{"member private, other language alias", r.cmd(events.WhatsApp, waMember, nil, aliases[other(lang)]["help"]), false, false},
				{"telegram start", r.cmd(events.Telegram, tgMember, nil, "start"), false, false},
				{"organiser", r.cmd(events.Telegram, tgOrganiser, tgGroup, aliases[lang]["help"]), true, false},
				{"unknown command", r.cmd(events.Telegram, tgMember, tgGroup, "bidule", "x"), false, true},
				{"unknown command, organiser", r.cmd(events.WhatsApp, waOrganiser, nil, "frobnicate"), true, true},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					rep := oneReply(t, r.handle(tt.ev))
					wantChat := tt.ev.Sender.ID
					if tt.ev.Group != nil {
						wantChat = tt.ev.Group.ID
					}
					if rep.Chat != wantChat || rep.Platform != tt.ev.Platform {
						t.Errorf("answered in %s/%s, want %s/%s", rep.Platform, rep.Chat, tt.ev.Platform, wantChat)
					}
					if !strings.Contains(rep.Text, "Parti Test") || !strings.Contains(rep.Text, "/"+aliases[lang]["yes"]) {
						t.Errorf("help text lacks controller or commands: %q", rep.Text)
					}
					if got := strings.Contains(rep.Text, orgHelp); got != tt.organiser {
						t.Errorf("organiser help shown: %v, want %v", got, tt.organiser)
					}
					if got := strings.HasPrefix(rep.Text, r.cat.Unknown); got != tt.unknown {
						t.Errorf("unknown-command prefix: %v, want %v", got, tt.unknown)
					}
				})
			}
		})
	}
}

func other(lang string) string {
	if lang == "fr" {
		return "en"
	}
	return "fr"
}

func TestYes(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang)
			ctx := context.Background()

			// Telegram, in a group: the answer and the share-my-phone button go privately.
			ev := r.cmd(events.Telegram, tgMember, tgGroup, aliases[lang]["yes"])
			rs := r.handle(ev)
			if len(rs) != 2 {
				t.Fatalf("got %d replies, want private answer and group note", len(rs))
			}
			priv, note := rs[0], rs[1]
			if !priv.Private || priv.Chat != tgMember.ID || !priv.AskPhone {
				t.Errorf("private answer %+v: want private to the member with the phone button", priv)
			}
			if priv.FallbackChat != tgGroup.ID || !strings.Contains(priv.FallbackText, "@relais_test_bot") {
				t.Errorf("fallback %q / %q: want the group and how to start the bot", priv.FallbackChat, priv.FallbackText)
			}
			if !strings.Contains(priv.Text, "Parti Test") || !strings.Contains(priv.Text, r.cat.YesAskPhone) {
				t.Errorf("answer %q", priv.Text)
			}
			if note.Chat != tgGroup.ID || note.Private || note.Text != r.cat.AnsweredPrivately {
				t.Errorf("group note %+v", note)
			}
			m := r.member(events.Telegram, tgMember)
			rec, found, err := r.store.Get(ctx, m)
			if err != nil || !found || rec.Status != consent.StatusYes || rec.Channel != events.Telegram ||
				rec.NoticeVersion != commands.NoticeVersion || !rec.At.Equal(ev.At) {
				t.Errorf("consent record %+v, found %v, err %v", rec, found, err)
			}
			if d, _ := r.store.Decide(ctx, m, ""); !d.OptedIn {
				t.Error("not opted in")
			}
			if len(r.ops.resyncs) != 1 || r.ops.resyncs[0] != m {
				t.Errorf("resyncs %v, want the member once", r.ops.resyncs)
			}

			// WhatsApp, private: a plain confirmation where they asked.
			rep := oneReply(t, r.handle(r.cmd(events.WhatsApp, waMember, nil, aliases[lang]["yes"])))
			if rep.Chat != waMember.ID || !rep.Private || rep.AskPhone || rep.FallbackChat != "" {
				t.Errorf("whatsapp answer %+v", rep)
			}
		})
	}
}

func TestSharedPhone(t *testing.T) {
	r := newRig(t, "fr")
	ctx := context.Background()
	m := r.member(events.Telegram, tgMember)
	r.handle(r.cmd(events.Telegram, tgMember, nil, "oui"))

	shared := tgMember
	shared.Phone = "+33 6 33 33 33 33"
	ev := r.event(events.Telegram, shared, nil, events.KindConsent, "")
	if err := r.h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	rep := oneReply(t, r.replies())
	if rep.Text != r.cat.PhoneSaved || !rep.Private || rep.Chat != tgMember.ID {
		t.Errorf("reply %+v", rep)
	}
	rec, _, _ := r.store.Get(ctx, m)
	if rec.Phone != "+33633333333" || rec.Status != consent.StatusYes {
		t.Errorf("record %+v: want yes with the normalised phone", rec)
	}
	// Saying yes again keeps the number.
	r.handle(r.cmd(events.Telegram, tgMember, nil, "oui"))
	if rec, _, _ := r.store.Get(ctx, m); rec.Phone != "+33633333333" {
		t.Errorf("phone lost on a second yes: %+v", rec)
	}
	if len(r.ops.resyncs) != 3 {
		t.Errorf("resyncs %d, want 3", len(r.ops.resyncs))
	}

	bad := tgMember
	bad.Phone = "06 33 33"
	err := r.h.Handle(ctx, r.event(events.Telegram, bad, nil, events.KindConsent, ""))
	if err == nil || !events.IsPermanent(err) {
		t.Errorf("bad phone: err %v, want permanent", err)
	}
	if err := r.h.Handle(ctx, r.event(events.Telegram, tgMember, nil, events.KindConsent, "")); err != nil {
		t.Errorf("consent without phone: %v", err)
	}
	if rs := r.replies(); len(rs) != 0 {
		t.Errorf("replies to bad consent events: %+v", rs)
	}
}

func TestStop(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang, withPolicy(consent.PolicyNotice))
			ctx := context.Background()
			m := r.member(events.WhatsApp, waMember)
			// The bridge had put the member in the CRM.
			synced := events.ContactChange{V: events.Version, ID: "cc-" + m + "-1", Member: m, ExternalID: events.ExternalID(m),
				Op: events.OpUpsert, Name: waMember.Name, Phone: waMember.Phone,
				Tags: []string{"relais-actif", "relais-groupe-marseille"}, RemoveTags: []string{"relais-nouveau"}, At: day0}
			if err := r.env.Pub.ContactChange(ctx, synced); err != nil {
				t.Fatal(err)
			}
			r.handle(r.cmd(events.WhatsApp, waMember, waGroup, aliases[lang]["yes"]))
			ev := r.cmd(events.WhatsApp, waMember, waGroup, aliases[lang]["stop"])
			rep := oneReply(t, r.handle(ev))
			if rep.Chat != waGroup.ID || rep.Text != r.cat.Stopped {
				t.Errorf("reply %+v", rep)
			}
			d, err := r.store.Decide(ctx, m, r.env.Hasher.Group(events.WhatsApp, waGroup.ID))
			if err != nil || !d.Suppressed || d.OptedIn {
				t.Errorf("after stop: %+v, %v", d, err)
			}
			if rec, _, _ := r.store.Get(ctx, m); rec.Phone != "" {
				t.Errorf("phone kept after stop: %+v", rec)
			}
			got, found, err := r.env.Pub.LastContactChange(ctx, m)
			if err != nil || !found {
				t.Fatalf("contact change: found %v, err %v", found, err)
			}
			want := []string{"relais-actif", "relais-groupe-marseille", "relais-nouveau"}
			if got.Op != events.OpUpsert || !got.DoNotContact || !slices.Equal(got.Tags, []string{"relais-stop"}) ||
				!slices.Equal(got.RemoveTags, want) || got.Name != waMember.Name {
				t.Errorf("stop contact change %+v", got)
			}
			// A redelivered /stop changes nothing more.
			before := r.env.StreamMsgs(t, r.env.Names.CRMStream())
			seqBefore := lastCRMSeq(t, r, m)
			if err := r.h.Handle(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if lastCRMSeq(t, r, m) != seqBefore || r.env.StreamMsgs(t, r.env.Names.CRMStream()) != before {
				t.Error("redelivered stop published again")
			}
			// Someone relais never put in the CRM is not added to it to be marked.
			r.handle(r.cmd(events.Telegram, tgMember, nil, "stop"))
			if _, found, _ := r.env.Pub.LastContactChange(ctx, r.member(events.Telegram, tgMember)); found {
				t.Error("objector never synced got a contact")
			}
		})
	}
}

func lastCRMSeq(t *testing.T, r *rig, member string) uint64 {
	t.Helper()
	s, err := r.env.JS.Stream(context.Background(), r.env.Names.CRMStream())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), r.env.Names.CRMSubject(member))
	if err != nil {
		t.Fatal(err)
	}
	return m.Sequence
}

func TestForget(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang)
			ctx := context.Background()
			m := r.member(events.Telegram, tgMember)
			// Their activity, and someone else's, in the event log.
			for i, from := range []events.Member{tgMember, tgMember, tgOrganiser} {
				ev := r.event(events.Telegram, from, tgGroup, events.KindMessage, "")
				ev.Chars = 10 + i
				if _, err := r.env.Pub.Event(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			r.handle(r.cmd(events.Telegram, tgMember, nil, aliases[lang]["yes"]))
			// Two steps: the request is recorded (answered where it was asked), then, as the CRM
			// never held this member, the erasure is complete at once (answered privately).
			reps := r.handle(r.cmd(events.Telegram, tgMember, tgGroup, aliases[lang]["forget"]))
			if len(reps) != 2 {
				t.Fatalf("got %d replies, want the request and the completion: %+v", len(reps), reps)
			}
			if reps[0].Chat != tgGroup.ID || reps[0].Text != r.cat.ForgetRequested {
				t.Errorf("first reply %+v, want the request recorded in the group", reps[0])
			}
			if reps[1].Chat != tgMember.ID || !reps[1].Private || reps[1].Text != r.cat.Forgotten {
				t.Errorf("second reply %+v, want the completion in private", reps[1])
			}
			if len(r.ops.contacts) != 0 {
				t.Errorf("asked the CRM to erase %v: relais never put them there", r.ops.contacts)
			}
			if len(r.ops.erased) != 1 || r.ops.erased[0] != m {
				t.Errorf("erased %v, want the member", r.ops.erased)
			}
			rec, found, _ := r.store.Get(ctx, m)
			if !found || rec.Status != consent.StatusErased || rec.Phone != "" {
				t.Errorf("record %+v, found %v", rec, found)
			}
			s, err := r.env.JS.Stream(ctx, r.env.Names.EventsStream())
			if err != nil {
				t.Fatal(err)
			}
			mine, err := s.Info(ctx, jetstream.WithSubjectFilter(r.env.Names.MemberEventsFilter(m)))
			if err != nil {
				t.Fatal(err)
			}
			if len(mine.State.Subjects) != 0 {
				t.Errorf("member's events left: %v", mine.State.Subjects)
			}
			// The other member's message, and the member's two group messages as anonymous
			// counts (a pseudonym, no name, no reference), so the group keeps its figures.
			if got := r.env.StreamMsgs(t, r.env.Names.EventsStream()); got != 3 {
				t.Errorf("event log holds %d messages, want the other member's and 2 anonymous copies", got)
			}
			var left []string
			for seq := uint64(1); seq < 100; seq++ {
				raw, err := s.GetMsg(ctx, seq)
				if err != nil {
					continue
				}
				left = append(left, string(raw.Data))
			}
			for _, data := range left {
				if strings.Contains(data, tgMember.ID) || strings.Contains(data, tgMember.Name) {
					t.Errorf("the event log still names the member: %s", data)
				}
			}
		})
	}
}

func TestMe(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang)
			r.handle(r.cmd(events.Telegram, tgMember, nil, aliases[lang]["yes"]))

			rs := r.handle(r.cmd(events.Telegram, tgMember, tgGroup, aliases[lang]["me"]))
			if len(rs) != 2 {
				t.Fatalf("got %d replies, want private answer and group note", len(rs))
			}
			priv, note := rs[0], rs[1]
			if !priv.Private || priv.Chat != tgMember.ID || priv.FallbackChat != tgGroup.ID {
				t.Errorf("answer not private: %+v", priv)
			}
			for _, want := range []string{tgMember.Name, "@" + tgMember.Username, "57", tgGroup.Title, "relais-leader",
				r.cat.LabelConsent, day0.Format(r.cat.DateLayout)} {
				if !strings.Contains(priv.Text, want) {
					t.Errorf("answer lacks %q:\n%s", want, priv.Text)
				}
			}
			if note.Text != r.cat.AnsweredPrivately || strings.Contains(note.Text, tgMember.Name) {
				t.Errorf("group note %+v", note)
			}

			// Someone relais knows nothing about is told so.
			stranger := events.Member{ID: "3003", Name: "Nobody Known"}
			rep := oneReply(t, r.handle(r.cmd(events.Telegram, stranger, nil, aliases[lang]["me"])))
			if !strings.Contains(rep.Text, r.cat.MyDataNothing) || !strings.Contains(rep.Text, r.cat.ConsentNone) {
				t.Errorf("stranger answer %q", rep.Text)
			}
		})
	}
}

func TestPrivacyCommand(t *testing.T) {
	for _, lang := range langs {
		r := newRig(t, lang, withPolicy(consent.PolicyNotice))
		rep := oneReply(t, r.handle(r.cmd(events.WhatsApp, waMember, waGroup, aliases[lang]["privacy"])))
		for _, want := range []string{"Parti Test", "90", "30", "CNIL", r.cat.NoticeNotice} {
			if !strings.Contains(rep.Text, want) {
				t.Errorf("%s: notice lacks %q", lang, want)
			}
		}
	}
}

// organiserCases are the organiser commands and what their answer must hold.
func organiserCases(lang string) []struct {
	name  string
	cmd   string
	args  []string
	want  []string
	wantN int // n the query saw, for lists
} {
	a := aliases[lang]
	return []struct {
		name  string
		cmd   string
		args  []string
		want  []string
		wantN int
	}{
		{"stats of this group", a["stats"], nil, []string{tgGroup.Title, "42", "17", "▁▂▃▃▄▆█▆▄▃▃▂▂▁"}, 0},
		{"stats by name", a["stats"], []string{"marseille"}, []string{waGroup.Title, "▁▁▁"}, 0},
		{"stats no match", a["stats"], []string{"Brest"}, []string{"Brest"}, 0},
		{"active", a["active"], []string{"2"}, []string{"1. " + tgMember.Name, "57", "2. " + waMember.Name}, 2},
		{"active bad n", a["active"], []string{"beaucoup"}, []string{tgMember.Name}, 10},
		{"active n capped", a["active"], []string{"5000"}, []string{tgMember.Name}, 50},
		{"leaders", a["leaders"], nil, []string{"1. " + tgMember.Name + " (@camille_m)", "8"}, 10},
		{"card by name", a["card"], []string{"Camille", "Martin"}, []string{tgMember.Name, "57", "relais-actif"}, 0},
		{"card by username", a["card"], []string{"@camille_m"}, []string{tgMember.Name}, 0},
		{"card with phone", a["card"], []string{"Dominique"}, []string{waMember.Name, waMember.Phone, "WhatsApp"}, 0},
		{"card ambiguous", a["card"], []string{"camille"}, []string{r0(lang).ManyMembers, "Camille Bernard", tgMember.Name}, 0},
		{"card unknown", a["card"], []string{"Zoé"}, []string{"Zoé"}, 0},
		{"card without name", a["card"], nil, []string{r0(lang).CardUsage}, 0},
		{"sync", a["sync"], nil, []string{"3", "503 service unavailable", "09:20", "08:30"}, 0},
	}
}

func r0(lang string) commands.Catalogue {
	c, _ := commands.CatalogueFor(lang)
	return c
}

func TestOrganiserCommands(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang)
			for _, tt := range organiserCases(lang) {
				t.Run(tt.name, func(t *testing.T) {
					r.now = r.now.Add(time.Hour) // stay clear of the rate limit
					rs := withoutCharts(r.handle(r.cmd(events.Telegram, tgOrganiser, tgGroup, tt.cmd, tt.args...)))
					if len(rs) != 2 {
						t.Fatalf("got %d replies, want private answer and group note", len(rs))
					}
					priv, note := rs[0], rs[1]
					if !priv.Private || priv.Chat != tgOrganiser.ID {
						t.Errorf("answer not private to the organiser: %+v", priv)
					}
					if priv.FallbackChat != tgGroup.ID || priv.FallbackText == "" {
						t.Errorf("no fallback asking the organiser to start the bot: %+v", priv)
					}
					for _, want := range tt.want {
						if !strings.Contains(priv.Text, want) {
							t.Errorf("answer lacks %q:\n%s", want, priv.Text)
						}
					}
					if note.Chat != tgGroup.ID || note.Private || note.Text != r.cat.AnsweredPrivately {
						t.Errorf("group got %+v, want only the answered-privately note", note)
					}
					if tt.wantN != 0 && r.q.lastN != tt.wantN {
						t.Errorf("query asked for %d, want %d", r.q.lastN, tt.wantN)
					}
				})
			}
		})
	}
}

func TestOrganiserInPrivateAndOnWhatsApp(t *testing.T) {
	r := newRig(t, "fr")
	// Private chat: one answer, no group note, no fallback.
	rep := oneReply(t, withoutCharts(r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "stats"))))
	if !rep.Private || rep.Chat != tgOrganiser.ID || rep.FallbackChat != "" {
		t.Errorf("private answer %+v", rep)
	}
	if !strings.Contains(rep.Text, r.cat.StatsAll) || !strings.Contains(rep.Text, waGroup.Title) {
		t.Errorf("overview %q", rep.Text)
	}
	// A WhatsApp organiser known by phone JID alone; the answer goes to their private chat.
	rs := r.handle(r.cmd(events.WhatsApp, waOrganiser, waGroup, "actifs"))
	if len(rs) != 2 || !rs[0].Private || rs[0].Chat != waOrganiser.ID || rs[0].FallbackChat != "" ||
		rs[1].Chat != waGroup.ID || rs[1].Text != r.cat.AnsweredPrivately {
		t.Errorf("whatsapp organiser replies %+v", rs)
	}
	// Organiser by the phone WhatsApp gave, behind a LID.
	lidOrg := events.Member{ID: "555@lid", Phone: "+33611111111"}
	if rs := r.handle(r.cmd(events.WhatsApp, lidOrg, nil, "sync")); len(rs) != 1 || !strings.Contains(rs[0].Text, "503") {
		t.Errorf("organiser behind a LID: %+v", rs)
	}
}

func TestSyncUnavailable(t *testing.T) {
	r := newRig(t, "en", withoutSync())
	rep := oneReply(t, r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "sync")))
	if !strings.Contains(rep.Text, r.cat.SyncUnavailable) {
		t.Errorf("answer %q", rep.Text)
	}
}

func TestNonOrganisersAreRefused(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang)
			lidOnly := events.Member{ID: "33611111111@lid", Name: "Looks Like An Organiser"}
			for _, from := range []struct {
				p events.Platform
				m events.Member
				g *events.Group
			}{
				{events.Telegram, tgMember, tgGroup},
				{events.Telegram, tgMember, nil},
				{events.WhatsApp, waMember, waGroup},
				{events.WhatsApp, lidOnly, nil},
				// A Telegram user whose id is the WhatsApp organiser's phone digits.
				{events.Telegram, events.Member{ID: "33611111111"}, nil},
			} {
				for _, tt := range organiserCases(lang) {
					r.now = r.now.Add(time.Hour)
					rep := oneReply(t, r.handle(r.cmd(from.p, from.m, from.g, tt.cmd, tt.args...)))
					if rep.Text != r.cat.Refused {
						t.Errorf("%s from %s: %q, want the refusal", tt.cmd, from.m.ID, rep.Text)
					}
					wantChat := from.m.ID
					if from.g != nil {
						wantChat = from.g.ID
					}
					if rep.Chat != wantChat {
						t.Errorf("refusal sent to %s, want %s", rep.Chat, wantChat)
					}
				}
			}
			if n := r.q.callCount(); n != 0 {
				t.Errorf("refused commands read the bridge state %d times", n)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	r := newRig(t, "fr")
	for i := range 5 {
		if rs := r.handle(r.cmd(events.Telegram, tgMember, tgGroup, "aide")); len(rs) != 1 {
			t.Fatalf("command %d: %d replies", i+1, len(rs))
		}
	}
	if rep := oneReply(t, r.handle(r.cmd(events.Telegram, tgMember, tgGroup, "aide"))); rep.Text != r.cat.SlowDown {
		t.Errorf("6th command: %q, want the slow-down note", rep.Text)
	}
	// Every limited command is answered, none is dropped in silence, and none runs.
	for range 3 {
		if rep := oneReply(t, r.handle(r.cmd(events.Telegram, tgMember, tgGroup, "actifs"))); rep.Text != r.cat.SlowDown {
			t.Fatalf("over the limit: %q, want the slow-down note", rep.Text)
		}
	}
	if n := r.q.callCount(); n != 0 {
		t.Errorf("rate-limited commands read the bridge state %d times", n)
	}
	// A member's rights are never limited away: /moi, /oui, /stop and /oubli all run.
	for _, name := range []string{"moi", "oui", "stop", "oubli"} {
		if rs := r.handle(r.cmd(events.Telegram, tgMember, tgGroup, name)); len(rs) == 0 || rs[0].Text == r.cat.SlowDown {
			t.Errorf("/%s over the limit: %+v, want it done", name, rs)
		}
	}
	if len(r.ops.objected) != 1 || len(r.ops.erased) != 1 {
		t.Errorf("objected %v, erased %v: /stop and /oubli must run over the limit", r.ops.objected, r.ops.erased)
	}
	// Someone else is not affected.
	if rs := r.handle(r.cmd(events.Telegram, tgOrganiser, tgGroup, "aide")); len(rs) != 1 {
		t.Errorf("other member limited: %+v", rs)
	}
	// A minute later the member may talk again, and would be warned again.
	r.now = r.now.Add(time.Minute)
	if rep := oneReply(t, r.handle(r.cmd(events.Telegram, tgMember, tgGroup, "aide"))); rep.Text == r.cat.SlowDown {
		t.Error("still limited after a minute")
	}
}

func TestRedeliveredCommandAnswersOnce(t *testing.T) {
	r := newRig(t, "fr")
	ev := r.cmd(events.Telegram, tgOrganiser, tgGroup, "relais")
	if rs := r.handle(ev); len(rs) != 2 {
		t.Fatalf("first delivery: %d replies", len(rs))
	}
	if rs := r.handle(ev); len(rs) != 0 {
		t.Errorf("redelivery published again: %+v", rs)
	}
}

func TestNotice(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, "fr", withPolicy(consent.PolicyNotice))
	posted, err := r.h.PostNoticeOnce(ctx, events.WhatsApp, waGroup.ID)
	if err != nil || !posted {
		t.Fatalf("first notice: posted %v, err %v", posted, err)
	}
	rep := oneReply(t, r.replies())
	if rep.Chat != waGroup.ID || rep.Private {
		t.Errorf("notice sent to %+v", rep)
	}
	for _, want := range []string{"Parti Test", "/stop", "/moi", "/oubli", "CNIL", "90 jours", "contenu"} {
		if !strings.Contains(rep.Text, want) {
			t.Errorf("notice lacks %q:\n%s", want, rep.Text)
		}
	}
	if posted, err := r.h.PostNoticeOnce(ctx, events.WhatsApp, waGroup.ID); err != nil || posted {
		t.Errorf("second notice: posted %v, err %v", posted, err)
	}
	// A group overridden to opt-in gets no notice.
	if err := r.store.SetGroupPolicy(ctx, r.env.Hasher.Group(events.Telegram, tgGroup.ID), consent.PolicyOptIn); err != nil {
		t.Fatal(err)
	}
	if posted, err := r.h.PostNoticeOnce(ctx, events.Telegram, tgGroup.ID); err != nil || posted {
		t.Errorf("opt-in group: posted %v, err %v", posted, err)
	}
	if rs := r.replies(); len(rs) != 0 {
		t.Errorf("unexpected replies %+v", rs)
	}
	// Under opt-in nothing is posted by default.
	optIn := newRig(t, "en")
	if posted, err := optIn.h.PostNoticeOnce(ctx, events.Telegram, tgGroup.ID); err != nil || posted {
		t.Errorf("opt-in deployment: posted %v, err %v", posted, err)
	}
	if err := optIn.h.PostNotice(ctx, events.Telegram, tgGroup.ID); err != nil {
		t.Fatal(err)
	}
	if rep := oneReply(t, optIn.replies()); !strings.Contains(rep.Text, optIn.cat.NoticeOptIn) {
		t.Errorf("explicit notice %q", rep.Text)
	}
}

// TestLogsHoldNoPersonalData runs every command at debug level and greps the logs for the
// names, usernames, phones, platform ids and group titles involved.
func TestLogsHoldNoPersonalData(t *testing.T) {
	r := newRig(t, "fr", withPolicy(consent.PolicyNotice))
	ctx := context.Background()
	people := []struct {
		p events.Platform
		m events.Member
		g *events.Group
	}{
		{events.Telegram, tgOrganiser, tgGroup}, {events.WhatsApp, waOrganiser, waGroup},
		{events.Telegram, tgMember, tgGroup}, {events.WhatsApp, waMember, nil},
	}
	for _, who := range people {
		for _, name := range []string{"aide", "oui", "moi", "stats", "actifs", "relais", "fiche", "sync", "inconnue", "stop", "oubli"} {
			r.now = r.now.Add(time.Hour)
			args := []string{"Camille Martin"}
			if err := r.h.Handle(ctx, r.cmd(who.p, who.m, who.g, name, args...)); err != nil {
				t.Fatal(err)
			}
		}
		shared := who.m
		shared.Phone = "+33644444444"
		if err := r.h.Handle(ctx, r.event(who.p, shared, nil, events.KindConsent, "")); err != nil {
			t.Fatal(err)
		}
	}
	for range 8 { // rate limiting logs too
		_ = r.h.Handle(ctx, r.cmd(events.Telegram, tgMember, tgGroup, "aide"))
	}
	if _, err := r.h.PostNoticeOnce(ctx, events.WhatsApp, waGroup.ID); err != nil {
		t.Fatal(err)
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "member erased") {
		t.Fatalf("the run logged nothing useful:\n%s", logs)
	}
	secrets := []string{"+33644444444", "33644444444", "0644444444", "Camille", "Martin", "camille_m", "Dominique",
		"Odile", "odile_orga", "Oscar", waMember.Phone, "33622222222", "33611111111", "987654321", tgOrganiser.ID, tgMember.ID,
		tgGroup.ID, waGroup.ID, "Lyon", "Marseille", "inconnue"}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q", s)
		}
	}
}

func ExampleSparkline() {
	fmt.Println(commands.Sparkline([]int{0, 1, 2, 4, 8, 16, 32, 64}))
	// Output: ▁▂▂▂▂▃▅█
}

// /relais names only members who earned the leader tag: being answered by a few people does
// not make someone a relais.
func TestLeadersListsOnlyTaggedLeaders(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang)
			rs := r.handle(r.cmd(events.Telegram, tgOrganiser, nil, aliases[lang]["leaders"]))
			if len(rs) != 1 || !rs[0].Private {
				t.Fatalf("got %+v, want one private answer", rs)
			}
			if !strings.Contains(rs[0].Text, tgMember.Name) {
				t.Fatalf("the tagged leader is missing:\n%s", rs[0].Text)
			}
			if strings.Contains(rs[0].Text, waMember.Name) {
				t.Fatalf("a member without the leader tag (5 people) is listed:\n%s", rs[0].Text)
			}
		})
	}
}

// "!bravo" in a group is talk, not a command: no answer, and it does not use up the member's
// command allowance. The same unknown word with a slash, or in private, gets the help text.
func TestUnknownBangWordInGroupIsIgnored(t *testing.T) {
	r := newRig(t, "fr")
	for range 10 {
		ev := r.cmd(events.Telegram, tgMember, tgGroup, "bravo")
		ev.Command.Bang = true
		if rs := r.handle(ev); len(rs) != 0 {
			t.Fatalf("the bot answered %q in the group", rs[0].Text)
		}
	}
	rs := r.handle(r.cmd(events.Telegram, tgMember, tgGroup, "bravo"))
	if len(rs) != 1 || !strings.Contains(rs[0].Text, r.cat.Unknown) {
		t.Fatalf("/bravo in a group: got %+v, want the help text", rs)
	}
	ev := r.cmd(events.Telegram, tgMember, nil, "bravo")
	ev.Command.Bang = true
	if rs := r.handle(ev); len(rs) != 1 || !rs[0].Private {
		t.Fatalf("!bravo in private: got %+v, want the help text in private", rs)
	}
}

// withoutCharts drops the PNG /stats sends beside its text.
func withoutCharts(rs []events.Reply) []events.Reply {
	var out []events.Reply
	for _, r := range rs {
		if len(r.Photo) == 0 {
			out = append(out, r)
		}
	}
	return out
}
