package events_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// disk is an embedded NATS whose file store the test reads byte for byte. It never uses
// NATS_URL: the point is to look at the files.
type disk struct {
	t     *testing.T
	dir   string
	od    *eventstest.Disk
	nc    *nats.Conn
	js    jetstream.JetStream
	names events.Names
	hash  events.Hasher
	pub   *events.Publisher
}

func newDisk(t *testing.T, l events.Limits) *disk {
	t.Helper()
	od := eventstest.OnDisk(t, l)
	return &disk{t: t, dir: od.Dir, od: od, nc: od.Conn, js: od.JS, names: od.Names, hash: od.Hasher, pub: od.Pub}
}

// shutdown stops the server and waits until its store is closed: every write is then in
// the files.
func (d *disk) shutdown() { d.od.Shutdown() }

func (d *disk) stream(name string) jetstream.Stream {
	d.t.Helper()
	s, err := d.js.Stream(context.Background(), name)
	if err != nil {
		d.t.Fatal(err)
	}
	return s
}

// findCanaries reads every file under dir and reports, per canary, the files holding it,
// whatever its case.
func findCanaries(t *testing.T, dir string, canaries ...string) map[string][]string {
	t.Helper()
	return eventstest.FilesHolding(t, dir, true, canaries...)
}

// waitCanaries waits until the store shows every canary: proof that the search sees the
// data before the erasure, so finding nothing after it means something.
func waitCanaries(t *testing.T, dir string, canaries ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := findCanaries(t, dir, canaries...)
		if len(found) == len(canaries) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("before the erasure the store shows only %v of %v", found, canaries)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The erased member and the words a data protection officer would grep the disk for.
const (
	xID       = "7001"
	xFirst    = "Philibertine"
	xLast     = "Zébulonne"
	xUsername = "Canari_Zorglub"
	xPhone    = "+33699887766"
)

var canaries = []string{xFirst, xLast, xUsername, xPhone}

var t0 = time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC)

func groupEvent(id string, kind events.Kind, sender events.Member, minute int) events.Event {
	return events.Event{
		V: events.Version, ID: id, Kind: kind, Platform: events.Telegram,
		At:     t0.Add(time.Duration(minute) * time.Minute),
		Group:  &events.Group{ID: "-1001234", Title: "Quartier Nord"},
		Sender: sender, Chars: 40,
	}
}

var (
	memberX = events.Member{ID: xID, Name: xFirst + " " + xLast, FirstName: xFirst, LastName: xLast, Username: xUsername}
	bob     = events.Member{ID: "7002", Name: "Bob Bernard", Username: "bob_b"}
	carol   = events.Member{ID: "7003", Name: "Carol Chen", Username: "carol_c"}
	dave    = events.Member{ID: "7004", Name: "Dave Dumas"}
	eve     = events.Member{ID: "7005", Name: "Eve Organisatrice", Username: "eve_orga"}
)

