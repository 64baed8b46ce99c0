package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge/commands/campaigns"
	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// sent records the answers a feature sends; what it makes is a bare private reply.
type sent struct{ texts []string }

func (s *sent) Here(ev events.Event, kind, text string) events.Reply {
	return s.Private(ev, kind, text)
}
func (s *sent) Private(ev events.Event, _, text string) events.Reply {
	return events.Reply{Platform: ev.Platform, Chat: ev.Sender.ID, Private: true, Text: text}
}
func (s *sent) Send(_ context.Context, r events.Reply) error {
	s.texts = append(s.texts, r.Text)
	return nil
}
func (s *sent) SendPrivately(ctx context.Context, _ events.Event, r events.Reply) error {
	return s.Send(ctx, r)
}

// Until Enable, campaigns answer every one of their commands that they are not available,
// add nothing to the notice or the digest, and what the rights ask of them does nothing
// (no bucket is reached: Deps has none).
func TestOffUntilEnabled(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ lang, disabled string }{
		{"fr", "Les campagnes ne sont pas disponibles ici."},
		{"en", "Campaigns are not available here."},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			out := &sent{}
			f, err := campaigns.New(campaigns.Deps{Lang: tt.lang, Replies: out})
			if err != nil {
				t.Fatal(err)
			}
			specs := f.Commands()
			if len(specs) != 8 {
				t.Fatalf("%d campaign commands declared, want 8", len(specs))
			}
			for _, s := range specs {
				if s.Off == nil || !s.Off() {
					t.Errorf("/%s is on before Enable", s.Key)
				}
				ev := events.Event{ID: "telegram:1:" + s.Key, Platform: events.Telegram, Sender: events.Member{ID: "7"},
					Command: &events.Command{Name: s.Names[0]}}
				out.texts = nil
				if err := s.Run(ctx, command.Request{Event: ev, Member: "m", Organiser: true}); err != nil {
					t.Fatalf("/%s: %v", s.Key, err)
				}
				if len(out.texts) != 1 || out.texts[0] != tt.disabled {
					t.Errorf("/%s answered %q, want %q", s.Key, out.texts, tt.disabled)
				}
			}
			if line := f.NoticeLine(); line != "" {
				t.Errorf("notice line %q while campaigns are off", line)
			}
			if text, err := f.Digest(ctx, scope.Everything(), time.Now()); text != "" || err != nil {
				t.Errorf("digest section %q, %v while campaigns are off", text, err)
			}
			ev := events.Event{Platform: events.Telegram, Sender: events.Member{ID: "7"}}
			for name, err := range map[string]error{
				"mark":      f.MarkDoNotContact(ctx, []string{"m"}, events.DoNotContactStop),
				"clear":     f.ClearDoNotContact(ctx, "m"),
				"forget":    f.Forget(ctx, []string{"m"}),
				"reachable": f.NoteReachable(ctx, ev, "m"),
			} {
				if err != nil {
					t.Errorf("%s: %v while campaigns are off", name, err)
				}
			}
			f.CountObjection(ctx, "m")
		})
	}
}

func TestEnableRefusesBadSettings(t *testing.T) {
	f, err := campaigns.New(campaigns.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Enable(context.Background(), campaigns.Config{MaxPerWeek: 2}); err == nil {
		t.Error("campaigns enabled without an audience query")
	}
	if err := f.Enable(context.Background(), campaigns.Config{MaxPerWeek: -1, Audience: nil}); err == nil {
		t.Error("campaigns enabled with a negative cap")
	}
}
