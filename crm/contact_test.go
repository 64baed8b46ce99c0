package crm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/events"
)

func TestStateHash(t *testing.T) {
	base := change("h", 1, []string{"relais-actif", "relais-leader"}, false, "+33612345678")
	same := base
	same.ID, same.At = "h-2", base.At.Add(time.Hour)
	same.Tags = []string{"relais-leader", "relais-actif", " relais-actif"}
	tests := []struct {
		name  string
		edit  func(*events.ContactChange)
		equal bool
	}{
		{"id, time and tag order", func(c *events.ContactChange) { *c = same }, true},
		{"phone", func(c *events.ContactChange) { c.Phone = "+33600000000" }, false},
		{"tags", func(c *events.ContactChange) { c.Tags = []string{"relais-actif"} }, false},
		{"objection", func(c *events.ContactChange) { c.DoNotContact = true }, false},
		{"erase ignores leftover state", func(c *events.ContactChange) {}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base, base
			b.Tags = slices.Clone(base.Tags)
			tt.edit(&b)
			if tt.name == "erase ignores leftover state" {
				a.Op, b.Op, b.FirstName = events.OpErase, events.OpErase, "other"
			}
			if got := crm.StateHash(a) == crm.StateHash(b); got != tt.equal {
				t.Fatalf("equal=%v, want %v", got, tt.equal)
			}
		})
	}
}

func TestContactTagDiff(t *testing.T) {
	c := crm.ContactFrom(events.ContactChange{
		ExternalID: "relais-x", Tags: []string{"b", "a", "a"}, RemoveTags: []string{"a", "c", "d"}, Phone: "0612",
	}, "", nil)
	if !slices.Equal(c.Tags, []string{"a", "b"}) || !slices.Equal(c.RemoveTags, []string{"c", "d"}) || c.Phone != "" {
		t.Fatalf("contact %+v", c)
	}
	if !slices.Equal(c.TagsToAdd(), []string{"a", "b"}) || !slices.Equal(c.TagsToRemove(), []string{"c", "d"}) {
		t.Fatalf("unknown history: add %v remove %v", c.TagsToAdd(), c.TagsToRemove())
	}
	c.Applied = []string{"a", "c"}
	if !slices.Equal(c.TagsToAdd(), []string{"b"}) || !slices.Equal(c.TagsToRemove(), []string{"c"}) {
		t.Fatalf("known history: add %v remove %v", c.TagsToAdd(), c.TagsToRemove())
	}
}

func TestRedact(t *testing.T) {
	c := crm.Contact{FirstName: "Zoé", LastName: "Durand", Phone: "+33612345678"}
	got := c.Redact("first name Zoé Durand invalid, mobile 33612345678 taken")
	for _, leak := range []string{"Zoé", "Durand", "33612345678"} {
		if strings.Contains(got, leak) {
			t.Fatalf("%q leaks %q", got, leak)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		retryable  bool
		wait       time.Duration
	}{
		{200, "", false, 0},
		{400, "", false, 0},
		{404, "", false, 0},
		{408, "", true, 0},
		{422, "", false, 0},
		{429, "7", true, 7 * time.Second},
		{429, "", true, 0},
		{401, "", true, time.Minute},
		{500, "", true, 0},
		{503, "120", true, 2 * time.Minute},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
		if tt.retryAfter != "" {
			resp.Header.Set("Retry-After", tt.retryAfter)
		}
		e := crm.Classify("op", resp, "code", "message")
		if tt.status == 200 {
			if e != nil {
				t.Errorf("200 classified as %v", e)
			}
			continue
		}
		if e.Retryable != tt.retryable || e.RetryAfter != tt.wait || e.Status != tt.status {
			t.Errorf("%d: %+v", tt.status, e)
		}
	}
	if !crm.IsRetryable(errors.New("unknown")) || crm.IsRetryable(&crm.Error{}) {
		t.Error("IsRetryable defaults wrong")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"3", 3 * time.Second, true}, {"0.5", 500 * time.Millisecond, true}, {"-1", 0, false},
		{"99999999", crm.MaxRetryAfter, true}, {"Thu, 01 Jan 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Thu, 01 Jan 2026 11:00:00 GMT", 0, true}, {"soon", 0, false}, {"NaN", 0, false},
	}
	for _, tt := range tests {
		got, ok := crm.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v %v, want %v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "120", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "-3", "1e400", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := crm.ParseRetryAfter(v, time.Now())
		if d < 0 || d > crm.MaxRetryAfter || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v %v", v, d, ok)
		}
	})
}

func TestThrottleBackoffPausesEveryone(t *testing.T) {
	th := crm.NewThrottle(100, 10)
	th.Backoff(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := th.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait during a Retry-After pause returned %v", err)
	}
	if th.Limit() != 50 {
		t.Fatalf("rate after a 429 without Retry-After is %v, want half of 100", th.Limit())
	}
}

// A 429 that says when to come back pauses every call until then, and no longer: the pace
// is not lowered after it.
func TestThrottleRetryAfterOnlyPauses(t *testing.T) {
	th := crm.NewThrottle(100, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	resp, err := crm.NewHTTPClient(th).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := th.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait during a Retry-After pause returned %v", err)
	}
	if th.Limit() != 100 {
		t.Fatalf("rate after a 429 with Retry-After is %v, want it unchanged (100)", th.Limit())
	}
}

func TestClip(t *testing.T) {
	if got := crm.Clip("é\n\tx  y", 100); got != "é x y" {
		t.Errorf("Clip flattened to %q", got)
	}
	if got := crm.Clip("ééé", 3); got != "é…" {
		t.Errorf("Clip cut to %q", got)
	}
}
