package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"

	"github.com/relais-bot/relais/events"
)

// Frank is not in the fixture store: the store learns his LID↔phone pair during the test.
var (
	frankPN  = types.NewJID("33644444444", types.DefaultUserServer)
	frankLID = types.NewJID("555555555555555", types.HiddenUserServer)
)

// mapOne maps evt and returns its single event.
func mapOne(t *testing.T, m Mapper, evt any) events.Event {
	t.Helper()
	got, err := m.Map(context.Background(), evt)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("Map gave %d events, want 1: %+v", len(got), got)
	}
	if err := got[0].Validate(); err != nil {
		t.Fatalf("event %s does not validate: %v", got[0].ID, err)
	}
	return got[0]
}

func withDeviceJID(j types.JID, device uint16) types.JID { j.Device = device; return j }

// TestOnePersonOneMember follows one person, Frank, through a phone-number group, a LID group
// and private commands, before and after whatsmeow's store learns his LID↔phone pair. Once
// the pair is known every event names him by the same id, his LID, and carries as Alias the
// id he had before, so the bridge merges the two members; replies and mentions by phone
// credit the LID member.
func TestOnePersonOneMember(t *testing.T) {
	const (
		phoneID = "33644444444@s.whatsapp.net"
		lidID   = "555555555555555@lid"
	)
	byPhone := events.Member{ID: phoneID, Name: "Alice", Phone: "+33644444444"}
	byLID := events.Member{ID: lidID, Name: "Alice", Phone: "+33644444444", Alias: phoneID}
	bob := events.Member{ID: "222222222222222@lid", Name: "Alice", Phone: "+33698765432", Alias: "33698765432@s.whatsapp.net"}

	store := testStore(t)
	m := Mapper{LIDs: store.LIDMap, Groups: testGroups(t), Self: []types.JID{botPN, botLID}}

	steps := []struct {
		name     string
		learn    bool // the store learns Frank's pair before this step
		evt      *waevents.Message
		wantID   string
		want     events.Member
		replyTo  string
		mentions []string
	}{{
		name:   "phone-number group, LID unknown: phone id, no alias",
		evt:    msg(pnGroup, frankPN, types.EmptyJID, "F1", text("bonjour")),
		wantID: "whatsapp:120363000000000001:F1",
		want:   byPhone,
	}, {
		name:   "private /stop, LID unknown: phone id, no alias",
		evt:    msg(frankPN, frankPN, types.EmptyJID, "F2", text("/stop")),
		wantID: "whatsapp:dm:33644444444:F2",
		want:   byPhone,
	}, {
		name:     "reply and mention by phone, LID unknown: phone id",
		evt:      msg(pnGroup, bobPN, bobLID, "F3", reply("@Frank", "F1", phoneID, phoneID)),
		wantID:   "whatsapp:120363000000000001:F3",
		want:     bob,
		replyTo:  phoneID,
		mentions: []string{phoneID},
	}, {
		name:   "phone-number group, LID in SenderAlt: LID id, phone alias",
		evt:    msg(pnGroup, frankPN, frankLID, "F4", text("salut")),
		wantID: "whatsapp:120363000000000001:F4",
		want:   byLID,
	}, {
		name:   "phone-number group, LID from the store",
		learn:  true,
		evt:    msg(pnGroup, withDeviceJID(frankPN, 2), types.EmptyJID, "F5", text("re")),
		wantID: "whatsapp:120363000000000001:F5",
		want:   byLID,
	}, {
		name:   "LID group, phone in SenderAlt",
		evt:    msg(lidGroup, withDeviceJID(frankLID, 5), frankPN, "F6", text("ok")),
		wantID: "whatsapp:120363000000000002:F6",
		want:   byLID,
	}, {
		name:   "LID group, phone from the store",
		evt:    msg(lidGroup, frankLID, types.EmptyJID, "F7", text("ok")),
		wantID: "whatsapp:120363000000000002:F7",
		want:   byLID,
	}, {
		name:   "private /stop from the phone JID",
		evt:    msg(frankPN, frankPN, types.EmptyJID, "F8", text("/stop")),
		wantID: "whatsapp:dm:555555555555555:F8",
		want:   byLID,
	}, {
		name:   "private /oubli from the LID",
		evt:    msg(frankLID, frankLID, types.EmptyJID, "F9", text("/oubli")),
		wantID: "whatsapp:dm:555555555555555:F9",
		want:   byLID,
	}, {
		name:   "private /oui from the phone JID, LID in SenderAlt",
		evt:    msg(frankPN, frankPN, frankLID, "F10", text("/oui")),
		wantID: "whatsapp:dm:555555555555555:F10",
		want:   byLID,
	}, {
		name:   "private /moi from the LID, phone in SenderAlt",
		evt:    msg(frankLID, withDeviceJID(frankLID, 1), frankPN, "F11", text("/moi")),
		wantID: "whatsapp:dm:555555555555555:F11",
		want:   byLID,
	}, {
		name:     "reply and mention by phone (with device), LID known: LID id, once",
		evt:      msg(pnGroup, bobPN, bobLID, "F12", reply("@Frank", "F5", "33644444444:3@s.whatsapp.net", phoneID, lidID)),
		wantID:   "whatsapp:120363000000000001:F12",
		want:     bob,
		replyTo:  lidID,
		mentions: []string{lidID},
	}}
	var before string // Frank's id before his LID was known
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.learn {
				if err := store.LIDMap.PutLIDMapping(context.Background(), frankLID, frankPN); err != nil {
					t.Fatalf("put lid mapping: %v", err)
				}
			}
			got := mapOne(t, m, st.evt)
			if got.ID != st.wantID {
				t.Errorf("event id = %q, want %q", got.ID, st.wantID)
			}
			if got.Sender != st.want {
				t.Errorf("sender = %+v, want %+v", got.Sender, st.want)
			}
			if got.ReplyTo != st.replyTo || !slices.Equal(got.Mentions, st.mentions) {
				t.Errorf("reply_to %q, mentions %q; want %q, %q", got.ReplyTo, got.Mentions, st.replyTo, st.mentions)
			}
			// Frank's alias is byte for byte the id he had while only his phone was known.
			switch got.Sender.ID {
			case phoneID:
				before = got.Sender.ID
			case lidID:
				if got.Sender.Alias != before {
					t.Errorf("alias %q is not the id %q events gave before the LID was known", got.Sender.Alias, before)
				}
			}
		})
	}
}

