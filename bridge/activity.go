package bridge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// GroupActivity returns, for every group (a migrated group under its current token), the
// hours it had messages in, oldest first, each as the local hour's start: /etat's "last event" is
// the latest, and the health monitor's silence rule reads their gaps. They come from the
// weekday × hour counts, kept as long as the day counts; a group without messages in them
// has no entry.
func (q *Query) GroupActivity(ctx context.Context) (map[string][]time.Time, error) {
	tokens, err := q.rdb.SMembers(ctx, q.keys.groups()).Result()
	if err != nil {
		return nil, fmt.Errorf("query group activity: %w", err)
	}
	alias, err := q.rdb.HGetAll(ctx, q.keys.groupAlias()).Result()
	if err != nil {
		return nil, fmt.Errorf("query group activity: %w", err)
	}
	cmds := make([]*redis.StringSliceCmd, len(tokens))
	if _, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tokens {
			cmds[i] = p.HKeys(ctx, q.keys.groupHours(t))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("query group activity: %w", err)
	}
	out := map[string][]time.Time{}
	for i, t := range tokens {
		current := aliasesOf(t, alias)[0]
		for _, f := range cmds[i].Val() {
			if at, ok := hourStart(f, q.cfg.Zone); ok {
				out[current] = append(out[current], at)
			}
		}
	}
	for g, ts := range out {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		out[g] = slices.CompactFunc(ts, time.Time.Equal)
	}
	return out, nil
}

// hourStart reads back the time of a weekday × hour field (hourField): the earliest quarter
// hour of that UTC day whose local weekday and hour are the field's, which is the local
// hour's start unless the day began within it (zones such as +05:30 split hours).
func hourStart(field string, zone *time.Location) (time.Time, bool) {
	ds, _, ok := strings.Cut(field, "|")
	d, err := strconv.Atoi(ds)
	if !ok || err != nil {
		return time.Time{}, false
	}
	for q := range 24 * 4 {
		at := dayStart(d).Add(time.Duration(q) * 15 * time.Minute)
		if hourField(d, at, zone) == field {
			return at, true
		}
	}
	return time.Time{}, false
}
