package telegram

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
)

const testSecret = "relais-Webhook_secret-42"

func webhookAdapter(t *testing.T, h *harness) (*Adapter, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a := h.adapter(func(c *Config) {
		c.WebhookURL = srv.URL + "/telegram/hook"
		c.WebhookSecret = testSecret
	})
	mux.Handle("/telegram/hook", a.WebhookHandler())
	return a, srv
}

// TestWebhook registers the webhook with its secret, refuses requests without the right
// secret (publishing nothing), and stores what Telegram delivers with it.
func TestWebhook(t *testing.T) {
	h := newHarness(t)
	a, srv := webhookAdapter(t, h)
	stop := run(t, a.Run)
	waitFor(t, "webhook registered", func() bool { return h.fake.Webhook() != nil })
	wh := h.fake.Webhook()
	if wh.URL != srv.URL+"/telegram/hook" || wh.SecretToken != testSecret || !slices.Contains(wh.AllowedUpdates, "message_reaction") {
		t.Fatalf("webhook = %+v", wh)
	}

	nord := tgtest.Supergroup(-1001000000001, "Nord")
	h.fake.Text(nord, ann, "hello")
	body := h.fake.LastUpdate()
	for _, tc := range []struct {
		name, method, secret string
		want                 int
	}{
		{"no secret", http.MethodPost, "", http.StatusUnauthorized},
		{"wrong secret", http.MethodPost, "relais-Webhook_secret-43", http.StatusUnauthorized},
		{"secret prefix", http.MethodPost, testSecret[:10], http.StatusUnauthorized},
		{"secret in other case", http.MethodPost, strings.ToUpper(testSecret), http.StatusUnauthorized},
		{"GET", http.MethodGet, testSecret, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, wh.URL, strings.NewReader(string(body)))
			if tc.secret != "" {
				req.Header.Set(SecretHeader, tc.secret)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if n := h.streamCount(); n != 0 {
		t.Fatalf("refused requests published %d events", n)
	}

	h.fake.Reply(nord, bob, 1, "hi")
	h.fake.PushRaw([]byte(`{"update_id":`)) // undecodable: skipped, or it would block the queue
	h.fake.Text(nord, chloe, "hey")
	n, err := h.fake.DeliverWebhook(context.Background(), srv.Client())
	if err != nil || n != 4 {
		t.Fatalf("delivered %d, err %v; want 4 accepted", n, err)
	}
	if got := h.streamCount(); got != 3 {
		t.Errorf("stream holds %d events, want 3", got)
	}
	if h.fake.Calls("getUpdates") != 0 {
		t.Errorf("webhook mode polled getUpdates")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

type failingPublisher struct{}

func (failingPublisher) Event(context.Context, events.Event) (bool, error) {
	return false, errors.New("nats down")
}

// TestWebhookUnstoredIsRetried: when JetStream does not ack, the webhook answers an error so
// Telegram delivers the update again.
func TestWebhookUnstoredIsRetried(t *testing.T) {
	h := newHarness(t)
	a, srv := webhookAdapter(t, h)
	if err := a.setWebhook(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.pub = failingPublisher{}
	h.fake.Text(tgtest.Supergroup(-1001000000001, "Nord"), ann, "hello")
	if n, err := h.fake.DeliverWebhook(context.Background(), srv.Client()); err == nil || n != 0 {
		t.Fatalf("delivered %d (err %v) while JetStream is down", n, err)
	}
	if h.fake.Pending() != 1 {
		t.Fatalf("Telegram dropped an update that was not stored")
	}
	a.pub = h.env.Pub
	if n, err := h.fake.DeliverWebhook(context.Background(), srv.Client()); err != nil || n != 1 {
		t.Fatalf("redelivery: %d, %v", n, err)
	}
	if h.streamCount() != 1 {
		t.Fatalf("update not stored after redelivery")
	}
}

// TestWebhookNeedsSecret: webhook mode without a usable secret is refused at start.
func TestWebhookNeedsSecret(t *testing.T) {
	h := newHarness(t)
	for _, secret := range []string{"", "has space", strings.Repeat("a", 257)} {
		cfg := h.config()
		cfg.WebhookURL, cfg.WebhookSecret = "https://example.org/hook", secret
		if _, err := New(context.Background(), cfg, h.env.JS, h.env.Pub); err == nil {
			t.Errorf("secret %q accepted", secret)
		}
	}
}
