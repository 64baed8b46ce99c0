package whatsapp

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/relais-bot/relais/events"
)

// Fixtures: two groups the bot is in, one addressing members by phone number and one by LID,
// and the LID↔phone pairs whatsmeow's store would have learnt.
var (
	t0 = time.Unix(1700000000, 0)

	pnGroup  = types.NewJID("120363000000000001", types.GroupServer)
	lidGroup = types.NewJID("120363000000000002", types.GroupServer)

	alicePN  = types.NewJID("33612345678", types.DefaultUserServer)
	aliceLID = types.NewJID("111111111111111", types.HiddenUserServer)
	bobPN    = types.NewJID("33698765432", types.DefaultUserServer)
	bobLID   = types.NewJID("222222222222222", types.HiddenUserServer)
	carolPN  = types.NewJID("33611111111", types.DefaultUserServer)
	carolLID = types.NewJID("333333333333333", types.HiddenUserServer)
	daveLID  = types.NewJID("444444444444444", types.HiddenUserServer) // phone never learnt
	erinPN   = types.NewJID("33622222222", types.DefaultUserServer)    // LID never learnt

	botPN  = types.NewJID("33700000000", types.DefaultUserServer)
	botLID = types.NewJID("999999999999999", types.HiddenUserServer)
)

// testStore opens a real whatsmeow store in a temp dir and teaches it the fixture pairs.
func testStore(t *testing.T) *sqlstore.Container {
	t.Helper()
	ctx := context.Background()
	c, err := openStore(ctx, t.TempDir(), "", nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for _, p := range [][2]types.JID{{aliceLID, alicePN}, {bobLID, bobPN}, {carolLID, carolPN}} {
		if err := c.LIDMap.PutLIDMapping(ctx, p[0], p[1]); err != nil {
			t.Fatalf("put lid mapping: %v", err)
		}
	}
	return c
}

// testGroups is a group book that knows both fixture groups, as after JoinedGroup.
func testGroups(t *testing.T) *groupBook {
	t.Helper()
	g := newGroupBook(nil, nil)
	g.Learn(&waevents.JoinedGroup{GroupInfo: types.GroupInfo{JID: pnGroup, GroupName: types.GroupName{Name: "Quartier Nord"}, AddressingMode: types.AddressingModePN}})
	g.Learn(&waevents.JoinedGroup{GroupInfo: types.GroupInfo{JID: lidGroup, GroupName: types.GroupName{Name: "Entraide Sud"}, AddressingMode: types.AddressingModeLID}})
	return g
}

func testMapper(t *testing.T) Mapper {
	t.Helper()
	return Mapper{LIDs: testStore(t).LIDMap, Groups: testGroups(t), Self: []types.JID{botPN, botLID}}
}

// msg builds a live message as whatsmeow dispatches it.
func msg(chat, sender, alt types.JID, id string, m *waE2E.Message) *waevents.Message {
	mode := types.AddressingModePN
	if sender.Server == types.HiddenUserServer {
		mode = types.AddressingModeLID
	}
	if chat.Server != types.GroupServer {
		mode = ""
	}
	return &waevents.Message{
		Info: types.MessageInfo{
			MessageSource: types.MessageSource{
				Chat: chat, Sender: sender, SenderAlt: alt,
				IsGroup: chat.Server == types.GroupServer, AddressingMode: mode,
			},
			ID: types.MessageID(id), PushName: "Alice", Timestamp: t0,
		},
		Message: m, RawMessage: m,
	}
}

func text(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }

func reply(s, stanza, participant string, mentions ...string) *waE2E.Message {
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String(s),
		ContextInfo: &waE2E.ContextInfo{
			StanzaID: proto.String(stanza), Participant: proto.String(participant), MentionedJID: mentions,
		},
	}}
}

// editOf is an edit of message id, as whatsmeow dispatches it after unwrapping.
func editOf(id, s string) *waE2E.Message {
	return &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type:          waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(),
		Key:           &waCommon.MessageKey{ID: proto.String(id)},
		EditedMessage: text(s),
	}}
}

// ev is the event the fixtures expect, to adjust per case.
func ev(id string, kind events.Kind, group *events.Group, sender events.Member) events.Event {
	return events.Event{V: events.Version, ID: id, Kind: kind, Platform: events.WhatsApp, At: t0.UTC(), Group: group, Sender: sender}
}

