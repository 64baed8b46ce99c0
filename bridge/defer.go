package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Under a backlog, a member active in many batches would get a contact change (a publish, the
// secure delete of the one it replaces, a CRM call) after each of them, though only the last
// one counts. So a batch applied while more messages wait in the consumer does not settle its
// members: it records them as owed (token → version, in Redis, so any replica or the sweep
// can settle them if this one stops) and is acked. The members owed are settled once, in
// their state of then, when a batch arrives with nothing waiting behind it, when no batch
// followed for deferIdle, at least every deferMax, when the consumer stops, and by every
// sweep. A bridge that keeps up (nothing pending behind each batch) settles every batch as
// before, so events → CRM latency is unchanged.

// deferIdle is how long the settle stage waits for another batch before settling what is
// owed; deferMax bounds how long a contact change may wait behind a backlog.
const (
	deferIdle = 100 * time.Millisecond
	deferMax  = 30 * time.Second
)

// forgetOwedLua deletes an owed member whose entry still holds the version that was settled:
// one owed again by a newer batch meanwhile stays owed.
// It is sent whole (EVAL, not EVALSHA): pipelined, a script not loaded yet would fail.
const forgetOwedLua = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`

// owe records the members a backlog batch leaves unsettled.
func (b *Bridge) owe(ctx context.Context, states []memberState) error {
	if err := b.oweIn(ctx, b.keys.owed(), states); err != nil {
		return fmt.Errorf("owe contacts: %w", err)
	}
	return nil
}

// oweIn records in key (owed, importOwed) the members whose contact differs from the one
// settled, with the version read.
func (b *Bridge) oweIn(ctx context.Context, key string, states []memberState) error {
	var args []any
	for _, st := range states {
		if st.Applied >= 0 && st.FP != st.PubFP {
			args = append(args, st.Token, st.Ver)
		}
	}
	if len(args) == 0 {
		return nil
	}
	return b.rdb.HSet(ctx, key, args...).Err()
}

// settleOwed settles every member owed, in pages of BatchSize, and forgets those still owed
// at the version it read.
func (b *Bridge) settleOwed(ctx context.Context) error {
	return b.settleOwedIn(ctx, b.keys.owed(), nil)
}

// settleOwedIn is settleOwed on the members owed in key (owed, importOwed); hold, when set,
// stops it as it stops a routine sweep (sweepWith), leaving the rest owed.
func (b *Bridge) settleOwedIn(ctx context.Context, key string, hold holdFunc) error {
	owed, err := b.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("settle owed: %w", err)
	}
	if len(owed) == 0 {
		return nil
	}
	tokens := make([]string, 0, len(owed))
	for m := range owed {
		tokens = append(tokens, m)
	}
	// A page that fails stays owed; the others are still settled.
	var first error
	for len(tokens) > 0 {
		page := tokens[:min(b.cfg.BatchSize, len(tokens))]
		tokens = tokens[len(page):]
		states, err := b.evaluate(ctx, page)
		if err == nil {
			if err = b.held(ctx, hold, states); err != nil {
				return fmt.Errorf("settle owed: %w", err)
			}
		}
		if err == nil {
			err = b.settleHeld(ctx, states, false, hold)
		}
		if errors.Is(err, errImportUnderway) {
			return fmt.Errorf("settle owed: %w", err)
		}
		if err != nil {
			first = cmp.Or(first, fmt.Errorf("settle owed: %w", err))
			continue
		}
		if _, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, m := range page {
				p.Eval(ctx, forgetOwedLua, []string{key}, m, owed[m])
			}
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			first = cmp.Or(first, fmt.Errorf("settle owed: %w", err))
		}
	}
	return first
}

// backlogged reports whether every batch of a group was applied with messages waiting
// behind it: the group's members may be owed rather than settled.
func backlogged(group []*appliedBatch) bool {
	for _, ab := range group {
		if ab.pending == 0 {
			return false
		}
	}
	return true
}

// owedSince is when the settle stage first left members owed, zero when it owes nothing.
type owedSince struct {
	at    time.Time
	retry time.Time // after a failed payOwed, not before
}

func (o *owedSince) owes() bool { return !o.at.IsZero() }

func (o *owedSince) mark(now time.Time) {
	if o.at.IsZero() {
		o.at = now
	}
}

// due reports whether what is owed has waited deferMax.
func (o *owedSince) due(now time.Time) bool { return o.owes() && now.Sub(o.at) >= deferMax }

func (o *owedSince) clear() { o.at, o.retry = time.Time{}, time.Time{} }

// payOwed settles what is owed; on failure it stays owed and is tried again later, and
// payOwed returns the error.
func (b *Bridge) payOwed(ctx context.Context, o *owedSince) error {
	if err := b.settleOwed(ctx); err != nil {
		b.cfg.Log.Warn("bridge: settle owed contacts", "err", err.Error())
		o.retry = time.Now().Add(time.Second)
		return err
	}
	o.clear()
	return nil
}
