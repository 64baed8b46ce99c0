package crmtest

import (
	"testing"
	"time"
)

// The window counts the most requests in any sliding window and refuses those beyond the
// limit with the wait until the oldest leaves it.
func TestRateWindow(t *testing.T) {
	var w RateWindow
	w.Set(3, time.Second)
	t0 := time.Unix(1_700_000_000, 0)
	for i, at := range []time.Duration{0, 100, 200} {
		if ok, _ := w.arrive(t0.Add(at * time.Millisecond)); !ok {
			t.Fatalf("request %d refused under the limit", i)
		}
	}
	ok, retry := w.arrive(t0.Add(300 * time.Millisecond))
	if ok || retry != "1" {
		t.Fatalf("fourth request in the window: ok=%v retry=%q, want refused, Retry-After 1", ok, retry)
	}
	// 1.15 s: the requests at 0 and 0.1 s left the window; 0.2, 0.3 and this one are in it.
	if ok, _ := w.arrive(t0.Add(1150 * time.Millisecond)); !ok {
		t.Fatal("request refused after the window slid")
	}
	if got := w.Max(); got != 4 {
		t.Errorf("Max = %d, want 4 (refused requests count: they reached the server)", got)
	}
	if got := w.Refused(); got != 1 {
		t.Errorf("Refused = %d, want 1", got)
	}
}
