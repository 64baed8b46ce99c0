package history_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// heldEnd is an importer's JetStream that keeps the import's end marker instead of
// publishing it: the import is still under way, as a long one is while the bridge works
// through its events.
type heldEnd struct {
	jetstream.JetStream
	end *nats.Msg
}

func (h *heldEnd) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if m.Header.Get(events.HeaderHistoryDone) != "" {
		h.end = m
		return &jetstream.PubAck{}, nil
	}
	return h.JetStream.PublishMsg(ctx, m, opts...)
}

// TestNoContactChangeMidImport: a routine sweep while an import's events are applied and its
// end not reached publishes no contact change, though the sweep's day moved on and every
// member the import changed is due; at the end each member the import changed gets one
// contact change. An import whose end never comes is settled by the sweeps once it has been
// quiet for HistoryQuiet.
func TestNoContactChangeMidImport(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ended bool // the end marker comes; otherwise the import is abandoned
	}{
		{"end marker settles", true},
		{"abandoned import settled by the sweep", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const quiet = 2 * time.Second
			c := makeConversation(25)
			_, tail := split(c)
			s := newStackWith(t, consent.PolicyNotice, func(cfg *bridge.Config) { cfg.HistoryQuiet = quiet })
			s.live(tail.updates()...)
			js := &heldEnd{JetStream: s.env.JS}
			im := &history.Importer{JS: js, Pub: s.env.Pub}
			rep, err := im.Import(context.Background(), []history.File{file("result.json", c.export())},
				history.Options{Now: now, BotID: botID, Suppressed: suppressedIn(s.store)})
			if err != nil || js.end == nil || rep.Groups[0].Published == 0 {
				t.Fatalf("import: %+v, end held %v, %v", rep, js.end != nil, err)
			}
			s.settled()
			before := s.crmChanges()

			// The next day: every member the import changed is due.
			s.clock = func() time.Time { return now.Add(24 * time.Hour) }
			_ = s.bridge.Sweep(context.Background()) // waits for the import: no error to check
			if mid := s.crmChanges(); !maps.Equal(mid, before) {
				for subj, n := range mid {
					if d := n - before[subj]; d > 0 {
						t.Errorf("%s: %d contact changes from a sweep during the import", subj, d)
					}
				}
			}

			if tc.ended {
				if _, err := s.env.JS.PublishMsg(context.Background(), js.end); err != nil {
					t.Fatal(err)
				}
				s.settled()
			} else {
				time.Sleep(quiet + 100*time.Millisecond)
				if err := s.bridge.Sweep(context.Background()); err != nil {
					t.Fatalf("sweep after the import went quiet: %v", err)
				}
			}
			changed := 0
			for subj, n := range s.crmChanges() {
				switch d := n - before[subj]; {
				case d > 1:
					t.Errorf("%s: %d contact changes from one import, want at most 1", subj, d)
				case d == 1:
					changed++
				}
			}
			if changed == 0 {
				t.Error("the import changed no contact: the test proves nothing")
			}
		})
	}
}