var (
	gPN  = &events.Group{ID: "120363000000000001@g.us", Title: "Quartier Nord"}
	gLID = &events.Group{ID: "120363000000000002@g.us", Title: "Entraide Sud"}
)

func TestMapMessages(t *testing.T) {
	withDevice := func(j types.JID, device uint16) types.JID { j.Device = device; return j }
	withChars := func(e events.Event, n int) events.Event { e.Chars = n; return e }
	// Alice and Bob are known to the store: keyed by LID in every group, phone id as alias.
	aliceInPN := events.Member{ID: "111111111111111@lid", Name: "Alice", Phone: "+33612345678", Alias: "33612345678@s.whatsapp.net"}
	bobInLID := events.Member{ID: "222222222222222@lid", Name: "Alice", Phone: "+33698765432", Alias: "33698765432@s.whatsapp.net"}

	tests := []struct {
		name string
		evt  any
		want []events.Event
	}{{
		name: "text in a phone-number group: LID from the store",
		evt:  msg(pnGroup, alicePN, types.EmptyJID, "M1", text("bonjour à tous")),
		want: []events.Event{withChars(ev("whatsapp:120363000000000001:M1", events.KindMessage, gPN, aliceInPN), 14)},
	}, {
		name: "text in a LID group, phone from SenderAlt, device stripped",
		evt:  msg(lidGroup, withDevice(bobLID, 3), bobPN, "M2", text("salut")),
		want: []events.Event{withChars(ev("whatsapp:120363000000000002:M2", events.KindMessage, gLID, bobInLID), 5)},
	}, {
		name: "LID group without SenderAlt: phone from the LID store",
		evt:  msg(lidGroup, carolLID, types.EmptyJID, "M3", text("ok")),
		want: []events.Event{withChars(ev("whatsapp:120363000000000002:M3", events.KindMessage, gLID,
			events.Member{ID: "333333333333333@lid", Name: "Alice", Phone: "+33611111111", Alias: "33611111111@s.whatsapp.net"}), 2)},
	}, {
		name: "LID group, phone unknown: no phone",
		evt:  msg(lidGroup, daveLID, types.EmptyJID, "M4", text("ok")),
		want: []events.Event{withChars(ev("whatsapp:120363000000000002:M4", events.KindMessage, gLID,
			events.Member{ID: "444444444444444@lid", Name: "Alice"}), 2)},
	}, {
		name: "reply to a LID participant",
		evt:  msg(lidGroup, bobLID, bobPN, "M5", reply("d'accord", "PARENT", "333333333333333@lid")),
		want: []events.Event{func() events.Event {
			e := withChars(ev("whatsapp:120363000000000002:M5", events.KindMessage, gLID, bobInLID), 8)
			e.ReplyTo, e.Target = "333333333333333@lid", "PARENT"
			return e
		}()},
	}, {
		name: "reply in a LID group to a phone-number participant maps to the LID",
		evt:  msg(lidGroup, bobLID, bobPN, "M6", reply("oui", "PARENT", "33611111111:2@s.whatsapp.net")),
		want: []events.Event{func() events.Event {
			e := withChars(ev("whatsapp:120363000000000002:M6", events.KindMessage, gLID, bobInLID), 3)
			e.ReplyTo, e.Target = "333333333333333@lid", "PARENT"
			return e
		}()},
	}, {
		name: "reply in a phone-number group to a LID participant keeps the LID",
		evt:  msg(pnGroup, alicePN, aliceLID, "M7", reply("oui", "PARENT", "333333333333333@lid")),
		want: []events.Event{func() events.Event {
			e := withChars(ev("whatsapp:120363000000000001:M7", events.KindMessage, gPN, aliceInPN), 3)
			e.ReplyTo, e.Target = "333333333333333@lid", "PARENT"
			return e
		}()},
	}, {
		name: "mentions normalised, deduplicated, malformed and bot dropped",
		evt: msg(lidGroup, bobLID, bobPN, "M8", reply("@Carol @Erin", "", "",
			"333333333333333@lid", "33611111111@s.whatsapp.net", "33622222222@s.whatsapp.net", "not a jid@@", "999999999999999@lid")),
		want: []events.Event{func() events.Event {
			e := withChars(ev("whatsapp:120363000000000002:M8", events.KindMessage, gLID, bobInLID), 12)
			e.Mentions = []string{"333333333333333@lid", "33622222222@s.whatsapp.net"}
			return e
		}()},
	}, {
		name: "image with caption counts the caption, mention by phone maps to the LID",
		evt: msg(pnGroup, alicePN, types.EmptyJID, "M9", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			Caption: proto.String("photo du marché"), ContextInfo: &waE2E.ContextInfo{MentionedJID: []string{"33611111111@s.whatsapp.net"}},
		}}),
		want: []events.Event{func() events.Event {
			e := withChars(ev("whatsapp:120363000000000001:M9", events.KindMessage, gPN, aliceInPN), 15)
			e.Mentions = []string{"333333333333333@lid"}
			return e
		}()},
	}, {
		name: "voice note is a message of length 0",
		evt:  msg(pnGroup, alicePN, types.EmptyJID, "M10", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true)}}),
		want: []events.Event{ev("whatsapp:120363000000000001:M10", events.KindMessage, gPN, aliceInPN)},
	}, {
		name: "ephemeral wrapper is opened",
		evt: msg(pnGroup, alicePN, types.EmptyJID, "M11", &waE2E.Message{EphemeralMessage: &waE2E.FutureProofMessage{
			Message: text("éphémère")}}),
		want: []events.Event{withChars(ev("whatsapp:120363000000000001:M11", events.KindMessage, gPN, aliceInPN), 8)},
	}, {
		name: "reaction",
		evt: msg(lidGroup, bobLID, bobPN, "R1", &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key:  &waCommon.MessageKey{RemoteJID: proto.String(lidGroup.String()), ID: proto.String("PARENT"), Participant: proto.String("333333333333333@lid")},
			Text: proto.String("👍"),
		}}),
		want: []events.Event{func() events.Event {
			e := ev("whatsapp:120363000000000002:PARENT:reaction:222222222222222", events.KindReaction, gLID, bobInLID)
			e.ReplyTo, e.Target = "333333333333333@lid", "PARENT"
			return e
		}()},
	}, {
		name: "reaction removed: nothing",
		evt: msg(lidGroup, bobLID, bobPN, "R2", &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: &waCommon.MessageKey{ID: proto.String("PARENT")}, Text: proto.String(""),
		}}),
	}, {
		name: "edit keeps the original's id",
		evt:  msg(pnGroup, alicePN, types.EmptyJID, "E9", editOf("M1", "bonjour à toutes")),
		want: []events.Event{withChars(ev("whatsapp:120363000000000001:M1", events.KindMessage, gPN, aliceInPN), 16)},
	}, {
		name: "revoke: nothing",
		evt: msg(pnGroup, alicePN, types.EmptyJID, "X1", &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: &waCommon.MessageKey{ID: proto.String("M1")},
		}}),
	}, {
		name: "command in a group",
		evt:  msg(pnGroup, alicePN, types.EmptyJID, "C1", text("!actifs 5")),
		want: []events.Event{func() events.Event {
			e := ev("whatsapp:120363000000000001:C1", events.KindCommand, gPN, aliceInPN)
			e.Command = &events.Command{Name: "actifs", Args: []string{"5"}, Bang: true}
			return e
		}()},
	}, {
		name: "command in private: keyed by LID, phone kept",
		evt:  msg(alicePN, alicePN, types.EmptyJID, "D1", text("/stats «Quartier Nord»")),
		want: []events.Event{func() events.Event {
			e := ev("whatsapp:dm:111111111111111:D1", events.KindCommand, nil, aliceInPN)
			e.Command = &events.Command{Name: "stats", Args: []string{"Quartier Nord"}}
			return e
		}()},
	}, {
		name: "command addressed to a named bot is not ours",
		evt:  msg(pnGroup, alicePN, types.EmptyJID, "C2", text("/stats@autrebot")),
		want: []events.Event{withChars(ev("whatsapp:120363000000000001:C2", events.KindMessage, gPN, aliceInPN), 15)},
	}, {
		name: "unknown command in a group is talk",
		evt:  msg(pnGroup, alicePN, types.EmptyJID, "C3", text("!bravo à tous")),
		want: []events.Event{withChars(ev("whatsapp:120363000000000001:C3", events.KindMessage, gPN, aliceInPN), 13)},
	}, {
		name: "unknown command in private: nothing",
		evt:  msg(aliceLID, aliceLID, alicePN, "D3", text("/rdv demain")),
	}, {
		name: "private message that is not a command: nothing",
		evt:  msg(aliceLID, aliceLID, alicePN, "D2", text("bonjour")),
	}, {
		name: "history sync message: nothing",
		evt: func() any {
			m := msg(pnGroup, alicePN, types.EmptyJID, "H1", text("vieux"))
			m.SourceWebMsg = &waWeb.WebMessageInfo{}
			return m
		}(),
	}, {
		name: "message re-requested from the phone is live",
		evt: func() any {
			m := msg(pnGroup, alicePN, types.EmptyJID, "U1", text("récupéré"))
			m.SourceWebMsg, m.UnavailableRequestID = &waWeb.WebMessageInfo{}, "REQ"
			return m
		}(),
		want: []events.Event{withChars(ev("whatsapp:120363000000000001:U1", events.KindMessage, gPN, aliceInPN), 8)},
	}, {
		name: "history sync event: nothing",
		evt:  &waevents.HistorySync{},
	}, {
		name: "status broadcast: nothing",
		evt: func() any {
			m := msg(types.StatusBroadcastJID, alicePN, types.EmptyJID, "S1", text("mon statut"))
			m.Info.IsGroup = true
			return m
		}(),
	}, {
		name: "newsletter: nothing",
		evt:  msg(types.NewJID("1203630000", types.NewsletterServer), alicePN, types.EmptyJID, "N1", text("lettre")),
	}, {
		name: "own message: nothing",
		evt: func() any {
			m := msg(pnGroup, botPN, types.EmptyJID, "O1", text("réponse du bot"))
			m.Info.IsFromMe = true
			return m
		}(),
	}, {
		name: "poll update (encrypted vote): nothing",
		evt:  msg(pnGroup, alicePN, types.EmptyJID, "P1", &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{}}),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMapper(t)
			got, err := m.Map(context.Background(), tt.evt)
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Map:\n got %+v\nwant %+v", got, tt.want)
			}
			for _, e := range got {
				if err := e.Validate(); err != nil {
					t.Errorf("event %s does not validate: %v", e.ID, err)
				}
			}
		})
	}
}

