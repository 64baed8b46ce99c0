package telegram

import (
	"context"

	"fmt"
	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

func (h *harness) queueCampaign(slug string, chat int64) {
	h.t.Helper()
	r := events.Reply{V: events.Version, Platform: events.Telegram, Chat: fmt.Sprint(chat), Private: true,
		Text:     "Samedi tractage",
		Buttons:  []events.Button{{Text: "📣 Je relaie", Data: "/jerelaie " + slug}, {Text: "Pas cette fois", Data: "/pascettefois " + slug}},
		Campaign: &events.CampaignTarget{Slug: slug, Member: fmt.Sprintf("m%d", chat)}}
	if err := h.env.Pub.QueueCampaign(context.Background(), r); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) outcome(slug string, chat int64) string {
	kv, err := h.env.JS.KeyValue(context.Background(), h.env.Names.CampaignsBucket())
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), events.DeliveryKey(slug, fmt.Sprintf("m%d", chat)))
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// TestCampaignDelivery: each recipient gets the message once with its buttons, even when
// the same recipient is queued again after its delivery; a member who blocked the bot is
// recorded as blocked and marked unreachable, never retried; a refusal Telegram answered
// with 400 is recorded as failed.
func TestCampaignDelivery(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	h.fake.Forbid(3003, "bot was blocked by the user")
	for _, chat := range []int64{3001, 3002, 3003} {
		h.queueCampaign("tract-1a2b", chat)
	}
	stop := run(t, a.ServeCampaigns)
	waitFor(t, "every outcome", func() bool {
		return h.outcome("tract-1a2b", 3001) == events.OutcomeSent && h.outcome("tract-1a2b", 3002) == events.OutcomeSent &&
			h.outcome("tract-1a2b", 3003) == events.OutcomeBlocked
	})
	// Queued again past the stream's duplicate window (a new message id): still not resent.
	r := events.Reply{V: events.Version, Platform: events.Telegram, Chat: "3001", Private: true, Text: "Samedi tractage",
		Campaign: &events.CampaignTarget{Slug: "tract-1a2b", Member: "m3001"}}
	m, err := h.env.Pub.CampaignMsg(r)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Set("Nats-Msg-Id", "another-id")
	if _, err := h.env.JS.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue drained", func() bool {
		return h.env.StreamMsgs(t, h.env.Names.CampaignsStream()) == 0
	})
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	per := map[int64]int{}
	for _, s := range h.fake.Sent() {
		per[s.ChatID]++
		texts, data := s.InlineButtons()
		if len(texts) != 2 || !strings.HasPrefix(data[0], "/jerelaie ") {
			t.Errorf("buttons %v %v", texts, data)
		}
	}
	if per[3001] != 1 || per[3002] != 1 || per[3003] != 0 {
		t.Fatalf("sent per chat %v, want once to 3001 and 3002", per)
	}
	kv, _ := h.env.JS.KeyValue(context.Background(), h.env.Names.CampaignsBucket())
	if e, err := kv.Get(context.Background(), events.ReachKey("m3003")); err != nil || string(e.Value()) != events.ReachBlocked {
		t.Errorf("the blocked member's reach: %v", err)
	}
}

func TestCampaignOutcome(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		outcome string
		retry   bool
	}{
		{"sent", nil, events.OutcomeSent, false},
		{"blocked", tgErr(403), events.OutcomeBlocked, false},
		{"flood", events.RetryAfter(tgErr(429), time.Second), events.OutcomeRetry, true},
		{"own flood limit", events.RetryAfter(fmt.Errorf("chat flood limit"), time.Second), events.OutcomeRetry, true},
		{"server error: not sent", tgErr(502), events.OutcomeRetry, true},
		{"bad request", events.Permanent(tgErr(400)), events.OutcomeFailed, false},
		{"transport: may have arrived", fmt.Errorf("read tcp: connection reset"), events.OutcomeFailed, false},
		{"shutdown mid-request: unknown", context.Canceled, "", false},
		{"gate not asked: nothing sent", gateError{fmt.Errorf("nats: timeout")}, events.OutcomeRetry, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, r := campaignOutcome(tt.err)
			if o != tt.outcome || r != tt.retry {
				t.Errorf("campaignOutcome = %q, %v; want %q, %v", o, r, tt.outcome, tt.retry)
			}
		})
	}
}

func tgErr(code int) *tgbotapi.Error { return &tgbotapi.Error{Code: code, Message: "Telegram says no"} }

// BenchmarkCampaignDelivery measures how fast a campaign of 100 recipients goes out to the
// fake Bot API: the pace, not the machine, bounds it (campaignRate under globalRate).
func BenchmarkCampaignDelivery(b *testing.B) {
	const recipients = 100
	h := newHarness(b)
	a := h.adapter()
	stop := run(b, a.ServeCampaigns)
	defer func() { _ = stop() }()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		slug := fmt.Sprintf("bench-%d", i)
		before := len(h.fake.Sent())
		for c := range recipients {
			h.queueCampaign(slug, int64(4000+c))
		}
		waitFor(b, "the campaign sent", func() bool { return len(h.fake.Sent()) >= before+recipients })
	}
	b.ReportMetric(float64(b.N*recipients)/time.Since(start).Seconds(), "msgs/s")
}
