package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// settleConcurrency bounds the members whose contact state is settled at once.
const settleConcurrency = 32

// settleAll settles the contact state of distinct members: it publishes their contact
// changes concurrently (members are independent, so a batch waits for the slowest member's
// NATS round trips, not for the sum of everyone's), then confirms every member's settled
// fingerprint in one Redis pipeline.
//
// A member whose version moved meanwhile and for whom this call published is settled again,
// as settleContact does: that publish may have replaced the newer state's contact. One whose
// version moved and for whom nothing was published is left to the newer version's writer,
// which settles after writing (a live batch, the sweep, a resync) or is redelivered.
//
// all compares every member's contact with the desired one, settled fingerprint or not: the
// full sweep (at start and daily) so heals a contact a crashed replica left behind a newer
// state it had already confirmed.
func (b *Bridge) settleAll(ctx context.Context, states []memberState, all bool) error {
	return b.settleHeld(ctx, states, all, nil)
}

// settleHeld is settleAll for a routine sweep: hold, when set, is asked each time members who
// moved are read again, and stops it before they are settled (see held).
func (b *Bridge) settleHeld(ctx context.Context, states []memberState, all bool, hold holdFunc) error {
	// One settle at a time in a process: the settle stage and the sweep deciding the same
	// member at once is the race a crash can leave a stale contact behind (see above).
	b.settleMu.Lock()
	defer b.settleMu.Unlock()
	forced := map[string]bool{}
	if all {
		for _, st := range states {
			forced[st.Token] = true
		}
	}
	for range 5 {
		if b.rebuilding() {
			return nil // decided by the full sweep that ends the rebuild, on the whole state
		}
		moved, err := b.settleRound(ctx, states, forced)
		if err != nil || len(moved) == 0 {
			return err
		}
		if states, err = b.evaluate(ctx, moved); err != nil {
			return err
		}
		if err := b.held(ctx, hold, states); err != nil {
			return err
		}
		forced = map[string]bool{}
		for _, m := range moved {
			forced[m] = true
		}
	}
	// Still moving: the batch is redelivered rather than acked on a contact maybe older
	// than the state.
	return fmt.Errorf("settle contacts: %d members still moving", len(forced))
}

// unsettled keeps the candidates whose fingerprint is still not settled when read now. A
// live batch's states were read while the batch before it was settling, so the settled
// fingerprint they carry is often older than the one that settle confirmed: without this
// read, a member active in every batch would be decided again at every batch. Forced members
// are kept without a read.
func (b *Bridge) unsettled(ctx context.Context, candidates []memberState, forced map[string]bool) ([]memberState, error) {
	fps := make([]*redis.StringCmd, len(candidates))
	if _, err := b.scripts.pipeline(ctx, b.rdb, func(p redis.Pipeliner) {
		for i, st := range candidates {
			if !forced[st.Token] {
				fps[i] = p.HGet(ctx, b.keys.memberKeys(st.Token)[0], "pubfp")
			}
		}
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("settled fingerprints: %w", err)
	}
	var todo []memberState
	for i, st := range candidates {
		if fps[i] == nil || settledFP(fps[i].Val()) != st.FP {
			todo = append(todo, st)
		}
	}
	return todo, nil
}

// settleRound publishes the contact changes of the members whose fingerprint is not settled
// (or who are forced), confirms them, and returns those it published for whose version moved.
func (b *Bridge) settleRound(ctx context.Context, states []memberState, forced map[string]bool) ([]string, error) {
	var candidates []memberState
	for _, st := range states {
		if st.Applied >= 0 && (st.FP != st.PubFP || forced[st.Token]) {
			candidates = append(candidates, st)
		}
	}
	todo, err := b.unsettled(ctx, candidates, forced)
	if err != nil || len(todo) == 0 {
		return nil, err
	}
	known := b.lastChanges(ctx, todo)
	published := make([]bool, len(todo))
	none := make([]bool, len(todo))
	sem := make(chan struct{}, settleConcurrency)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i, st := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var last *lastRead
			if r, ok := known[st.Token]; ok {
				last = &r
			}
			p, n, err := b.publishContact(ctx, st, last)
			published[i], none[i] = p, n
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	vers := make([]*redis.StringCmd, len(todo))
	if _, err := b.scripts.pipeline(ctx, b.rdb, func(p redis.Pipeliner) {
		for i, st := range todo {
			h := b.keys.memberKeys(st.Token)[0]
			mark := ""
			if none[i] {
				mark = crmNone
			}
			b.scripts.confirm.EvalSha(ctx, p, []string{h}, st.FP, st.Ver, mark)
			vers[i] = p.HGet(ctx, h, "ver")
		}
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("confirm contact: %w", err)
	}
	var moved []string
	for i, st := range todo {
		ver, err := vers[i].Int64()
		if errors.Is(err, redis.Nil) || (err == nil && ver == st.Ver) || !published[i] {
			continue
		}
		moved = append(moved, st.Token)
	}
	return moved, nil
}