func TestMapGroupInfo(t *testing.T) {
	ts := t0.Add(100 * time.Second)
	tests := []struct {
		name string
		evt  *waevents.GroupInfo
		want []events.Event
	}{{
		name: "join and leave in a LID group",
		evt:  &waevents.GroupInfo{JID: lidGroup, Timestamp: ts, Join: []types.JID{daveLID, carolLID}, Leave: []types.JID{bobLID}},
		want: []events.Event{
			{V: 1, ID: "whatsapp:120363000000000002:join:444444444444444:1700000100", Kind: events.KindJoin, Platform: events.WhatsApp,
				At: ts.UTC(), Group: gLID, Sender: events.Member{ID: "444444444444444@lid"}},
			{V: 1, ID: "whatsapp:120363000000000002:join:333333333333333:1700000100", Kind: events.KindJoin, Platform: events.WhatsApp,
				At: ts.UTC(), Group: gLID, Sender: events.Member{ID: "333333333333333@lid", Phone: "+33611111111", Alias: "33611111111@s.whatsapp.net"}},
			{V: 1, ID: "whatsapp:120363000000000002:leave:222222222222222:1700000100", Kind: events.KindLeave, Platform: events.WhatsApp,
				At: ts.UTC(), Group: gLID, Sender: events.Member{ID: "222222222222222@lid", Phone: "+33698765432", Alias: "33698765432@s.whatsapp.net"}},
		},
	}, {
		name: "join in a LID group given by phone maps to the LID",
		evt:  &waevents.GroupInfo{JID: lidGroup, Timestamp: ts, Join: []types.JID{carolPN}},
		want: []events.Event{
			{V: 1, ID: "whatsapp:120363000000000002:join:333333333333333:1700000100", Kind: events.KindJoin, Platform: events.WhatsApp,
				At: ts.UTC(), Group: gLID, Sender: events.Member{ID: "333333333333333@lid", Phone: "+33611111111", Alias: "33611111111@s.whatsapp.net"}},
		},
	}, {
		name: "join and leave in a phone-number group: LID when the store knows it",
		evt:  &waevents.GroupInfo{JID: pnGroup, Timestamp: ts, Join: []types.JID{erinPN, alicePN}, Leave: []types.JID{aliceLID}},
		want: []events.Event{
			{V: 1, ID: "whatsapp:120363000000000001:join:33622222222:1700000100", Kind: events.KindJoin, Platform: events.WhatsApp,
				At: ts.UTC(), Group: gPN, Sender: events.Member{ID: "33622222222@s.whatsapp.net", Phone: "+33622222222"}},
			{V: 1, ID: "whatsapp:120363000000000001:join:111111111111111:1700000100", Kind: events.KindJoin, Platform: events.WhatsApp,
				At: ts.UTC(), Group: gPN, Sender: events.Member{ID: "111111111111111@lid", Phone: "+33612345678", Alias: "33612345678@s.whatsapp.net"}},
			{V: 1, ID: "whatsapp:120363000000000001:leave:111111111111111:1700000100", Kind: events.KindLeave, Platform: events.WhatsApp,
				At: ts.UTC(), Group: gPN, Sender: events.Member{ID: "111111111111111@lid", Phone: "+33612345678", Alias: "33612345678@s.whatsapp.net"}},
		},
	}, {
		name: "the bot itself joining is not a member",
		evt:  &waevents.GroupInfo{JID: pnGroup, Timestamp: ts, Join: []types.JID{botPN}},
	}, {
		name: "title change only: nothing",
		evt:  &waevents.GroupInfo{JID: pnGroup, Timestamp: ts, Name: &types.GroupName{Name: "Nouveau nom"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testMapper(t).Map(context.Background(), tt.evt)
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Map:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestGroupTitles: a title comes from JoinedGroup, follows a rename, and an unknown group is
// fetched once (throttled), not on every message.
func TestGroupTitles(t *testing.T) {
	ctx := context.Background()
	fetch := &fakeFetcher{infos: map[types.JID]*types.GroupInfo{
		types.NewJID("120363000000000003", types.GroupServer): {GroupName: types.GroupName{Name: "Campagne"}, AddressingMode: types.AddressingModeLID},
	}}
	now := t0
	g := newGroupBook(fetch, func() time.Time { return now })
	m := Mapper{LIDs: testStore(t).LIDMap, Groups: g}

	g.Learn(&waevents.JoinedGroup{GroupInfo: types.GroupInfo{JID: pnGroup, GroupName: types.GroupName{Name: "Quartier Nord"}}})
	title := func(chat types.JID, sender types.JID) string {
		t.Helper()
		evs, err := m.Map(ctx, msg(chat, sender, types.EmptyJID, "T", text("x")))
		if err != nil || len(evs) != 1 {
			t.Fatalf("Map: %v %v", evs, err)
		}
		return evs[0].Group.Title
	}
	if got := title(pnGroup, alicePN); got != "Quartier Nord" {
		t.Errorf("title from JoinedGroup = %q", got)
	}
	rename := &waevents.GroupInfo{JID: pnGroup, Timestamp: t0, Name: &types.GroupName{Name: "Quartier Nord-Est"}}
	g.Learn(rename)
	if got := title(pnGroup, alicePN); got != "Quartier Nord-Est" {
		t.Errorf("title after rename = %q", got)
	}
	other := types.NewJID("120363000000000003", types.GroupServer)
	for range 3 {
		if got := title(other, carolLID); got != "Campagne" {
			t.Errorf("fetched title = %q", got)
		}
	}
	if fetch.calls != 1 {
		t.Errorf("GetGroupInfo called %d times, want 1", fetch.calls)
	}
	// A group whose fetch fails is not asked again before groupRetryAfter.
	missing := types.NewJID("120363000000000004", types.GroupServer)
	title(missing, alicePN)
	title(missing, alicePN)
	if fetch.calls != 2 {
		t.Errorf("GetGroupInfo called %d times after a failure, want 2", fetch.calls)
	}
	now = now.Add(groupRetryAfter)
	title(missing, alicePN)
	if fetch.calls != 3 {
		t.Errorf("GetGroupInfo called %d times after the retry delay, want 3", fetch.calls)
	}
}

type fakeFetcher struct {
	infos map[types.JID]*types.GroupInfo
	calls int
}

func (f *fakeFetcher) GetGroupInfo(_ context.Context, jid types.JID) (*types.GroupInfo, error) {
	f.calls++
	info, ok := f.infos[jid]
	if !ok {
		return nil, context.DeadlineExceeded
	}
	c := *info
	return &c, nil
}

// FuzzMapMessage feeds arbitrary text and JIDs from the wire through the mapping: it must
// never panic, and whatever it returns must be a valid event without the text.
func FuzzMapMessage(f *testing.F) {
	f.Add("bonjour", "33612345678@s.whatsapp.net", "333333333333333@lid", "PARENT", true)
	f.Add("/stats «a b", "1@lid", "@@", "", false)
	f.Add("", ":@", "33611111111:9@s.whatsapp.net", "x", true)
	store := func() *sqlstore.Container {
		c, err := openStore(context.Background(), f.TempDir(), "", nil)
		if err != nil {
			f.Fatalf("open store: %v", err)
		}
		f.Cleanup(func() { _ = c.Close() })
		return c
	}()
	f.Fuzz(func(t *testing.T, body, participant, mention, stanza string, lid bool) {
		m := Mapper{LIDs: store.LIDMap, Groups: newGroupBook(nil, nil)}
		sender := alicePN
		if lid {
			sender = aliceLID
		}
		for _, chat := range []types.JID{pnGroup, sender} {
			evs, err := m.Map(context.Background(), msg(chat, sender, types.EmptyJID, "F", reply(body, stanza, participant, mention)))
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			for _, e := range evs {
				if err := e.Validate(); err != nil {
					t.Fatalf("invalid event: %v", err)
				}
				if body != "" && len(body) > 3 && (e.Sender.Name == body || e.ReplyTo == body) {
					t.Fatalf("text leaked into the event")
				}
			}
		}
	})
}

// noTextCanary stands for words a member typed. It must reach no event, whatever the shape
// of the message carrying it.
const noTextCanary = "CANARY-7f3a"

// summary is the part of an event TestMapKeepsNoText states.
func summary(e events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s sender=%s", e.Kind, e.ID, e.Sender.ID)
	if e.ReplyTo != "" {
		fmt.Fprintf(&b, " reply_to=%s", e.ReplyTo)
	}
	if e.Target != "" {
		fmt.Fprintf(&b, " target=%s", e.Target)
	}
	if len(e.Mentions) > 0 {
		fmt.Fprintf(&b, " mentions=%s", strings.Join(e.Mentions, ","))
	}
	if e.Command != nil {
		fmt.Fprintf(&b, " cmd=%s%q", e.Command.Name, e.Command.Args)
	}
	if e.Chars != 0 {
		fmt.Fprintf(&b, " chars=%d", e.Chars)
	}
	return b.String()
}

// TestMapKeepsNoText feeds whatsmeow messages carrying a canary through the real mapping,
// encodes every event, and checks the canary is in none of them while the command names,
// kept arguments, lengths, replies and mentions are there.
func TestMapKeepsNoText(t *testing.T) {
	m := testMapper(t)
	c := noTextCanary
	long := strings.Repeat("x", events.MaxQueryRunes)
	const alice = "111111111111111@lid" // the store knows her LID: members are keyed by it
	chars := func(s string) string { return fmt.Sprintf("chars=%d", utf8.RuneCountInString(s)) }
	talk := func(id, extra string) string {
		return "message whatsapp:120363000000000001:" + id + " sender=" + alice + " " + extra
	}
	cmd := func(id, cmd string) string {
		return "command whatsapp:120363000000000001:" + id + " sender=" + alice + " cmd=" + cmd
	}
	dm := func(id, cmd string) string {
		return "command whatsapp:dm:111111111111111:" + id + " sender=111111111111111@lid cmd=" + cmd
	}
	inGroup := func(id string, m *waE2E.Message) *waevents.Message {
		return msg(pnGroup, alicePN, types.EmptyJID, id, m)
	}
	private := func(id string, m *waE2E.Message) *waevents.Message { return msg(aliceLID, aliceLID, alicePN, id, m) }
	quoting := "reply_to=333333333333333@lid target=PARENT"

	for _, tt := range []struct {
		name string
		evt  *waevents.Message
		want string // the one event expected, "" for none
	}{
		{"plain talk", inGroup("T1", text("hello "+c)), talk("T1", chars("hello "+c))},
		{"unknown bang word", inGroup("T2", text("!rdv "+c+" chez moi")), talk("T2", chars("!rdv "+c+" chez moi"))},
		{"unknown slash word", inGroup("T3", text("/rdv "+c)), talk("T3", chars("/rdv "+c))},
		{"help with words", inGroup("T4", text("/aide "+c)), cmd("T4", `aide[]`)},
		{"help addressed to a bot name", inGroup("T5", text("/aide@ourbot "+c)), talk("T5", chars("/aide@ourbot "+c))},
		{"help in quotes", inGroup("T6", text("!aide «"+c+"»")), cmd("T6", `aide[]`)},
		{"stop with words", inGroup("T7", text("/stop "+c)), cmd("T7", `stop[]`)},
		{"another bot's command", inGroup("T8", text("/cmd@otherbot "+c)), talk("T8", chars("/cmd@otherbot "+c))},
		{"count, then words", inGroup("T9", text("/actifs 5 "+c)), cmd("T9", `actifs["5"]`)},
		{"words instead of a count", inGroup("T10", text("!relais "+c+" 5")), cmd("T10", `relais[]`)},
		{"member query past its bound", inGroup("T11", text("/fiche "+long+" "+c)), cmd("T11", fmt.Sprintf("fiche[%q]", long))},
		{"group query past its bound", inGroup("T12", text("/stats «"+long+c+"»")), cmd("T12", fmt.Sprintf("stats[%q]", long))},
		{"campaign slug, then words", inGroup("T13", text("/campagne rentree "+c)), cmd("T13", `campagne["rentree"]`)},
		{"campaign slug of the canary's shape", inGroup("T14", text("/campagne "+c+"!")), cmd("T14", `campagne[]`)},
		{"reply", inGroup("T15", reply(c+" d'accord", "PARENT", "33611111111@s.whatsapp.net")),
			talk("T15", quoting+" "+chars(c+" d'accord"))},
		{"reply that is an unknown command", inGroup("T16", reply("/merci "+c, "PARENT", "33611111111@s.whatsapp.net")),
			talk("T16", quoting+" "+chars("/merci "+c))},
		{"reply that is a known command", inGroup("T17", reply("/stop "+c, "PARENT", "33611111111@s.whatsapp.net", "33698765432@s.whatsapp.net")),
			cmd("T17", `stop[]`)},
		{"mention", inGroup("T18", reply("@33611111111 "+c, "", "", "33611111111@s.whatsapp.net")),
			talk("T18", "mentions=333333333333333@lid "+chars("@33611111111 "+c))},
		{"caption", inGroup("T19", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("/rdv " + c)}}),
			talk("T19", chars("/rdv "+c))},
		{"edit", inGroup("T20", editOf("T1", "hello "+c+" (edited)")), talk("T1", chars("hello "+c+" (edited)"))},
		{"private help with words", private("D1", text("/aide "+c)), dm("D1", `aide[]`)},
		{"private unknown command", private("D2", text("/rdv "+c)), ""},
		{"private unknown bang word", private("D3", text("!rdv "+c)), ""},
		{"private command for a bot", private("D4", text("/aide@otherbot "+c)), ""},
		{"private talk", private("D5", text(c)), ""},
		{"campaign answer word", private("W1", text("1")), dm("W1", `jerelaie[]`)},
		{"campaign answer words", private("W2", text("Ne plus me solliciter !")), dm("W2", `neplusmesolliciter[]`)},
		{"campaign confirmation word", private("W3", text("ENVOYER")), dm("W3", `envoyer[]`)},
		{"answer word inside talk", private("W4", text("1 "+c)), ""},
		{"answer word in a group is talk", inGroup("W5", text("1")), talk("W5", chars("1"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := m.Map(context.Background(), tt.evt)
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, summary(e))
				b, err := events.Encode(e)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if strings.Contains(strings.ToLower(string(b)), strings.ToLower(c)) {
					t.Errorf("the canary reached the event: %s", b)
				}
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}