// conversation is a group where the erased member talks, replies, mentions and reacts, and
// where others reply to them, mention them and ask the bot about them.
func conversation() (xs, others []events.Event) {
	join := groupEvent("telegram:-1001234:join:7001:1", events.KindJoin, memberX, 0)
	join.Chars = 0
	plain := groupEvent("telegram:-1001234:20", events.KindMessage, memberX, 1)
	toBob := groupEvent("telegram:-1001234:21", events.KindMessage, memberX, 2)
	toBob.ReplyTo, toBob.Target = bob.ID, "10"
	mentions := groupEvent("telegram:-1001234:22", events.KindMessage, memberX, 3)
	mentions.Mentions = []string{carol.ID, "@" + strings.ToLower(xUsername), "@eve_orga"}
	reaction := groupEvent("telegram:-1001234:10:reaction:7001", events.KindReaction, memberX, 4)
	reaction.ReplyTo, reaction.Target, reaction.Chars = bob.ID, "10", 0
	self := groupEvent("telegram:-1001234:23", events.KindMessage, memberX, 5)
	self.ReplyTo, self.Target = xID, "20"
	me := events.Event{V: events.Version, ID: "telegram:dm:7001:5", Kind: events.KindCommand, Platform: events.Telegram,
		At: t0.Add(6 * time.Minute), Sender: memberX, Command: &events.Command{Name: "moi"}}
	xs = []events.Event{join, plain, toBob, mentions, reaction, self, me}

	bobReplies := groupEvent("telegram:-1001234:30", events.KindMessage, bob, 10)
	bobReplies.ReplyTo, bobReplies.Target = xID, "20"
	carolMentions := groupEvent("telegram:-1001234:31", events.KindMessage, carol, 11)
	carolMentions.Mentions = []string{"@" + strings.ToUpper(xUsername), bob.ID}
	daveReacts := groupEvent("telegram:-1001234:20:reaction:7004", events.KindReaction, dave, 12)
	daveReacts.ReplyTo, daveReacts.Target, daveReacts.Chars = xID, "20", 0
	fiche := groupEvent("telegram:-1001234:32", events.KindCommand, eve, 13)
	fiche.Command, fiche.Chars = &events.Command{Name: "fiche", Args: []string{"@" + xUsername}}, 0
	ficheDM := events.Event{V: events.Version, ID: "telegram:dm:7005:9", Kind: events.KindCommand, Platform: events.Telegram,
		At: t0.Add(14 * time.Minute), Sender: eve, Command: &events.Command{Name: "fiche", Args: []string{xFirst, xLast}}}
	bobPlain := groupEvent("telegram:-1001234:33", events.KindMessage, bob, 15)
	carolToBob := groupEvent("telegram:-1001234:34", events.KindMessage, carol, 16)
	carolToBob.ReplyTo = bob.ID
	others = []events.Event{bobReplies, carolMentions, daveReacts, fiche, ficheDM, bobPlain, carolToBob}
	return xs, others
}

func (d *disk) publishEvents(evs ...events.Event) {
	d.t.Helper()
	for _, e := range evs {
		if _, err := d.pub.Event(context.Background(), e); err != nil {
			d.t.Fatal(err)
		}
	}
}

// deadLetter stores payload as a dead letter of a message that was on subject.
func (d *disk) deadLetter(subject string, payload []byte) {
	d.t.Helper()
	m := nats.NewMsg(d.names.DLQSubject(subject))
	m.Data = payload
	m.Header.Set(events.HeaderReason, "test: rejected")
	m.Header.Set(jetstream.MsgIDHeader, "dlq-"+subject+"-"+fmt.Sprint(time.Now().UnixNano()))
	if _, err := d.js.PublishMsg(context.Background(), m); err != nil {
		d.t.Fatal(err)
	}
}

