package campaigns

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestMayQueue(t *testing.T) {
	sunday := time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC) // ISO week 11
	monday := sunday.Add(23 * time.Hour)                    // ISO week 12
	q := func(slug string, at time.Time) queuedAt { return queuedAt{Slug: slug, At: at} }
	tests := []struct {
		name    string
		queued  []queuedAt
		slug    string
		now     time.Time
		perWeek int
		ok      bool
		next    []queuedAt
	}{
		{"nothing queued yet", nil, "a", sunday, 2, true, []queuedAt{q("a", sunday)}},
		{"under the cap", []queuedAt{q("a", sunday)}, "b", sunday.Add(time.Hour), 2, true,
			[]queuedAt{q("a", sunday), q("b", sunday.Add(time.Hour))}},
		{"two on Sunday, none on Monday", []queuedAt{q("a", sunday), q("b", sunday.Add(time.Hour))}, "c", monday, 2, false,
			[]queuedAt{q("a", sunday), q("b", sunday.Add(time.Hour))}},
		{"a confirmation retried after the week rolled over counts once, and keeps the others",
			[]queuedAt{q("a", sunday), q("b", monday)}, "a", monday.Add(time.Hour), 2, true,
			[]queuedAt{q("a", sunday), q("b", monday)}},
		{"a confirmation retried when the cap is reached is still let through",
			[]queuedAt{q("a", sunday), q("b", monday)}, "b", monday.Add(48 * time.Hour), 2, true,
			[]queuedAt{q("a", sunday), q("b", monday)}},
		{"7 days later the oldest no longer counts, and is dropped",
			[]queuedAt{q("a", sunday), q("b", monday)}, "c", sunday.Add(capWindow), 2, true,
			[]queuedAt{q("b", monday), q("c", sunday.Add(capWindow))}},
		{"a minute short of 7 days it still counts", []queuedAt{q("a", sunday), q("b", monday)}, "c",
			sunday.Add(capWindow - time.Minute), 2, false, []queuedAt{q("a", sunday), q("b", monday)}},
		{"a cap of 0 lets nothing through", nil, "a", sunday, 0, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, ok := mayQueue(slices.Clone(tt.queued), tt.slug, tt.now, tt.perWeek)
			if ok != tt.ok || !slices.Equal(next, tt.next) {
				t.Errorf("mayQueue = %v, %v; want %v, %v", next, ok, tt.next, tt.ok)
			}
		})
	}
}

// A record written under the calendar week counts its campaigns as queued at the end of
// that week (never later than now): the cap never lets more through than before.
func TestWeekRecordReadsTheCalendarWeekForm(t *testing.T) {
	now := time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC) // Monday of week 12
	tests := []struct {
		name, raw string
		want      []queuedAt
	}{
		{"last week's", `{"week":"2026-W11","slugs":["a","b"]}`, []queuedAt{
			{"a", time.Date(2026, 3, 15, 23, 59, 59, 0, time.UTC)}, {"b", time.Date(2026, 3, 15, 23, 59, 59, 0, time.UTC)}}},
		{"this week's", `{"week":"2026-W12","slugs":["c"]}`, []queuedAt{{"c", now}}},
		{"the new form", `{"queued":[{"slug":"d","at":"2026-03-14T08:00:00Z"}]}`,
			[]queuedAt{{"d", time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w weekRecord
			if err := json.Unmarshal([]byte(tt.raw), &w); err != nil {
				t.Fatal(err)
			}
			if got := w.entries(now); !slices.EqualFunc(got, tt.want, func(a, b queuedAt) bool { return a.Slug == b.Slug && a.At.Equal(b.At) }) {
				t.Errorf("entries = %v, want %v", got, tt.want)
			}
		})
	}
}
