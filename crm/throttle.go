package crm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle paces the requests to one CRM. It keeps under the CRM's published limit and,
// when the CRM answers 429 anyway, stops everyone until the Retry-After has passed and runs
// at half the rate for a while (the limit may be shared with other apps). Its pace
// is this process's (NewThrottle) or every CRM worker's (NewSharedThrottle).
type Throttle struct {
	limiter  *rate.Limiter // nil when shared
	shared   *sharedPace
	full     rate.Limit
	cooldown time.Duration

	mu        sync.Mutex
	pauseTill time.Time
	slowTill  time.Time
}

// After a 429 the pace is slowed to slowFactor for paceCooldown (past the Retry-After): one
// CRM window (NationBuilder counts 10 s). A longer or deeper slow-down makes throttling as
// costly as an outage: against a CRM that throttles one request in nine, a quarter of the
// pace for a minute left contact changes a minute late (measured by
// BenchmarkChangeLatencyUnderFaults); this keeps p99 within seconds.
const (
	slowFactor   = 0.5
	paceCooldown = 10 * time.Second
)

// NewThrottle paces at r requests per second with bursts of burst. r = rate.Inf disables
// pacing but keeps the 429 pause.
func NewThrottle(r rate.Limit, burst int) *Throttle {
	return &Throttle{limiter: rate.NewLimiter(r, max(burst, 1)), full: r, cooldown: paceCooldown}
}

// Wait blocks until a request may go out.
func (t *Throttle) Wait(ctx context.Context) error {
	if t == nil {
		return nil
	}
	for {
		t.mu.Lock()
		now := time.Now()
		pause := t.pauseTill.Sub(now)
		if !t.slowTill.IsZero() && now.After(t.slowTill) {
			t.slowTill = time.Time{}
			if t.limiter != nil {
				t.limiter.SetLimit(t.full)
			}
		}
		t.mu.Unlock()
		if pause <= 0 {
			break
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	if t.shared != nil {
		return t.shared.take(ctx)
	}
	return t.limiter.Wait(ctx)
}

// Backoff records that the CRM said "too many requests": nobody calls before retryAfter has
// passed, and the rate stays lowered for a minute after that.
func (t *Throttle) Backoff(retryAfter time.Duration) { t.pause(retryAfter, true) }

// pause stops every call until retryAfter has passed and, when slow, lowers the rate for the
// cooldown after it.
func (t *Throttle) pause(retryAfter time.Duration, slow bool) {
	if t == nil {
		return
	}
	t.mu.Lock()
	now := time.Now()
	if till := now.Add(retryAfter); till.After(t.pauseTill) {
		t.pauseTill = till
	}
	if slow {
		t.slowTill = t.pauseTill.Add(t.cooldown)
		if t.limiter != nil && t.full != rate.Inf {
			t.limiter.SetLimit(t.full * slowFactor)
		}
	}
	t.mu.Unlock()
	if t.shared != nil {
		// Every other worker learns of the pause from the shared bucket. Best effort: this
		// process pauses anyway, and another 429 would say it again.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := t.shared.backoff(ctx, retryAfter, slow); err != nil {
			t.shared.log.Warn("crm pace: could not share a 429 pause", "err", err.Error())
		}
	}
}

// Limit is this process's current pace, for status and tests (0 when shared).
func (t *Throttle) Limit() rate.Limit {
	if t.limiter == nil {
		return 0
	}
	return t.limiter.Limit()
}

// ErrPaced means a request waited for the CRM's pace until its deadline: pacing, not a
// failure of the CRM, and the worker counts it as it counts a 429.
var ErrPaced = errors.New("crm: no turn under the rate limit before the deadline")

// IsPaced reports whether err is the CRM's pace rather than a failure: a 429, or a request
// that did not get its turn in time.
func IsPaced(err error) bool {
	if errors.Is(err, ErrPaced) {
		return true
	}
	e, ok := AsError(err)
	return ok && e.Status == http.StatusTooManyRequests
}

// Transport wraps base (nil: http.DefaultTransport) so every request waits for the throttle
// and every 429 answer slows it down.
func (t *Throttle) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return throttledTransport{t: t, base: base}
}

type throttledTransport struct {
	t    *Throttle
	base http.RoundTripper
}

func (tt throttledTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := tt.t.Wait(req.Context()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPaced, err)
	}
	resp, err := tt.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		// A Retry-After says exactly when to resume: pause until then, and no longer. Without
		// one, guess a second and slow down for a while.
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			tt.t.pause(d, false)
		} else {
			tt.t.Backoff(time.Second)
		}
	}
	return resp, err
}

// NewHTTPClient is the client the CRM adapters use by default: paced by t (nil: not paced)
// and bounded in time, so a stuck CRM never holds a change forever.
func NewHTTPClient(t *Throttle) *http.Client {
	var rt http.RoundTripper = http.DefaultTransport
	if t != nil {
		rt = t.Transport(nil)
	}
	return &http.Client{Transport: rt, Timeout: 30 * time.Second}
}
