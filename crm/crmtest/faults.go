// Package crmtest fakes the CRMs relais writes to: NationBuilder v2, CiviCRM APIv4 and a
// webhook receiver. Each fake validates requests the way the real API does (headers, body
// shape, known fields), keeps what it was sent, counts requests by route and status, and can
// inject the failures real CRMs produce: 429 with Retry-After, 503, a whole outage.
package crmtest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults decides which requests fail. Safe for concurrent use.
type Faults struct {
	mu         sync.Mutex
	rng        *rand.Rand
	next429    int
	next503    int
	p429, p503 float64
	down       bool
	retryAfter string
	injected   map[int]int
	routes     map[string]*routeFault
}

// routeFault fails requests to one route: after more pass, then the next fail with
// statuses, in order.
type routeFault struct {
	after    int
	statuses []int
}

// NewFaults returns a fault injector whose random choices replay with the same seed.
func NewFaults(seed uint64) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), retryAfter: "1", injected: map[int]int{}}
}

// FailNext makes the next n requests answer status (429 or 503).
func (f *Faults) FailNext(status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch status {
	case http.StatusTooManyRequests:
		f.next429 = n
	default:
		f.next503 = n
	}
}

// SetRates makes each request fail with these probabilities.
func (f *Faults) SetRates(p429, p503 float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.p429, f.p503 = p429, p503
}

// SetDown makes every request answer 503 until SetDown(false).
func (f *Faults) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// SetRetryAfter is the Retry-After header a 429 carries ("" for none).
func (f *Faults) SetRetryAfter(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAfter = v
}

// Injected returns how many failures were injected, by status.
func (f *Faults) Injected() map[int]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.injected)
}

// FailOn makes requests to route ("METHOD /pattern", as the fake's mux names it) fail: the
// next after pass, then the following ones answer statuses, one each, in order. It
// interrupts a multi-step write at a chosen step.
func (f *Faults) FailOn(route string, after int, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.routes == nil {
		f.routes = map[string]*routeFault{}
	}
	f.routes[route] = &routeFault{after: after, statuses: statuses}
}

// pickFor is pick for a request to route: a FailOn for it comes first.
func (f *Faults) pickFor(route string) (int, string) {
	if f == nil {
		return 0, ""
	}
	f.mu.Lock()
	if rf := f.routes[route]; rf != nil {
		switch {
		case rf.after > 0:
			rf.after--
		case len(rf.statuses) > 0:
			status := rf.statuses[0]
			rf.statuses = rf.statuses[1:]
			f.mu.Unlock()
			return f.injectedStatus(status)
		}
	}
	f.mu.Unlock()
	return f.pick()
}

func (f *Faults) injectedStatus(status int) (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injected[status]++
	if status == http.StatusTooManyRequests {
		return status, f.retryAfter
	}
	return status, ""
}

// pick returns the status to fail with, or 0, and the Retry-After to send.
func (f *Faults) pick() (int, string) {
	if f == nil {
		return 0, ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	status := 0
	switch {
	case f.down:
		status = http.StatusServiceUnavailable
	case f.next429 > 0:
		f.next429--
		status = http.StatusTooManyRequests
	case f.next503 > 0:
		f.next503--
		status = http.StatusServiceUnavailable
	default:
		r := f.rng.Float64()
		if r < f.p429 {
			status = http.StatusTooManyRequests
		} else if r < f.p429+f.p503 {
			status = http.StatusServiceUnavailable
		}
	}
	if status == 0 {
		return 0, ""
	}
	f.injected[status]++
	if status == http.StatusTooManyRequests {
		return status, f.retryAfter
	}
	return status, ""
}

// RateWindow counts requests over a sliding window and, given a limit, refuses those beyond
// it, as a CRM's rate limit does (NationBuilder: 250 per 10 s). Every request that reaches
// the server counts, refused ones included: the count measures what clients sent. Safe for
// concurrent use.
type RateWindow struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	arrived []time.Time // within the last window
	max     int
	refused int
}

// Set makes the window refuse requests beyond limit in any sliding window (0: count only).
func (w *RateWindow) Set(limit int, window time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.limit, w.window = limit, window
	w.arrived, w.max, w.refused = nil, 0, 0
}

// arrive counts a request at now. ok is false when it goes beyond the limit; retryAfter is
// then when the oldest request in the window leaves it, in whole seconds as CRMs send it.
func (w *RateWindow) arrive(now time.Time) (ok bool, retryAfter string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.window <= 0 {
		return true, ""
	}
	keep := 0
	for keep < len(w.arrived) && !w.arrived[keep].After(now.Add(-w.window)) {
		keep++
	}
	w.arrived = append(w.arrived[keep:], now)
	w.max = max(w.max, len(w.arrived))
	if w.limit <= 0 || len(w.arrived) <= w.limit {
		return true, ""
	}
	w.refused++
	wait := w.arrived[0].Add(w.window).Sub(now)
	return false, strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second)))
}

// Max is the most requests seen in any sliding window so far.
func (w *RateWindow) Max() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max
}

// Refused is how many requests went beyond the limit.
func (w *RateWindow) Refused() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}

// Counter counts requests by route and status. Safe for concurrent use.
type Counter struct {
	mu        sync.Mutex
	byRoute   map[string]int
	total     int
	malformed int
	reasons   []string
}

func newCounter() *Counter { return &Counter{byRoute: map[string]int{}} }

func (c *Counter) add(route string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	c.byRoute[fmt.Sprintf("%s %d", route, status)]++
}

func (c *Counter) reject(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.malformed++
	if len(c.reasons) < 20 {
		c.reasons = append(c.reasons, reason)
	}
}

// Total is the number of requests received.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Malformed is the number of requests the fake rejected as the real API would (bad
// headers, bad shape, unknown fields); MalformedReasons says why for the first few.
func (c *Counter) Malformed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.malformed
}

// MalformedReasons lists why the first rejected requests were rejected.
func (c *Counter) MalformedReasons() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reasons)
}

// ByRoute returns request counts keyed "METHOD /route STATUS".
func (c *Counter) ByRoute() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byRoute)
}

// Summary is a one-line, sorted rendering of ByRoute for test logs.
func (c *Counter) Summary() string {
	routes := c.ByRoute()
	keys := slices.Sorted(maps.Keys(routes))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, routes[k]))
	}
	return fmt.Sprintf("total %d, malformed %d; %s", c.Total(), c.Malformed(), strings.Join(parts, ", "))
}

// statusRecorder remembers the status a handler wrote, for the counter.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