// fakeLIDs is whatsmeow's LID store as the mapping sees it: pairs by user, the device of the
// question kept in the answer, an error for a JID of the wrong kind, and a log of calls.
type fakeLIDs struct {
	pnByLID map[string]string
	err     error
	calls   []string
}

func (f *fakeLIDs) GetPNForLID(_ context.Context, lid types.JID) (types.JID, error) {
	f.calls = append(f.calls, "pn-for-lid")
	if lid.Server != types.HiddenUserServer {
		return types.EmptyJID, fmt.Errorf("invalid GetPNForLID call with non-LID JID %s", lid)
	}
	if f.err != nil {
		return types.EmptyJID, f.err
	}
	if pn, ok := f.pnByLID[lid.User]; ok {
		return types.JID{User: pn, Device: lid.Device, Server: types.DefaultUserServer}, nil
	}
	return types.EmptyJID, nil
}

func (f *fakeLIDs) GetLIDForPN(_ context.Context, pn types.JID) (types.JID, error) {
	f.calls = append(f.calls, "lid-for-pn")
	if pn.Server != types.DefaultUserServer {
		return types.EmptyJID, fmt.Errorf("invalid GetLIDForPN call with non-PN JID %s", pn)
	}
	if f.err != nil {
		return types.EmptyJID, f.err
	}
	for lid, p := range f.pnByLID {
		if p == pn.User {
			return types.JID{User: lid, Device: pn.Device, Server: types.HiddenUserServer}, nil
		}
	}
	return types.EmptyJID, nil
}

