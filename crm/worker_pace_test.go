package crm_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
)

type retried struct {
	failures int
	delay    time.Duration
}

// deliveries is how many times the worker's consumer delivered messages, redeliveries
// included.
func (r *rig) deliveries(t *testing.T) uint64 {
	t.Helper()
	ctx := context.Background()
	cons, err := r.env.JS.Consumer(ctx, r.env.Names.CRMStream(), r.env.Names.CRMConsumer())
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.Delivered.Consumer
}

// TestPaceIsNotFailure: 429s are waited out in place and leave a change's failure count and
// backoff alone; only real failures (503 here) count, and the backoff grows with them alone.
func TestPaceIsNotFailure(t *testing.T) {
	const base = 50 * time.Millisecond
	for _, tc := range []struct {
		name       string
		statuses   []int
		wantCounts []int // failure counts the worker retried with
		deliveries uint64
	}{
		{"429s only", []int{429, 429, 429}, nil, 1},
		{"503, 429s, 503", []int{503, 429, 429, 503}, []int{1, 2}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu   sync.Mutex
				seen []retried
			)
			r := startRigWith(t, crm.WorkerConfig{BaseDelay: base, MaxDelay: time.Second}, func(w *crm.Worker) {
				crm.OnRetry(w, func(_ string, failures int, delay time.Duration) {
					mu.Lock()
					seen = append(seen, retried{failures, delay})
					mu.Unlock()
				})
			})
			r.nb.Faults.SetRetryAfter("0.2")
			r.nb.Faults.FailOn("PATCH /api/v2/signups/push", 0, tc.statuses...)
			r.publish(t, change("m1", 1, []string{"relais-actif"}, false, ""))
			r.waitDrained(t, 30*time.Second)
			if s, ok := r.nb.SignupByExternalID("relais-m1"); !ok || !slices.Contains(s.Tags, "relais-actif") {
				t.Fatalf("signup %+v (found %v)", s, ok)
			}
			mu.Lock()
			defer mu.Unlock()
			var counts []int
			for _, s := range seen {
				counts = append(counts, s.failures)
			}
			if !slices.Equal(counts, tc.wantCounts) {
				t.Errorf("retried with failure counts %v, want %v: a 429 counted as a failure", counts, tc.wantCounts)
			}
			for _, s := range seen {
				// Backoff(n) is base·2^(n-1) ±20 %: had the 429s counted, the second 503
				// would ask for base·8.
				if hi := base << (s.failures - 1) * 12 / 10; s.delay > hi {
					t.Errorf("failure %d asked %s, more than its backoff allows (%s)", s.failures, s.delay, hi)
				}
			}
			if got := r.deliveries(t); got != tc.deliveries {
				t.Errorf("the change was delivered %d times, want %d: 429s must not send it back to the stream", got, tc.deliveries)
			}
			if got := r.nb.Faults.Injected()[http.StatusTooManyRequests]; got == 0 {
				t.Error("no 429 was injected: the test proves nothing")
			}
		})
	}
}

// TestInterruptedChangeResumes: a change cut after the signup push and one tag resumes with
// only the tags left: neither the push nor the first tag is sent again, whether the cut was
// a 503 (retried from the stream, progress read back from the refs bucket) or a 429 (waited
// out in place).
func TestInterruptedChangeResumes(t *testing.T) {
	const taggings = "POST /api/v2/signup_taggings"
	tags := []string{"relais-actif", "relais-groupe-lyon", "relais-leader"}
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			r := startRig(t, crm.WorkerConfig{})
			r.nb.Faults.SetRetryAfter("0.2")
			r.nb.Faults.FailOn(taggings, 1, status) // the second tag fails once
			r.publish(t, change("m1", 1, tags, false, ""))
			r.waitDrained(t, 30*time.Second)
			s, ok := r.nb.SignupByExternalID("relais-m1")
			if !ok || !slices.Equal(s.Tags, tags) {
				t.Fatalf("signup %+v (found %v), want tags %v", s, ok, tags)
			}
			routes := r.nb.Requests.ByRoute()
			t.Log(r.nb.Requests.Summary())
			if got := routes["PATCH /api/v2/signups/push 201"] + routes["PATCH /api/v2/signups/push 200"]; got != 1 {
				t.Errorf("signup pushed %d times, want once", got)
			}
			if got := routes[taggings+" 201"]; got != len(tags) {
				t.Errorf("%d taggings made, want %d: one per tag, none repeated", got, len(tags))
			}
			if got := routes[taggings+" 422"]; got != 0 {
				t.Errorf("%d taggings repeated (422 taken)", got)
			}
			if got := routes[taggings+" "+itoa(status)]; got != 1 {
				t.Errorf("%d taggings failed with %d, want the one injected", got, status)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