func mustEncode(t *testing.T, v interface{ Validate() error }) []byte {
	t.Helper()
	b, err := events.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (d *disk) contactChange(member string, seq int, c events.ContactChange) {
	d.t.Helper()
	c.V, c.ID, c.Member, c.ExternalID, c.Op, c.At = events.Version, fmt.Sprintf("cc-%s-%d", member, seq), member, events.ExternalID(member), events.OpUpsert, t0
	m, err := d.pub.ContactChangeMsg(c)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := events.SecureReplace(context.Background(), d.js, d.stream(d.names.CRMStream()), m); err != nil {
		d.t.Fatal(err)
	}
}

// storedEvent is an event with where it sits in the log.
type storedEvent struct {
	seq uint64
	ev  events.Event
}

func (d *disk) events() map[string][]storedEvent {
	d.t.Helper()
	out := map[string][]storedEvent{}
	s := d.stream(d.names.EventsStream())
	for seq := uint64(1); ; {
		m, err := s.GetMsg(context.Background(), seq, jetstream.WithGetMsgSubject(d.names.EventsFilter()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			d.t.Fatal(err)
		}
		ev, err := events.DecodeEvent(m.Data)
		if err != nil {
			d.t.Fatal(err)
		}
		out[ev.ID] = append(out[ev.ID], storedEvent{m.Sequence, ev})
		seq = m.Sequence + 1
	}
}

func (d *disk) msgs(stream string) uint64 {
	d.t.Helper()
	info, err := d.stream(stream).Info(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return info.State.Msgs
}

func erased(d *disk) events.ErasedMember {
	return events.ErasedMember{
		Token: d.hash.Member(events.Telegram, xID), Platform: events.Telegram, PlatformID: xID,
		Usernames: []string{"@" + xUsername}, Names: []string{xFirst + " " + xLast, xFirst, xLast},
		Pseudonym: "~k3v9q",
	}
}

// TestEraseMemberLeavesNothingOnDisk is the erasure as a data protection officer checks
// it: after EraseMember, no file of the NATS store holds the member's name, username or
// phone number, while what others earned from them survives under a pseudonym.
func TestEraseMemberLeavesNothingOnDisk(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t, events.Limits{})
	n := d.names
	xs, others := conversation()
	d.publishEvents(xs...)
	d.publishEvents(others...)
	who := erased(d)

	// Dead letters: one of the member's events, one of Bob's replying to them, an answer
	// naming them; and one that has nothing to do with them.
	d.deadLetter(d.pub.EventSubject(xs[1]), mustEncode(t, xs[1]))
	d.deadLetter(d.pub.EventSubject(others[0]), mustEncode(t, others[0]))
	d.deadLetter(n.ReplySubject(events.Telegram), mustEncode(t, events.Reply{V: 1, ID: "r-dl", Platform: events.Telegram,
		Chat: eve.ID, Private: true, Text: "Fiche : " + xFirst + " " + xLast}))
	d.deadLetter(d.pub.EventSubject(others[6]), mustEncode(t, others[6]))

	// Pending replies: the member's /moi answer, an organiser's list naming them, and a
	// group message naming no one.
	replies := []events.Reply{
		{ID: "r-moi", Chat: xID, Private: true, Text: "Ce que relais sait de vous : " + xFirst + " " + xLast + ", " + xPhone},
		{ID: "r-list", Chat: eve.ID, Private: true, Text: "Relais : @" + xUsername + " (12 messages), Bob Bernard (3)"},
		{ID: "r-group", Chat: "-1001234", Text: "Bienvenue à tous !"},
	}
	for _, r := range replies {
		r.V, r.Platform = events.Version, events.Telegram
		if err := d.pub.Reply(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	// Contact changes: the member's state changed once (names and phone in both), Bob's
	// is someone else's business.
	d.contactChange(who.Token, 1, events.ContactChange{FirstName: xFirst, LastName: xLast, Phone: xPhone,
		Handles: []events.Handle{{Platform: events.Telegram, ID: xID, Username: xUsername}}, Tags: []string{"relais-actif"}})
	d.contactChange(who.Token, 2, events.ContactChange{FirstName: xFirst, LastName: xLast, Phone: xPhone,
		Handles: []events.Handle{{Platform: events.Telegram, ID: xID, Username: xUsername}}, Tags: []string{"relais-actif", "relais-leader"}})
	bobToken := d.hash.Member(events.Telegram, bob.ID)
	d.contactChange(bobToken, 1, events.ContactChange{FirstName: "Bob", LastName: "Bernard", Tags: []string{"relais-actif"}})

	// Consent history: the member shared a phone number, then asked to be forgotten. The
	// bucket is made erasable, as it must be for the history to go.
	if err := d.js.DeleteKeyValue(ctx, n.ConsentBucket()); err != nil {
		t.Fatal(err)
	}
	consent, err := events.ErasableKeyValue(ctx, d.js, jetstream.KeyValueConfig{Bucket: n.ConsentBucket(), History: 16, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`{"status":"yes","phone":"` + xPhone + `"}`, `{"status":"erased"}`} {
		if _, err := consent.Put(ctx, who.Token, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := consent.Put(ctx, bobToken, []byte(`{"status":"yes"}`)); err != nil {
		t.Fatal(err)
	}

	waitCanaries(t, d.dir, canaries...)
	before := d.events()

	rep, err := events.EraseMember(ctx, d.js, d.pub, who)
	if err != nil {
		t.Fatal(err)
	}
	want := events.EraseReport{OwnEvents: 7, Anonymised: 4, Rewritten: 5, DeadLetters: 3, Replies: 2, ContactChanges: 1}
	if rep != want {
		t.Errorf("report %+v, want %+v", rep, want)
	}
	if err := events.SecureDropHistory(ctx, d.js, n.ConsentBucket(), who.Token); err != nil {
		t.Fatal(err)
	}

	// The member's group messages stay as anonymous counts, under the same event ids: the
	// pseudonym, no name, no length, no reference to anyone (an erasure withdraws the
	// member's credits to others, as the bridge does live).
	after := d.events()
	one := func(id string) events.Event {
		t.Helper()
		if len(after[id]) != 1 {
			t.Fatalf("event %s stored %d times after the erasure, want once", id, len(after[id]))
		}
		return after[id][0].ev
	}
	for _, x := range []events.Event{xs[1], xs[2], xs[3], xs[5]} {
		e := one(x.ID)
		if e.Sender != (events.Member{ID: who.Pseudonym}) || e.Chars != 0 || e.ReplyTo != "" || e.Target != "" || len(e.Mentions) != 0 {
			t.Errorf("message %s kept as %+v, want only the pseudonym in its group", x.ID, e)
		}
		if e.Group == nil || e.Group.ID != x.Group.ID || !e.At.Equal(x.At) {
			t.Errorf("message %s lost its group or time: %+v", x.ID, e)
		}
	}
	for _, x := range []events.Event{xs[0], xs[4], xs[6]} {
		if len(after[x.ID]) != 0 {
			t.Errorf("the member's %s event %s survived", x.Kind, x.ID)
		}
	}
	if e := one(others[0].ID); e.ReplyTo != "" || e.Target != "" || e.Sender != bob {
		t.Errorf("Bob's reply to the member: %+v, want the same without reply_to and target", e)
	}
	if e := one(others[1].ID); !slices.Equal(e.Mentions, []string{bob.ID}) {
		t.Errorf("Carol's mentions %v, want only Bob", e.Mentions)
	}
	if e := one(others[2].ID); e.ReplyTo != "" || e.Sender != dave {
		t.Errorf("Dave's reaction: %+v", e)
	}
	for _, o := range others[3:5] {
		if e := one(o.ID); e.Command == nil || e.Command.Name != "fiche" || len(e.Command.Args) != 0 {
			t.Errorf("organiser command %s kept %+v, want /fiche without its argument", o.ID, e.Command)
		}
	}
	for _, o := range others[5:] {
		if got := after[o.ID]; len(got) != 1 || got[0].seq != before[o.ID][0].seq {
			t.Errorf("%s was touched though it names no one erased", o.ID)
		}
	}
	for _, evs := range after {
		for _, e := range evs {
			if e.ev.Sender.ID == xID || e.ev.ReplyTo == xID || slices.Contains(e.ev.Mentions, xID) {
				t.Errorf("event %s still points at the member", e.ev.ID)
			}
		}
	}
	if n := d.msgs(n.RepliesStream()); n != 1 {
		t.Errorf("%d replies left, want only the group greeting", n)
	}
	if n := d.msgs(n.DLQStream()); n != 1 {
		t.Errorf("%d dead letters left, want only Carol's", n)
	}
	if _, err := d.stream(n.CRMStream()).GetLastMsgForSubject(ctx, n.CRMSubject(bobToken)); err != nil {
		t.Errorf("Bob's contact change: %v", err)
	}
	if e, err := consent.Get(ctx, who.Token); err != nil || string(e.Value()) != `{"status":"erased"}` {
		t.Errorf("consent after the erasure: %v", err)
	}

	// Running it again, as after a crash, changes nothing.
	counts := map[string]uint64{}
	for _, s := range []string{n.EventsStream(), n.DLQStream(), n.RepliesStream(), n.CRMStream()} {
		counts[s] = d.msgs(s)
	}
	again, err := events.EraseMember(ctx, d.js, d.pub, who)
	if err != nil || again != (events.EraseReport{}) {
		t.Errorf("second erasure: %+v, %v; want nothing to do", again, err)
	}
	for s, c := range counts {
		if got := d.msgs(s); got != c {
			t.Errorf("second erasure changed %s: %d messages, was %d", s, got, c)
		}
	}

	d.shutdown()
	if found := findCanaries(t, d.dir, canaries...); len(found) > 0 {
		t.Fatalf("after the erasure the store still holds %v", found)
	}
	// The pseudonym and the others are on disk: the search would have seen them.
	if found := findCanaries(t, d.dir, "Bob Bernard", who.Pseudonym); len(found) != 2 {
		t.Fatalf("the others' data is not on disk as expected: %v", found)
	}
}

// TestEraseMemberResumesAfterACrash: a first run died after publishing the copies and
// before deleting the originals, and the duplicate window has passed. The second run
// deletes the originals and publishes no second copy.
func TestEraseMemberResumesAfterACrash(t *testing.T) {
	ctx := context.Background()
	const window = 300 * time.Millisecond
	d := newDisk(t, events.Limits{Retention: 90 * 24 * time.Hour, Duplicates: window})
	xs, others := conversation()
	d.publishEvents(xs[2], others[0])
	who := erased(d)

	// What the crashed run had published: the anonymised credit and Bob's rewritten reply,
	// under the ids EraseMember gives them.
	anon := events.Event{V: 1, ID: xs[2].ID, Kind: xs[2].Kind, Platform: xs[2].Platform, At: xs[2].At, Group: xs[2].Group,
		Sender: events.Member{ID: who.Pseudonym}}
	rewritten := others[0]
	rewritten.ReplyTo, rewritten.Target = "", ""
	seqOf := d.events()[others[0].ID][0].seq
	anonSeq := d.events()[xs[2].ID][0].seq
	for _, c := range []struct {
		ev    events.Event
		msgID string
	}{{anon, anon.ID + "~anon-" + fmt.Sprint(anonSeq)}, {rewritten, rewritten.ID + "~rw-" + fmt.Sprint(seqOf)}} {
		m, err := d.pub.EventMsg(c.ev)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set(jetstream.MsgIDHeader, c.msgID)
		if _, err := d.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * window) // JetStream's own dedup would no longer catch a second copy

	rep, err := events.EraseMember(ctx, d.js, d.pub, who)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OwnEvents != 1 || rep.Rewritten != 1 {
		t.Errorf("report %+v", rep)
	}
	after := d.events()
	if got := after[xs[2].ID]; len(got) != 1 || got[0].ev.Sender.ID != who.Pseudonym {
		t.Errorf("credit stored as %+v, want one copy under the pseudonym", got)
	}
	if got := after[others[0].ID]; len(got) != 1 || got[0].ev.ReplyTo != "" {
		t.Errorf("Bob's reply stored as %+v, want one copy without the member", got)
	}
}

// TestEraseMemberMatchesWholeNames: a pending reply is deleted when it names the member as
// a word, whatever the case, and kept when the name is only part of another word.
func TestEraseMemberMatchesWholeNames(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	texts := map[string]bool{
		"merci LÉA !":               true,
		"Léandre a écrit":           false,
		"voir @lea_x demain":        true,
		"plea_x n'est pas un nom":   false,
		"Statistiques du groupe":    false,
		"Léa, Bob et 3 autres":      true,
		"un message pour Alléa":     false,
		"Bonjour à toi aussi, léa.": true,
	}
	i := 0
	for text := range texts {
		i++
		r := events.Reply{V: 1, ID: fmt.Sprintf("r%d", i), Platform: events.WhatsApp, Chat: "33600000000@s.whatsapp.net", Text: text}
		if err := env.Pub.Reply(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	who := events.ErasedMember{Token: env.Hasher.Member(events.WhatsApp, "12345@lid"), Platform: events.WhatsApp,
		PlatformID: "12345@lid", Usernames: []string{"lea_x"}, Names: []string{"Léa", "L"}, Pseudonym: "~p"}
	rep, err := events.EraseMember(ctx, env.JS, env.Pub, who)
	if err != nil {
		t.Fatal(err)
	}
	s, err := env.JS.Stream(ctx, env.Names.RepliesStream())
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(env.Names.RepliesFilter()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r, _ := events.DecodeReply(m.Data)
		kept[r.Text] = true
		seq = m.Sequence + 1
	}
	deleted := 0
	for text, names := range texts {
		if names == kept[text] {
			t.Errorf("%q: kept=%v, want deleted=%v", text, kept[text], names)
		}
		if names {
			deleted++
		}
	}
	if rep.Replies != deleted {
		t.Errorf("report counts %d replies, want %d", rep.Replies, deleted)
	}
}

func TestEraseMemberRefusesWildcards(t *testing.T) {
	env := eventstest.New(t)
	for _, who := range []events.ErasedMember{
		{Token: "*", Platform: events.Telegram, PlatformID: "1", Pseudonym: "~a"},
		{Token: "ab.cd", Platform: events.Telegram, PlatformID: "1", Pseudonym: "~a"},
		{Token: "abc", Platform: events.Telegram, PlatformID: "", Pseudonym: "~a"},
		{Token: "abc", Platform: events.Telegram, PlatformID: "1", Pseudonym: "a"},
	} {
		if _, err := events.EraseMember(context.Background(), env.JS, env.Pub, who); err == nil {
			t.Errorf("EraseMember(%+v) accepted", who)
		}
	}
}

// TestReplacedContactChangeBytes documents why contact changes go through SecureReplace:
// nats-server drops the message a MaxMsgsPerSubject stream replaces without overwriting it
// (removeMsgViaLimits), so its bytes stay in the block until a compaction that never comes
// for the last block.
func TestReplacedContactChangeBytes(t *testing.T) {
	ctx := context.Background()
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("secure=%v", secure), func(t *testing.T) {
			d := newDisk(t, events.Limits{})
			s := d.stream(d.names.CRMStream())
			for i, first := range []string{xFirst, "Autre"} {
				c := events.ContactChange{V: 1, ID: fmt.Sprintf("c%d", i), Member: "m", ExternalID: events.ExternalID("m"), Op: events.OpUpsert, FirstName: first, At: t0}
				m, err := d.pub.ContactChangeMsg(c)
				if err != nil {
					t.Fatal(err)
				}
				if secure {
					_, err = events.SecureReplace(ctx, d.js, s, m)
				} else {
					_, err = d.js.PublishMsg(ctx, m)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			// The same message again is a duplicate, not a delete.
			m, _ := d.pub.ContactChangeMsg(events.ContactChange{V: 1, ID: "c1", Member: "m", ExternalID: events.ExternalID("m"), Op: events.OpUpsert, FirstName: "Autre", At: t0})
			if ack, err := events.SecureReplace(ctx, d.js, s, m); err != nil || !ack.Duplicate {
				t.Fatalf("same id again: %+v %v, want a duplicate", ack, err)
			}
			if n := d.msgs(d.names.CRMStream()); n != 1 {
				t.Fatalf("%d changes kept, want 1", n)
			}
			d.shutdown()
			found := findCanaries(t, d.dir, xFirst)
			if secure && len(found) > 0 {
				t.Fatalf("SecureReplace left the replaced change on disk: %v", found)
			}
			if !secure && len(found) == 0 {
				t.Fatalf("nats-server now erases replaced messages: SecureReplace may be unneeded")
			}
		})
	}
}

// TestSecureKeyValue: a nats.go bucket denies message deletes for good; an erasable one
// lets SecureDropHistory and SecureDeleteKey overwrite old revisions.
func TestSecureKeyValue(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t, events.Limits{})
	n := d.names
	// Setup makes relais' own buckets erasable: a bucket nats.go creates is the case to test.
	if _, err := d.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.CRMRefsBucket() + "_GO"}); err != nil {
		t.Fatal(err)
	}
	if err := events.SecureDeleteKey(ctx, d.js, n.CRMRefsBucket()+"_GO", "k"); !errors.Is(err, events.ErrDeleteDenied) {
		t.Fatalf("SecureDeleteKey on a nats.go bucket: %v, want ErrDeleteDenied", err)
	}
	if _, err := events.ErasableKeyValue(ctx, d.js, jetstream.KeyValueConfig{Bucket: n.CRMRefsBucket() + "_GO"}); !errors.Is(err, events.ErrDeleteDenied) {
		t.Fatalf("ErasableKeyValue over a nats.go bucket: %v, want ErrDeleteDenied", err)
	}
	kv, err := events.ErasableKeyValue(ctx, d.js, jetstream.KeyValueConfig{Bucket: "ERASABLE", History: 8, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.ErasableKeyValue(ctx, d.js, jetstream.KeyValueConfig{Bucket: "ERASABLE", History: 8, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("ErasableKeyValue again: %v", err)
	}
	for _, v := range []string{"HISTORYCANARY1", "HISTORYCANARY2", "newest"} {
		if _, err := kv.Put(ctx, "a", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"KEYCANARY1", "KEYCANARY2"} {
		if _, err := kv.Put(ctx, "b", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := events.SecureDropHistory(ctx, d.js, "ERASABLE", "a"); err != nil {
		t.Fatal(err)
	}
	if err := events.SecureDeleteKey(ctx, d.js, "ERASABLE", "b"); err != nil {
		t.Fatal(err)
	}
	if err := events.SecureDeleteKey(ctx, d.js, "ERASABLE", "b"); err != nil {
		t.Fatalf("SecureDeleteKey again: %v", err)
	}
	if e, err := kv.Get(ctx, "a"); err != nil || string(e.Value()) != "newest" {
		t.Fatalf("newest revision of a: %v", err)
	}
	if h, err := kv.History(ctx, "a"); err != nil || len(h) != 1 {
		t.Fatalf("history of a: %d revisions, %v", len(h), err)
	}
	if _, err := kv.Get(ctx, "b"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("b after SecureDeleteKey: %v", err)
	}
	d.shutdown()
	if found := findCanaries(t, d.dir, "HISTORYCANARY", "KEYCANARY"); len(found) > 0 {
		t.Fatalf("old revisions on disk: %v", found)
	}
}

// flakyStream fails the first secure deletes, as a NATS hiccup would.
type flakyStream struct {
	jetstream.Stream
	fails int
}

func (f *flakyStream) SecureDeleteMsg(ctx context.Context, seq uint64) error {
	if f.fails > 0 {
		f.fails--
		return errors.New("nats: timeout")
	}
	return f.Stream.SecureDeleteMsg(ctx, seq)
}

// TestErasingHandler: a handled message is securely deleted before its ack; when the delete
// fails the message comes back, but the handler does not run again (a reply is not sent
// twice); a message that fails for good is dead-lettered and deleted.
func TestErasingHandler(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t, events.Limits{})
	n := d.names
	// The third stays pending, so the block is not removed whole as a drained queue's is.
	for _, text := range []string{"REPLYCANARY one", "REPLYCANARY two", "pending"} {
		if err := d.pub.Reply(ctx, events.Reply{V: 1, ID: text, Platform: events.Telegram, Chat: "1", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	s := &flakyStream{Stream: d.stream(n.RepliesStream()), fails: 1}
	calls := map[string]int{}
	h := events.ErasingHandler(s, d.pub, nil, func(_ context.Context, msg jetstream.Msg) error {
		r, err := events.DecodeReply(msg.Data())
		if err != nil {
			return err
		}
		calls[r.ID]++
		if r.ID == "REPLYCANARY two" {
			return events.Permanent(errors.New("chat gone"))
		}
		return nil
	})
	cons, err := d.js.CreateOrUpdateConsumer(ctx, n.RepliesStream(), events.DurableConfig("r", n.RepliesFilter()))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 2 {
		t.Fatalf("fetched %d replies", len(msgs))
	}
	if err := h(ctx, msgs[0]); err == nil {
		t.Fatal("a failed delete was reported as done")
	} else if _, retry := events.RetryDelay(err); !retry {
		t.Fatalf("a failed delete is not retried: %v", err)
	}
	if err := h(ctx, msgs[0]); err != nil { // the redelivery
		t.Fatal(err)
	}
	if err := h(ctx, msgs[1]); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if calls["REPLYCANARY one"] != 1 || calls["REPLYCANARY two"] != 1 {
		t.Fatalf("handler calls %v, want one each", calls)
	}
	if got := d.msgs(n.RepliesStream()); got != 1 {
		t.Fatalf("%d replies left, want the pending one", got)
	}
	dl, err := d.stream(n.DLQStream()).GetLastMsgForSubject(ctx, n.DLQSubject(n.ReplySubject(events.Telegram)))
	if err != nil || dl.Header.Get(events.HeaderReason) != "chat gone" {
		t.Fatalf("dead letter: %v", err)
	}
	// The dead letter keeps its text (dead letters are erased with their member); the
	// replies stream keeps none.
	d.shutdown()
	found := findCanaries(t, filepath.Join(d.dir, "jetstream"), "REPLYCANARY")
	for _, f := range found["REPLYCANARY"] {
		if strings.Contains(f, n.RepliesStream()) {
			t.Fatalf("a handled reply is still on disk in %s", f)
		}
	}
}

// TestCopyOf: the bridge reads the original's sequence back from a copy's Nats-Msg-Id.
func TestCopyOf(t *testing.T) {
	for _, c := range []struct {
		id   string
		want uint64
		ok   bool
	}{
		{"telegram:-100:7~anon-42", 42, true},
		{"telegram:-100:7~rw-9", 9, true},
		{"telegram:-100:7~rw-x", 0, false},
		{"telegram:-100:7~anon", 0, false},
		{"telegram:-100:7", 0, false},
		{"", 0, false},
	} {
		got, ok := events.CopyOf(c.id)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("CopyOf(%q) = %d, %v; want %d, %v", c.id, got, ok, c.want, c.ok)
		}
	}
}
