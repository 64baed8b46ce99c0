package history_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// logCopy is an erasure's copy of an event, as the log stores it.
type logCopy struct {
	seq      uint64
	subject  string
	importID string // its HeaderHistory
	ev       events.Event
}

// erasureCopies reads every copy an erasure published into the event log.
func (s *stack) erasureCopies() []logCopy {
	s.t.Helper()
	var out []logCopy
	s.eachStored(s.env.Names.EventsStream(), func(m *jetstream.RawStreamMsg) {
		if _, ok := events.CopyOf(m.Header.Get(jetstream.MsgIDHeader)); !ok {
			return
		}
		ev, err := events.DecodeEvent(m.Data)
		if err != nil {
			s.t.Fatalf("copy %d: %v", m.Sequence, err)
		}
		out = append(out, logCopy{seq: m.Sequence, subject: m.Subject, importID: m.Header.Get(events.HeaderHistory), ev: ev})
	})
	return out
}

// lastContactSeqs is the sequence of every member's last contact change in RELAIS_CRM.
func (s *stack) lastContactSeqs() map[string]uint64 {
	s.t.Helper()
	ctx := context.Background()
	st, err := s.env.JS.Stream(ctx, s.env.Names.CRMStream())
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(s.env.Names.CRMFilter()))
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]uint64{}
	for subj := range info.State.Subjects {
		m, err := st.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			s.t.Fatal(err)
		}
		out[subj] = m.Sequence
	}
	return out
}

// lastContactOp is the operation of a member's last contact change ("": none).
func (s *stack) lastContactOp(member string) events.ContactOp {
	s.t.Helper()
	ctx := context.Background()
	st, err := s.env.JS.Stream(ctx, s.env.Names.CRMStream())
	if err != nil {
		s.t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, s.env.Names.CRMSubject(member))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ""
	}
	if err != nil {
		s.t.Fatal(err)
	}
	c, err := events.DecodeContactChange(m.Data)
	if err != nil {
		s.t.Fatal(err)
	}
	return c.Op
}

