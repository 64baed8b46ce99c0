package campaigns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// capWindow is the span RELAIS_CAMPAIGN_MAX_PER_WEEK counts: any 7 days, not a calendar
// week, so that two campaigns on Sunday leave none for Monday.
const capWindow = 7 * 24 * time.Hour

// queuedAt is one campaign queued to a member, and when.
type queuedAt struct {
	Slug string    `json:"slug"`
	At   time.Time `json:"at"`
}

// weekRecord is what the campaigns bucket keeps about a member under events.WeekKey: the
// campaigns queued to them in the last 7 days. Week and Slugs are the calendar-week form
// written before; they are read, and replaced by the next write.
type weekRecord struct {
	Queued []queuedAt `json:"queued,omitempty"`
	Week   string     `json:"week,omitempty"`
	Slugs  []string   `json:"slugs,omitempty"`
}

// entries are the record's campaigns with their times. A calendar-week record did not keep
// times: its campaigns count as queued at the end of their week (at the latest now), the
// latest they can have been, so the cap never lets more through than it should.
func (w weekRecord) entries(now time.Time) []queuedAt {
	out := slices.Clone(w.Queued)
	if len(w.Slugs) == 0 {
		return out
	}
	var y, wk int
	if _, err := fmt.Sscanf(w.Week, "%d-W%d", &y, &wk); err != nil {
		return out
	}
	at := isoWeekStart(y, wk).Add(capWindow - time.Second)
	if at.After(now) {
		at = now.UTC()
	}
	for _, s := range w.Slugs {
		out = append(out, queuedAt{Slug: s, At: at})
	}
	return out
}

// isoWeekStart is the Monday 00:00 UTC that starts ISO week wk of year y (4 January is
// always in week 1).
func isoWeekStart(y, wk int) time.Time {
	jan4 := time.Date(y, time.January, 4, 0, 0, 0, 0, time.UTC)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	return monday.AddDate(0, 0, 7*(wk-1))
}

// within7Days counts the campaigns queued less than 7 days before now.
func within7Days(queued []queuedAt, now time.Time) int {
	n := 0
	for _, q := range queued {
		if now.Sub(q.At) < capWindow {
			n++
		}
	}
	return n
}

// mayQueue decides whether a member to whom queued were queued may be queued campaign slug
// at now, under a cap of perWeek in any 7 days, and returns what to store then. A campaign
// already among them is allowed without counting twice, however late its confirmation is
// retried; what is 7 days old or more is dropped.
func mayQueue(queued []queuedAt, slug string, now time.Time, perWeek int) (next []queuedAt, ok bool) {
	if slices.ContainsFunc(queued, func(q queuedAt) bool { return q.Slug == slug }) {
		return queued, true
	}
	next = slices.DeleteFunc(slices.Clone(queued), func(q queuedAt) bool { return now.Sub(q.At) >= capWindow })
	if len(next) >= perWeek {
		return queued, false
	}
	return append(next, queuedAt{Slug: slug, At: now.UTC()}), true
}

func (c *store) week(ctx context.Context, member string) (weekRecord, uint64, error) {
	v, rev, err := c.get(ctx, events.WeekKey(member))
	if err != nil || v == "" {
		return weekRecord{}, rev, err
	}
	var w weekRecord
	if err := json.Unmarshal([]byte(v), &w); err != nil {
		return weekRecord{}, rev, nil // unreadable: replaced by the next write
	}
	return w, rev, nil
}

// countWeek records that campaign slug is queued to a member at now, unless the cap is
// reached (ok false). A campaign already recorded is recorded once: a retried confirmation.
func (c *store) countWeek(ctx context.Context, member, slug string, now time.Time) (bool, error) {
	for range 10 {
		w, rev, err := c.week(ctx, member)
		if err != nil {
			return false, err
		}
		before := w.entries(now)
		next, ok := mayQueue(before, slug, now, c.cfg.MaxPerWeek)
		if !ok {
			return false, nil
		}
		if len(w.Slugs) == 0 && slices.ContainsFunc(before, func(q queuedAt) bool { return q.Slug == slug }) {
			return true, nil // recorded already: nothing to write
		}
		raw, err := json.Marshal(weekRecord{Queued: next})
		if err != nil {
			return false, fmt.Errorf("campaigns: week: %w", err)
		}
		if rev == 0 {
			_, err = c.kv.Create(ctx, events.WeekKey(member), raw)
		} else {
			_, err = c.kv.Update(ctx, events.WeekKey(member), raw, rev)
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !events.IsWrongLastSequence(err) {
			return false, fmt.Errorf("campaigns: week: %w", err)
		}
	}
	return false, errors.New("campaigns: week: too much contention")
}
