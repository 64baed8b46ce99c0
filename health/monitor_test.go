package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/relais-bot/relais/crm/webhook"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// chat records what admins were told.
type chat struct {
	mu   sync.Mutex
	said []Announcement
}

func (c *chat) Notify(_ context.Context, a Announcement) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.said = append(c.said, a)
	return nil
}

func (c *chat) all() []Announcement {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Announcement(nil), c.said...)
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// receiver is a webhook endpoint that checks each request's signature.
type receiver struct {
	mu       sync.Mutex
	payloads [][]byte
	bad      int
}

func newReceiver(t *testing.T, secret string) (*receiver, *httptest.Server) {
	t.Helper()
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get(webhook.HeaderSignature) != webhook.Sign([]byte(secret), body) || req.Header.Get(webhook.HeaderTimestamp) == "" {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.payloads = append(r.payloads, body)
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) count() (good, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.payloads), r.bad
}

func events2(as []Announcement) (starts, ends int) {
	for _, a := range as {
		if a.Ending() {
			ends++
		} else {
			starts++
		}
	}
	return starts, ends
}

func TestIncidentStartsOnceEndsOnceAndFlappingIsOne(t *testing.T) {
	clk := &clock{t: t0}
	c := &chat{}
	m := NewMonitor(Config{Hold: 2 * time.Minute, Notifier: c, Now: clk.now})
	ctx := context.Background()
	kicked := Condition{Kind: TelegramGroupRemoved, Subject: "g_abc"}

	steps := []struct {
		after       time.Duration
		seen        bool
		starts, end int
	}{
		{0, true, 1, 0},                 // starts at once
		{30 * time.Second, true, 1, 0},  // still on: no second message
		{30 * time.Second, false, 1, 0}, // gone, within the hold
		{time.Minute, true, 1, 0},       // back: the same incident
		{30 * time.Second, false, 1, 0},
		{time.Minute, false, 1, 0},
		{time.Minute, false, 1, 1}, // gone for the hold: rétabli
		{time.Minute, false, 1, 1},
	}
	for i, s := range steps {
		clk.add(s.after)
		var conds []Condition
		if s.seen {
			conds = []Condition{kicked}
		}
		m.Observe(ctx, conds)
		starts, ends := events2(c.all())
		if starts != s.starts || ends != s.end {
			t.Fatalf("step %d: %d starts, %d ends; want %d, %d", i, starts, ends, s.starts, s.end)
		}
	}
	end := c.all()[1]
	if got, want := end.Ended.Sub(end.Started), 150*time.Second; got != want {
		t.Errorf("duration %v, want %v (from first seen to first gone for good)", got, want)
	}
	if txt := end.Text("fr"); txt != "✅ Rétabli après 2 min : Le bot a été retiré d'un groupe." {
		t.Errorf("text %q", txt)
	}
	if len(m.Open()) != 0 {
		t.Errorf("open after end: %v", m.Open())
	}
}

func TestDelayedKindsWaitAlertAfterCredentialsDoNot(t *testing.T) {
	clk := &clock{t: t0}
	c := &chat{}
	m := NewMonitor(Config{AlertAfter: 10 * time.Minute, Notifier: c, Now: clk.now})
	ctx := context.Background()
	failing := Condition{Kind: CRMFailing, Detail: "HTTP 503"}
	m.Observe(ctx, []Condition{failing})
	clk.add(9 * time.Minute)
	m.Observe(ctx, []Condition{failing})
	if n := len(c.all()); n != 0 {
		t.Fatalf("CRM failing for 9 min of 10 announced: %d", n)
	}
	clk.add(time.Minute)
	m.Observe(ctx, []Condition{failing, {Kind: CRMCredentials, Detail: "HTTP 401"}})
	got := c.all()
	if len(got) != 2 {
		t.Fatalf("want failing (past 10 min) and credentials (at once), got %v", got)
	}
	for _, a := range got {
		if a.Kind == CRMFailing && !a.Started.Equal(t0) {
			t.Errorf("failing started %v, want when first seen %v", a.Started, t0)
		}
	}
	if open := m.Open(); len(open) != 2 {
		t.Errorf("open: %v", open)
	}
	if got := gauge(t, m.open, CRMCredentials); got != 1 {
		t.Errorf("relais_health_incidents_open{kind=crm.credentials} = %v", got)
	}
	if got := gauge(t, m.conditions, DiskLow); got != 0 {
		t.Errorf("relais_health_conditions{kind=disk.low} = %v", got)
	}
}

