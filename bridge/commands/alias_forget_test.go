package commands_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

// TestForgetLinkedIDsWithoutAlias: a person WhatsApp knew first by phone id, then by LID
// with the phone as alias, asks for erasure from a chat whose event carries the LID and no
// alias. Both ids are erased, each by its own platform id: none of their events is left
// under either token, and no event in the log names either id or their name any more.
func TestForgetLinkedIDsWithoutAlias(t *testing.T) {
	s := newStack(t, consent.PolicyOptIn)
	ctx := context.Background()
	group := &events.Group{ID: "120363000000000888@g.us", Title: "Marseille entraide"}
	pn := events.Member{ID: "33600000002@s.whatsapp.net", Name: "Zoé Canari", Phone: "+33600000002"}
	lid := events.Member{ID: "987650002@lid", Name: "Zoé Canari", Phone: "+33600000002", Alias: pn.ID}
	n := 0
	ev := func(from events.Member, kind events.Kind, at time.Time, g *events.Group) events.Event {
		n++
		return events.Event{V: events.Version, ID: fmt.Sprintf("whatsapp:f%d", n), Kind: kind, Platform: events.WhatsApp,
			At: at, Group: g, Sender: from, Chars: 12}
	}
	neighbour := events.Member{ID: "33611000009@s.whatsapp.net", Name: "Voisin Numero9"}
	var evs []events.Event
	for d := 4; d >= 1; d-- {
		from := pn // the phone id only, then the LID with the phone as alias
		if d <= 2 {
			from = lid
		}
		at := e2eNow.AddDate(0, 0, -d)
		evs = append(evs, ev(from, events.KindMessage, at, group))
		r := ev(neighbour, events.KindMessage, at.Add(10*time.Minute), group)
		r.ReplyTo = from.ID
		r.Mentions = []string{from.ID}
		evs = append(evs, r)
	}
	s.publish(evs...)
	forget := ev(events.Member{ID: lid.ID, Name: lid.Name}, events.KindCommand, e2eNow.Add(-time.Minute), nil)
	forget.Command = &events.Command{Name: "oubli"}
	s.publish(forget)
	// The erasure runs off the batch loop; it confirms once every step succeeded.
	s.eventually(func() bool {
		for _, r := range s.replies() {
			if strings.Contains(r.ID, "forget-done") {
				return true
			}
		}
		return false
	})

	for _, m := range []events.Member{pn, lid} {
		tok := s.env.Hasher.Member(events.WhatsApp, m.ID)
		st, err := s.env.JS.Stream(ctx, s.env.Names.EventsStream())
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(s.env.Names.MemberEventsFilter(tok)))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) != 0 {
			t.Errorf("events of %s remain under its token: %v", m.ID, info.State.Subjects)
		}
	}
	for _, data := range streamData(t, s.env.JS, s.env.Names.EventsStream()) {
		for _, needle := range []string{"33600000002", "987650002", "Zoé", "Canari"} {
			if strings.Contains(data, needle) {
				t.Errorf("the event log still names the erased person (%q): %s", needle, data)
			}
		}
	}
}

// streamData reads every message a stream holds.
func streamData(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(m.Data))
	}
	return out
}
