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
// at a quarter of the rate for a while (the limit may be shared with other apps). Its pace
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

// NewThrottle paces at r requests per second with bursts of burst. r = rate.Inf disables
// pacing but keeps the 429 pause.
func NewThrottle(r rate.Limit, burst int) *Throttle {
	return &Throttle{limiter: rate.NewLimiter(r, max(burst, 1)), full: r, cooldown: time.Minute}
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
func (t *Throttle) Backoff(retryAfter time.Duration) {
	if t == nil {
		return
	}
	t.mu.Lock()
	now := time.Now()
	if till := now.Add(retryAfter); till.After(t.pauseTill) {
		t.pauseTill = till
	}
	t.slowTill = t.pauseTill.Add(t.cooldown)
	if t.limiter != nil && t.full != rate.Inf {
		t.limiter.SetLimit(t.full / 4)
	}
	t.mu.Unlock()
	if t.shared != nil {
		// Every other worker learns of the pause from the shared bucket. Best effort: this
		// process pauses anyway, and another 429 would say it again.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := t.shared.backoff(ctx, retryAfter); err != nil {
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
		d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if !ok {
			d = time.Second
		}
		tt.t.Backoff(d)
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