// TestSenderIdentity: where the sender's LID and phone come from (the event first, the store
// for what is missing), which lookups that costs, and what the event then says.
func TestSenderIdentity(t *testing.T) {
	storeErr := errors.New("database is locked")
	both := events.Member{ID: "111111111111111@lid", Name: "Alice", Phone: "+33612345678", Alias: "33612345678@s.whatsapp.net"}
	tests := []struct {
		name        string
		sender, alt types.JID
		known       bool // the store knows Alice's pair
		noStore     bool
		storeErr    error
		want        events.Member
		wantCalls   []string
		wantErr     bool
	}{{
		name: "LID sender, phone in SenderAlt: no lookup", sender: aliceLID, alt: alicePN,
		want: both,
	}, {
		name: "phone sender, LID in SenderAlt: no lookup", sender: alicePN, alt: aliceLID,
		want: both,
	}, {
		name: "phone sender, LID from the store", sender: alicePN, known: true,
		want: both, wantCalls: []string{"lid-for-pn"},
	}, {
		name: "LID sender, phone from the store", sender: aliceLID, known: true,
		want: both, wantCalls: []string{"pn-for-lid"},
	}, {
		name:   "device stripped",
		sender: withDeviceJID(alicePN, 12), known: true,
		want: both, wantCalls: []string{"lid-for-pn"},
	}, {
		name: "phone sender, LID unknown: phone id, no alias", sender: alicePN,
		want:      events.Member{ID: "33612345678@s.whatsapp.net", Name: "Alice", Phone: "+33612345678"},
		wantCalls: []string{"lid-for-pn"},
	}, {
		name: "LID sender, phone unknown: LID id, no alias, no phone", sender: aliceLID,
		want:      events.Member{ID: "111111111111111@lid", Name: "Alice"},
		wantCalls: []string{"pn-for-lid"},
	}, {
		name: "SenderAlt of the same kind is no help", sender: alicePN, alt: bobPN, known: true,
		want: both, wantCalls: []string{"lid-for-pn"},
	}, {
		name: "no store: what the event carries", sender: alicePN, noStore: true,
		want: events.Member{ID: "33612345678@s.whatsapp.net", Name: "Alice", Phone: "+33612345678"},
	}, {
		name: "store failure: the event is handled again later", sender: alicePN, storeErr: storeErr,
		wantCalls: []string{"lid-for-pn"}, wantErr: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lids := &fakeLIDs{err: tt.storeErr}
			if tt.known {
				lids.pnByLID = map[string]string{aliceLID.User: alicePN.User}
			}
			m := Mapper{LIDs: lids, Groups: testGroups(t), Self: []types.JID{botPN, botLID}}
			if tt.noStore {
				m.LIDs = nil
			}
			got, err := m.Map(context.Background(), msg(pnGroup, tt.sender, tt.alt, "S1", text("salut")))
			if !slices.Equal(lids.calls, tt.wantCalls) {
				t.Errorf("store calls = %q, want %q", lids.calls, tt.wantCalls)
			}
			if tt.wantErr {
				if !errors.Is(err, tt.storeErr) || got != nil {
					t.Fatalf("Map = %+v, %v; want the store's error", got, err)
				}
				return
			}
			if err != nil || len(got) != 1 {
				t.Fatalf("Map = %+v, %v", got, err)
			}
			if got[0].Sender != tt.want {
				t.Errorf("sender = %+v, want %+v", got[0].Sender, tt.want)
			}
		})
	}
}