func TestMetricsCountConditionsBeforeTheDelay(t *testing.T) {
	clk := &clock{t: t0}
	reg := prometheus.NewRegistry()
	m := NewMonitor(Config{AlertAfter: time.Hour, Now: clk.now, Registerer: reg})
	m.Observe(context.Background(), []Condition{{Kind: RedisUnreachable}, {Kind: GroupSilent, Subject: "g1"}, {Kind: GroupSilent, Subject: "g2"}})
	want := map[Kind][2]float64{RedisUnreachable: {1, 0}, GroupSilent: {2, 2}, DiskLow: {0, 0}}
	for kind, w := range want {
		c := gauge(t, m.conditions, kind)
		o := gauge(t, m.open, kind)
		if c != w[0] || o != w[1] {
			t.Errorf("%s: conditions %v open %v, want %v", kind, c, o, w)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "relais_health_conditions" && len(f.GetMetric()) != len(texts) {
			t.Errorf("gathered %d series, want one per kind", len(f.GetMetric()))
		}
	}
}

func gauge(t *testing.T, v *prometheus.GaugeVec, kind Kind) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues(string(kind)).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestReplicasAnnounceEachIncidentOnce(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	kv, err := events.OrganiserBucket(ctx, env.JS, env.Names, env.Names.HealthBucket(), 0)
	if err != nil {
		t.Fatal(err)
	}
	secret := "alert-secret-0123456789"
	rcv, srv := newReceiver(t, secret)
	clk := &clock{t: t0}
	c := &chat{}
	var replicas []*Monitor
	for i := range 2 {
		wh, err := NewWebhook(srv.URL, secret, "replica-"+strconv.Itoa(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, NewMonitor(Config{Hold: time.Minute, Claims: NewClaims(kv), Webhook: wh, Notifier: c, Now: clk.now}))
	}
	down := []Condition{{Kind: RedisUnreachable}}
	for range 3 {
		for _, m := range replicas {
			m.Observe(ctx, down) // Redis is a delayed kind: 15 min default
		}
		clk.add(10 * time.Minute)
	}
	for range 3 {
		for _, m := range replicas {
			m.Observe(ctx, nil)
		}
		clk.add(time.Minute)
	}
	starts, ends := events2(c.all())
	if starts != 1 || ends != 1 {
		t.Fatalf("two replicas: %d starts, %d ends told in chat; want 1 and 1", starts, ends)
	}
	if good, bad := rcv.count(); good != 2 || bad != 0 {
		t.Errorf("webhook: %d signed posts, %d badly signed; want 2, 0", good, bad)
	}
	// The same condition later is a new incident.
	for _, m := range replicas {
		m.Observe(ctx, []Condition{{Kind: TelegramConflict}})
	}
	if starts, _ := events2(c.all()); starts != 2 {
		t.Errorf("a new incident: %d starts in all, want 2", starts)
	}
}

// flaky is a Store that fails while down is set: NATS unreachable.
type flaky struct {
	Store
	mu   sync.Mutex
	down bool
}

var errUnreachable = errors.New("nats: no servers available for connection")

func (f *flaky) isDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *flaky) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if f.isDown() {
		return nil, errUnreachable
	}
	return f.Store.Get(ctx, key)
}

func (f *flaky) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if f.isDown() {
		return 0, errUnreachable
	}
	return f.Store.Create(ctx, key, value, opts...)
}

func (f *flaky) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if f.isDown() {
		return 0, errUnreachable
	}
	return f.Store.Update(ctx, key, value, rev)
}

func TestNATSDownWebhookDirectThenChatWithTimes(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	kv, err := events.OrganiserBucket(ctx, env.JS, env.Names, env.Names.HealthBucket(), 0)
	if err != nil {
		t.Fatal(err)
	}
	secret := "alert-secret-0123456789"
	rcv, srv := newReceiver(t, secret)
	wh, err := NewWebhook(srv.URL, secret, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	store := &flaky{Store: kv, down: true}
	clk := &clock{t: t0}
	c := &chat{}
	m := NewMonitor(Config{AlertAfter: 5 * time.Minute, Hold: time.Minute, Claims: NewClaims(store), Webhook: wh, Notifier: c, Now: clk.now})
	down := []Condition{{Kind: NATSUnreachable}}
	for range 4 {
		m.Observe(ctx, down)
		clk.add(2 * time.Minute)
	}
	if good, _ := rcv.count(); good != 1 {
		t.Fatalf("NATS down 6 min: %d webhook posts, want 1", good)
	}
	if n := len(c.all()); n != 0 {
		t.Fatalf("chat told while NATS is down: %d", n)
	}
	store.mu.Lock()
	store.down = false
	store.mu.Unlock()
	m.Observe(ctx, nil) // back: the hold starts
	clk.add(2 * time.Minute)
	m.Observe(ctx, nil)
	if good, _ := rcv.count(); good != 2 {
		t.Errorf("webhook posts %d, want start and end", good)
	}
	told := c.all()
	if len(told) != 2 || !told[0].Late || !told[1].Late || !told[1].Ending() {
		t.Fatalf("chat after NATS came back: %+v", told)
	}
	if got := told[1].Text("en"); got != "✅ Restored after 8 min: NATS is unreachable.\nSent late: NATS was unreachable. Started 2026-12-07 10:00 UTC, ended 2026-12-07 10:08 UTC." {
		t.Errorf("late text %q", got)
	}
}

func TestWebhookRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct{ url, secret string }{
		{"", "0123456789abcdef"},
		{"ftp://x", "0123456789abcdef"},
		{"https://alerts.example", "short"},
	} {
		if _, err := NewWebhook(tc.url, tc.secret, "", nil); err == nil {
			t.Errorf("NewWebhook(%q, %q) accepted", tc.url, tc.secret)
		}
	}
}