// TestErasureCopiesStayImported: /oubli of a member an imported event replied to rewrites
// that event without them; the copy is imported like its original (on its day's subject,
// under the import's id), so it expires with its day rather than a full retention after the
// erasure, and the bridge takes it as history. After the erasure the state is the one a
// replay of the log gives, and the CRM holds every contact a replay would publish.
func TestErasureCopiesStayImported(t *testing.T) {
	c := makeConversation(12)
	hist, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()[:1]...)
	rep, err := s.importFiles(history.Options{}, file("result.json", c.export()))
	if err != nil || rep.ID == "" {
		t.Fatalf("import: %+v %v", rep, err)
	}
	// An imported reply of one member (a) to another (b), neither the live sender.
	var reply convMsg
	var b int64
	for _, m := range hist.msgs {
		r, ok := c.byID(m.replyTo)
		if ok && r.from != m.from && r.from != tail.msgs[0].from && m.from != tail.msgs[0].from {
			reply, b = m, r.from
			break
		}
	}
	if b == 0 {
		t.Fatal("no imported reply between two members: the test proves nothing")
	}
	a := reply.from
	if s.lastContactOp(s.token(b)) == "" {
		t.Fatalf("member %d never reached the CRM: the erasure's end cannot be seen", b)
	}

	ctx := context.Background()
	ev := events.Event{V: events.Version, ID: "telegram:dm:oubli", Kind: events.KindCommand, Platform: events.Telegram,
		At: now.Add(-time.Minute), Sender: events.Member{ID: strconv.FormatInt(b, 10), Name: userName(b)},
		Command: &events.Command{Name: "oubli"}}
	if _, err := s.env.Pub.Event(ctx, ev); err != nil {
		t.Fatal(err)
	}
	q := s.bridge.Query()
	// The erasure deletes its own command with the member's events, so the consumer does
	// not say when it is over: its last step is the erase contact change.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, found, _ := q.Member(ctx, s.token(b))
		if !found && s.memberEvents(s.token(b)) == 0 && s.lastContactOp(s.token(b)) == events.OpErase {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the erasure did not complete")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.settled()

	var rewritten *logCopy
	copies := s.erasureCopies()
	for i, cp := range copies {
		group := s.env.Hasher.Group(cp.ev.Platform, cp.ev.Group.ID)
		sender := s.env.Hasher.Member(cp.ev.Platform, cp.ev.Sender.ID)
		if cp.ev.At.Before(tail.msgs[0].at) {
			if want := s.env.Names.HistorySubject(cp.ev.At, group, sender); cp.subject != want || cp.importID != rep.ID {
				t.Errorf("copy of imported event %s on %s under import %q, want %s under %q", cp.ev.ID, cp.subject, cp.importID, want, rep.ID)
			}
		} else if want := s.env.Names.EventSubject(cp.ev.Platform, group, sender); cp.subject != want || cp.importID != "" {
			t.Errorf("copy of live event %s on %s under import %q, want %s, live", cp.ev.ID, cp.subject, cp.importID, want)
		}
		if cp.ev.Sender.ID == strconv.FormatInt(a, 10) && cp.ev.At.Equal(reply.at) {
			rewritten = &copies[i]
		}
	}
	if rewritten == nil {
		t.Fatalf("no copy of the reply of %d to the erased %d among %d copies", a, b, len(copies))
	}
	if rewritten.ev.ReplyTo != "" {
		t.Errorf("the copy still replies to %q", rewritten.ev.ReplyTo)
	}
	if _, found, _ := q.Member(ctx, s.token(a)); !found {
		t.Errorf("member %d lost their card", a)
	}

	// A replay of the log gives the same cards, and finds no contact to change.
	contacts := s.lastContactSeqs()
	rdb, prefix := bridgetest.Redis(t)
	replay, err := bridge.New(bridge.Config{KeyPrefix: prefix, Policy: consent.PolicyNotice, SweepEvery: time.Hour,
		Retention: 90 * 24 * time.Hour, Now: func() time.Time { return now }}, rdb, s.env.JS, s.env.Pub, s.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := replay.Replay(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, uid := range c.users {
		if uid == b {
			continue
		}
		live, _, err := q.Member(ctx, s.token(uid))
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := replay.Query().Member(ctx, s.token(uid))
		if err != nil {
			t.Fatal(err)
		}
		live.LastSeen, live.FirstSeen = live.LastSeen.UTC(), live.FirstSeen.UTC()
		again.LastSeen, again.FirstSeen = again.LastSeen.UTC(), again.FirstSeen.UTC()
		if !reflect.DeepEqual(live, again) {
			t.Errorf("member %d after the erasure:\n live   %+v\n replay %+v", uid, live, again)
		}
	}
	if got := s.lastContactSeqs(); !reflect.DeepEqual(got, contacts) {
		for subj, seq := range got {
			if contacts[subj] != seq {
				t.Errorf("%s: a replay published a contact change the live bridge had not", subj)
			}
		}
	}

	// The copy expires with its day, as its original would have.
	live := s.liveEvents()
	day := reply.at.UTC().Truncate(24 * time.Hour)
	s.clock = func() time.Time { return day.Add(90*24*time.Hour + 2*24*time.Hour) }
	if err := s.bridge.ExpireHistory(ctx); err != nil {
		t.Fatal(err)
	}
	for _, cp := range s.erasureCopies() {
		if cp.seq == rewritten.seq {
			t.Errorf("the copy of an imported event of %s outlived its day's retention on %s", day.Format(time.DateOnly), cp.subject)
		}
	}
	if got := s.liveEvents(); got != live || live == 0 {
		t.Errorf("expiring history left %d live events of %d", got, live)
	}
}

// liveEvents counts the log's live events.
func (s *stack) liveEvents() uint64 {
	s.t.Helper()
	return s.eventsOn(s.env.Names.PlatformLiveFilter(events.Telegram))
}