// FuzzMemberIdentity feeds arbitrary sender, SenderAlt and reply/mention JIDs through the
// mapping with a store that knows some pairs: it must never fail or panic, never name a
// member by phone when the store knows their LID, carry an alias only beside a LID, and give
// the same member whichever of the two forms is the sender and which the alt.
func FuzzMemberIdentity(f *testing.F) {
	f.Add("33612345678@s.whatsapp.net", "", "33611111111@s.whatsapp.net")
	f.Add("111111111111111:4@lid", "33612345678@s.whatsapp.net", "333333333333333@lid")
	f.Add("33622222222.1:2@s.whatsapp.net", "444444444444444@lid", "33698765432:7@s.whatsapp.net")
	f.Add("@s.whatsapp.net", "@lid", ":@")
	f.Add("1@hosted.lid", "2@bot", "120363000000000001@g.us")
	f.Add("999999999999999@lid", "33700000000@s.whatsapp.net", "33700000000@s.whatsapp.net")
	store := func() *sqlstore.CachedLIDMap {
		c, err := openStore(context.Background(), f.TempDir(), "", nil)
		if err != nil {
			f.Fatalf("open store: %v", err)
		}
		f.Cleanup(func() { _ = c.Close() })
		for _, p := range [][2]types.JID{{aliceLID, alicePN}, {bobLID, bobPN}, {carolLID, carolPN}} {
			if err := c.LIDMap.PutLIDMapping(context.Background(), p[0], p[1]); err != nil {
				f.Fatalf("put lid mapping: %v", err)
			}
		}
		return c.LIDMap
	}()
	parse := func(s string) types.JID {
		j, err := types.ParseJID(s)
		if err != nil {
			return types.EmptyJID
		}
		return j
	}
	f.Fuzz(func(t *testing.T, sender, alt, ref string) {
		ctx := context.Background()
		m := Mapper{LIDs: store, Groups: newGroupBook(nil, nil), Self: []types.JID{botPN, botLID}}
		// noLID fails when id is a phone id although the store knows the phone's LID.
		noLID := func(what, id string) {
			t.Helper()
			if !strings.HasSuffix(id, "@"+types.DefaultUserServer) {
				return
			}
			lid, err := store.GetLIDForPN(ctx, parse(id))
			if err != nil || !lid.IsEmpty() {
				t.Fatalf("%s %q is a phone id, but the store maps it to %v (%v)", what, id, lid, err)
			}
		}
		s, a := parse(sender), parse(alt)
		for _, chat := range []types.JID{pnGroup, lidGroup, s.ToNonAD()} {
			evs, err := m.Map(ctx, msg(chat, s, a, "F", reply("x", "P", ref, ref)))
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			for _, e := range evs {
				if err := e.Validate(); err != nil {
					t.Fatalf("invalid event: %v", err)
				}
				mb := e.Sender
				if mb.Alias != "" && (!strings.HasSuffix(mb.ID, "@"+types.HiddenUserServer) ||
					!strings.HasSuffix(mb.Alias, "@"+types.DefaultUserServer)) {
					t.Fatalf("alias %q beside id %q: want a phone id beside a LID", mb.Alias, mb.ID)
				}
				if mb.Phone != "" && "+"+strings.TrimSuffix(firstString(mb.Alias, mb.ID), "@"+types.DefaultUserServer) != mb.Phone {
					t.Fatalf("phone %q is not the number of %q / %q", mb.Phone, mb.ID, mb.Alias)
				}
				noLID("sender", mb.ID)
				noLID("reply_to", e.ReplyTo)
				for _, id := range e.Mentions {
					noLID("mention", id)
				}
			}
			// The same person whichever form is the sender and which the alt.
			if len(evs) == 1 && chat.Server == types.GroupServer {
				swapped, err := m.Map(ctx, msg(chat, a, s, "F", reply("x", "P", ref, ref)))
				if err != nil {
					t.Fatalf("Map swapped: %v", err)
				}
				oneOfEach := s.User != "" && a.User != "" &&
					((s.Server == types.HiddenUserServer && a.Server == types.DefaultUserServer) ||
						(s.Server == types.DefaultUserServer && a.Server == types.HiddenUserServer))
				if oneOfEach && (len(swapped) != 1 || !reflect.DeepEqual(swapped[0].Sender, evs[0].Sender)) {
					t.Fatalf("sender %+v, swapped with SenderAlt %+v", evs[0].Sender, swapped)
				}
			}
		}
	})
}

func firstString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
