package telegram

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
)

// crashingPublisher lets `after` events through, then kills the adapter: it cancels the
// run and makes Telegram unreachable, as a dying process would leave things.
type crashingPublisher struct {
	real  eventPublisher
	after int
	kill  func()

	mu sync.Mutex
	n  int
}

func (p *crashingPublisher) Event(ctx context.Context, e events.Event) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n >= p.after {
		p.kill()
		return false, errors.New("killed")
	}
	p.n++
	dup, err := p.real.Event(ctx, e)
	if p.n == p.after {
		p.kill() // dies right after the last publish, before confirming the batch
	}
	return dup, err
}

// TestKillBetweenFetchAndPublish kills the adapter after it fetched a batch, at several
// points of publishing it, then restarts one: every update is in the stream exactly once,
// and Telegram never saw an offset confirm an update whose events were not stored.
func TestKillBetweenFetchAndPublish(t *testing.T) {
	const updates = 8
	for _, after := range []int{0, 3, updates} {
		t.Run(fmt.Sprintf("after %d of %d", after, updates), func(t *testing.T) {
			h := newHarness(t)
			nord := tgtest.Supergroup(-1001000000001, "Nord")
			sud := tgtest.Supergroup(-1001000000002, "Sud")
			var ids, wantIDs []int
			for i := range updates {
				chat := []tgtest.Chat{nord, sud}[i%2]
				m := h.fake.Text(chat, []tgtest.User{ann, bob, chloe}[i%3], fmt.Sprintf("message %d", i))
				ids = append(ids, lastUpdateID(t, h.fake))
				wantIDs = append(wantIDs, m)
			}
			var violations []string
			h.fake.OnConfirm(func(offset int) {
				confirmed := 0
				for _, id := range ids {
					if id < offset {
						confirmed++
					}
				}
				if stored := h.streamCount(); stored < confirmed {
					violations = append(violations, fmt.Sprintf("offset %d confirms %d updates, %d stored", offset, confirmed, stored))
				}
			})

			first := h.adapter()
			ctx, cancel := context.WithCancel(context.Background())
			first.pub = &crashingPublisher{real: h.env.Pub, after: after, kill: func() {
				h.fake.InjectError("getUpdates", tgtest.InternalError())
				cancel()
			}}
			done := make(chan error, 1)
			go func() { done <- first.Run(ctx) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("first run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("killed adapter did not stop")
			}
			if got := h.fake.Pending(); got != updates {
				t.Fatalf("after the kill Telegram holds %d updates, want all %d unconfirmed", got, updates)
			}
			if got := h.streamCount(); got != after {
				t.Fatalf("after the kill the stream holds %d events, want %d", got, after)
			}

			second := h.adapter()
			stop := run(t, second.Run)
			waitFor(t, "every update confirmed", func() bool { return h.fake.Pending() == 0 })
			if err := stop(); err != nil {
				t.Fatalf("second run: %v", err)
			}
			got := h.streamEvents()
			if len(got) != updates {
				t.Fatalf("stream holds %d events, want %d:\n%s", len(got), updates, strings.Join(summaries(got), "\n"))
			}
			seen := map[string]bool{}
			for _, e := range got {
				if seen[e.ID] {
					t.Errorf("event %s stored twice", e.ID)
				}
				seen[e.ID] = true
			}
			for i, m := range wantIDs {
				chat := []tgtest.Chat{nord, sud}[i%2]
				if id := fmt.Sprintf("telegram:%d:%d", chat.ID, m); !seen[id] {
					t.Errorf("event %s lost", id)
				}
			}
			if len(violations) > 0 {
				t.Errorf("offsets confirmed before publishing:\n%s", strings.Join(violations, "\n"))
			}
		})
	}
}

func lastUpdateID(t *testing.T, f *tgtest.Server) int {
	t.Helper()
	return int(lastUpdate(t, f)["update_id"].(float64))
}

// TestTooManyRequestsWaitsRetryAfter: a 429 on getUpdates is waited out for retry_after
// before the next call, and nothing is lost.
func TestTooManyRequestsWaitsRetryAfter(t *testing.T) {
	h := newHarness(t)
	h.fake.InjectError("getUpdates", tgtest.TooManyRequests(1))
	h.fake.Text(tgtest.Supergroup(-1001000000001, "Nord"), ann, "hello")
	stop := run(t, h.adapter().Run)
	waitFor(t, "the message stored", func() bool { return h.streamCount() == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	calls := h.fake.CallTimes("getUpdates")
	if len(calls) < 2 {
		t.Fatalf("getUpdates called %d times, want a retry", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < time.Second {
		t.Errorf("retried after %s, Telegram asked for 1s", gap)
	}
}

// TestUpdateIDsJump: after a quiet week Telegram picks update ids at random, higher or
// lower than before; nothing may be dropped or stuck.
func TestUpdateIDsJump(t *testing.T) {
	h := newHarness(t)
	nord := tgtest.Supergroup(-1001000000001, "Nord")
	stop := run(t, h.adapter().Run)
	for i, next := range []int{0, 987654321, 5} {
		if next != 0 {
			h.fake.SetNextUpdateID(next)
		}
		h.fake.Text(nord, ann, "a")
		h.fake.Text(nord, bob, "b")
		want := 2 * (i + 1)
		waitFor(t, fmt.Sprintf("%d events", want), func() bool { return h.streamCount() == want && h.fake.Pending() == 0 })
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := h.streamCount(); got != 6 {
		t.Errorf("stream holds %d events, want 6", got)
	}
}

// TestUnauthorizedStops: a refused token ends Run with a clear error instead of retrying
// forever.
func TestUnauthorizedStops(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	h.fake.InjectError("getUpdates", tgtest.Unauthorized())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := a.Run(ctx)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run = %v, want ErrUnauthorized", err)
	}
}

// TestConflictBacksOff: a 409 (another poller, or a webhook) is logged and retried.
func TestConflictBacksOff(t *testing.T) {
	h := newHarness(t)
	h.fake.InjectError("getUpdates", tgtest.Conflict())
	h.fake.Text(tgtest.Supergroup(-1001000000001, "Nord"), ann, "hello")
	stop := run(t, h.adapter().Run)
	waitFor(t, "the message stored", func() bool { return h.streamCount() == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.logs.String(), "conflict") {
		t.Errorf("409 not logged")
	}
}

// TestStopsPromptlyDuringLongPoll: cancelling Run ends a long poll in flight.
func TestStopsPromptlyDuringLongPoll(t *testing.T) {
	h := newHarness(t)
	a := h.adapter(func(c *Config) { c.PollTimeout = time.Minute })
	stop := run(t, a.Run)
	waitFor(t, "a long poll in flight", func() bool { return h.fake.Calls("getUpdates") > 0 })
	if err := stop(); err != nil { // run fails the test if it takes 20s, far under the minute
		t.Fatal(err)
	}
}

// TestOnePollerPerToken: a second adapter for the same token waits for the lock and takes
// over when the first stops.
func TestOnePollerPerToken(t *testing.T) {
	h := newHarness(t)
	nord := tgtest.Supergroup(-1001000000001, "Nord")
	stop1 := run(t, h.adapter().Run)
	waitFor(t, "first poller polling", func() bool { return h.fake.Calls("getUpdates") > 0 })
	stop2 := run(t, h.adapter().Run)
	waitFor(t, "second poller waiting", func() bool {
		return strings.Contains(h.logs.String(), "lock held by another process")
	})
	h.fake.Text(nord, ann, "one")
	waitFor(t, "first event", func() bool { return h.streamCount() == 1 })
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	h.fake.Text(nord, bob, "two")
	waitFor(t, "second event through the second poller", func() bool { return h.streamCount() == 2 })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
}

// TestTokenNeverLogged runs the adapter through errors that quote request URLs (an API
// error, then Telegram unreachable) and checks neither logs nor errors carry the token.
func TestTokenNeverLogged(t *testing.T) {
	h := newHarness(t)
	token := h.fake.Token()
	h.fake.InjectError("getUpdates", tgtest.InternalError())
	h.fake.Text(tgtest.Supergroup(-1001000000001, "Nord"), ann, "hello")
	stop := run(t, h.adapter().Run)
	waitFor(t, "the message stored", func() bool { return h.streamCount() == 1 })
	h.fake.Close() // every later request fails to dial, quoting its URL
	waitFor(t, "a dial error logged", func() bool { return strings.Count(h.logs.String(), "getUpdates failed") >= 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	_, err := New(context.Background(), h.config(), h.env.JS, h.env.Pub)
	if err == nil {
		t.Fatal("New against a closed server succeeded")
	}
	for what, text := range map[string]string{"logs": h.logs.String(), "error": err.Error()} {
		if strings.Contains(text, token) || strings.Contains(text, strings.Split(token, ":")[1]) {
			t.Errorf("token in %s:\n%s", what, text)
		}
		if !strings.Contains(text, tokenMask) {
			t.Errorf("%s carry no redacted URL; the test does not exercise redaction:\n%s", what, text)
		}
	}
}

// holdLock writes the bot's poll lock as another process of instance would leave it: a
// holder that renews no more (killed), with the lease it announced.
func (h *harness) holdLock(instance string, lease time.Duration) {
	h.t.Helper()
	ctx := context.Background()
	kv, err := h.env.JS.KeyValue(ctx, h.env.Names.LocksBucket())
	if err != nil {
		h.t.Fatal(err)
	}
	v := fmt.Sprintf(`{"instance":%q,"process":"elsewhere/1/deadbeef","lease_ms":%d}`, instance, lease.Milliseconds())
	if _, err := kv.Put(ctx, fmt.Sprintf("telegram-%d", h.fake.Bot().ID), []byte(v)); err != nil {
		h.t.Fatal(err)
	}
}

// TestRestartReclaimsOwnLock: a poller killed without releasing its lock leaves it behind;
// the same instance restarted polls at once, another instance waits for the lease.
func TestRestartReclaimsOwnLock(t *testing.T) {
	h := newHarness(t)
	h.holdLock("relais-a", time.Minute)
	other := h.adapter(func(c *Config) { c.Instance = "relais-b" })
	stopOther := run(t, other.Run)
	waitFor(t, "relais-b waiting", func() bool { return strings.Contains(h.logs.String(), "lock held by another process") })
	time.Sleep(500 * time.Millisecond)
	if n := h.fake.Calls("getUpdates"); n != 0 {
		t.Fatalf("another instance polled (%d getUpdates) while the lock was held", n)
	}
	if err := stopOther(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	stop := run(t, h.adapter(func(c *Config) { c.Instance = "relais-a" }).Run)
	waitFor(t, "the restarted instance polling", func() bool { return h.fake.Calls("getUpdates") > 0 })
	took := time.Since(start)
	t.Logf("restarted instance polling %s after start", took.Round(time.Millisecond))
	if took > events.LockLease/2 {
		t.Errorf("restarted instance waited %s for its own lock", took)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestConflictLoggedOnce: a run of 409s is one warning, polling goes on while the lock is
// still ours, and nothing is lost.
func TestConflictLoggedOnce(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		h.fake.InjectError("getUpdates", tgtest.Conflict())
	}
	h.fake.Text(tgtest.Supergroup(-1001000000001, "Nord"), ann, "hello")
	stop := run(t, h.adapter().Run)
	waitFor(t, "the message stored", func() bool { return h.streamCount() == 1 })
	waitFor(t, "the conflict over", func() bool { return strings.Contains(h.logs.String(), "conflict over") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "level=WARN msg=\"telegram getUpdates conflict"); n != 1 {
		t.Errorf("409 warned %d times, want once:\n%s", n, logs)
	}
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs)
	}
}

// TestConflictLockGoneStopsPolling: a 409 while the lock has become another process's stops
// this poller at once (no confirm, no crash); it waits for the lock like any other process.
func TestConflictLockGoneStopsPolling(t *testing.T) {
	h := newHarness(t)
	a := h.adapter(func(c *Config) { c.Instance = "relais-a" })
	stop := run(t, a.Run)
	waitFor(t, "polling", func() bool { return h.fake.Calls("getUpdates") > 0 })
	h.holdLock("relais-b", time.Minute)
	h.fake.InjectError("getUpdates", tgtest.Conflict())
	h.fake.Text(tgtest.Supergroup(-1001000000001, "Nord"), ann, "wake the long poll") // ends it with the 409
	waitFor(t, "the poller waiting for the lock", func() bool {
		return strings.Contains(h.logs.String(), "lock held by another process")
	})
	if !strings.Contains(h.logs.String(), "getUpdates conflict") {
		t.Errorf("the 409 was not logged:\n%s", h.logs.String())
	}
	calls := h.fake.Calls("getUpdates")
	time.Sleep(time.Second)
	if n := h.fake.Calls("getUpdates"); n != calls {
		t.Errorf("getUpdates called %d more times after the lock went to another process", n-calls)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
