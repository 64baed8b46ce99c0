package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// Sweep re-evaluates every member whose window slid since their last evaluation (a member
// who went quiet loses relais-actif without a new event) and publishes the contact changes
// that result. Members with nothing left that time could change are not visited again. It is
// a routine sweep: while an import is being applied it settles only owed live members and
// returns errImportUnderway (history.go).
func (b *Bridge) Sweep(ctx context.Context) error { return b.routineSweep(ctx, false) }

// sweep visits due members, or every member known when all is set, whatever is under way:
// after a replay, at an import's end.
func (b *Bridge) sweep(ctx context.Context, all bool) error { return b.sweepWith(ctx, all, nil) }

// routineSweep is Sweep, or the daily full sweep: it waits while an import is being applied
// (the import's end settles its members), and settles the imported members no import's end
// settled once none is.
func (b *Bridge) routineSweep(ctx context.Context, full bool) error {
	return b.sweepWith(ctx, full, b.importUnderway)
}

// sweepWith is a sweep that stops as soon as hold, when set, says so: it is asked after each
// read of members' states, before anything is decided from them.
func (b *Bridge) sweepWith(ctx context.Context, all bool, hold holdFunc) error {
	if err := b.scripts.load(ctx, b.rdb); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if b.pub != nil {
		// Members a backlog left owed, whichever replica applied them (defer.go).
		if err := b.settleOwed(ctx); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if hold != nil {
			if err := b.settleImported(ctx); err != nil {
				return fmt.Errorf("sweep: %w", err)
			}
		}
	}
	if hold != nil {
		if err := hold(ctx); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	n := b.cfg.BatchSize
	if !all {
		// Snapshot the due members first: evaluating them moves them out of the range
		// while it is read.
		today := dayOf(b.cfg.Now())
		due, err := b.rdb.ZRangeByScore(ctx, b.keys.due(), &redis.ZRangeBy{Min: "-inf", Max: "(" + strconv.Itoa(today)}).Result()
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		for len(due) > 0 {
			page := due[:min(n, len(due))]
			due = due[len(page):]
			if err := b.reevaluate(ctx, page, false, hold); err != nil {
				return err
			}
		}
		return nil
	}
	seen := map[string]bool{}
	var cursor uint64
	for {
		fields, next, err := b.rdb.HScan(ctx, b.keys.version(), cursor, "*", int64(n)).Result()
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		var members []string
		for i := 0; i < len(fields); i += 2 {
			if !seen[fields[i]] { // HSCAN may return a field twice
				seen[fields[i]] = true
				members = append(members, fields[i])
			}
		}
		if err := b.reevaluate(ctx, members, true, hold); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// reevaluate evaluates members and settles them; hold, when set, may stop it once their
// states are read (see sweepWith, held).
func (b *Bridge) reevaluate(ctx context.Context, members []string, all bool, hold holdFunc) error {
	if len(members) == 0 {
		return nil
	}
	states, err := b.evaluate(ctx, members)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if err := b.held(ctx, hold, states); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	var known []memberState
	var gone []string
	for _, st := range states {
		if st.Applied < 0 {
			gone = append(gone, st.Token)
			continue
		}
		known = append(known, st)
	}
	if len(gone) > 0 {
		// Index entries of a member whose keys are gone (erased): drop them.
		if err := b.dropIndexes(ctx, gone); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	if b.pub == nil {
		return nil
	}
	if err := b.settleHeld(ctx, known, all, hold); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// dropIndexes removes members whose keys are gone (erased, or expired past the retention
// horizon) from the indexes and from every group's member sets.
func (b *Bridge) dropIndexes(ctx context.Context, members []string) error {
	unames, err := b.rdb.HMGet(ctx, b.keys.usernameOf(), members...).Result()
	if err != nil {
		return err
	}
	groups, err := b.rdb.SMembers(ctx, b.keys.groups()).Result()
	if err != nil {
		return err
	}
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		gone := make([]any, len(members))
		for i, m := range members {
			gone[i] = m
		}
		for _, g := range groups {
			p.SRem(ctx, b.keys.groupMembers(g), gone...)
			p.ZRem(ctx, b.keys.groupLast(g), gone...)
		}
		for i, m := range members {
			if u, ok := unames[i].(string); ok && u != "" {
				// Only if the username still points to them: compare in Redis, not here.
				p.Eval(ctx, `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`,
					[]string{b.keys.usernames()}, u, m)
			}
			p.HDel(ctx, b.keys.usernameOf(), m)
			p.HDel(ctx, b.keys.version(), m)
			p.HDel(ctx, b.keys.names(), m)
			p.ZRem(ctx, b.keys.due(), m)
			p.HDel(ctx, b.keys.owed(), m)
			p.HDel(ctx, b.keys.importOwed(), m)
			p.ZRem(ctx, b.keys.rankMsgs(), m)
			p.ZRem(ctx, b.keys.rankPeople(), m)
		}
		return nil
	})
	return err
}

// Object deletes a member's activity state after an objection: their keys, their entries in
// group sets, indexes and message→author maps, and the interactions they received. What
// they did before objecting keeps crediting the people they answered (a replay does the same
// from the log), so their trace in others' interactions stays, and so does the list of whom
// they credited, for a later erasure. The consent layer records the objection first.
func (b *Bridge) Object(ctx context.Context, member string) error {
	if err := b.forget(ctx, member, false); err != nil {
		return fmt.Errorf("object: %w", err)
	}
	return nil
}

// Erase deletes everything Redis holds about a member: as Object, and also their trace in the
// interactions of the members they replied to or mentioned (who are re-evaluated, since their
// counts changed). Aggregates that name nobody (a group's messages per day) keep their counts;
// the log keeps those messages under a pseudonym, so a replay counts them too. The consent
// layer suppresses the member first, so no event in flight brings them back. The erase
// contact change is published by EraseContact.
func (b *Bridge) Erase(ctx context.Context, member string) error {
	if err := b.forget(ctx, member, true); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	return nil
}

func (b *Bridge) forget(ctx context.Context, member string, erase bool) error {
	if err := b.scripts.load(ctx, b.rdb); err != nil {
		return err
	}
	groups, err := b.rdb.HKeys(ctx, b.keys.memberKeys(member)[3]).Result()
	if err != nil {
		return err
	}
	credited, err := b.creditedIn(ctx, b.keys.credited(member), b.keys.creditedBefore(member))
	if err != nil {
		return err
	}
	interactions, err := b.rdb.HGetAll(ctx, b.keys.memberKeys(member)[2]).Result()
	if err != nil {
		return err
	}
	crediting := interactionPeople(interactions) // members who replied to or mentioned them
	allGroups, err := b.rdb.SMembers(ctx, b.keys.groups()).Result()
	if err != nil {
		return err
	}
	_, err = b.scripts.pipeline(ctx, b.rdb, func(p redis.Pipeliner) {
		// Every group, not only those in the member's state: a member whose state expired
		// can still sit in a group's sets until the daily sweep.
		for _, g := range allGroups {
			p.SRem(ctx, b.keys.groupMembers(g), member)
			p.ZRem(ctx, b.keys.groupLast(g), member)
		}
		for _, g := range groups {
			for _, k := range b.authorMaps(g) {
				b.scripts.unmap.EvalSha(ctx, p, []string{k}, member)
			}
		}
		if erase {
			for _, c := range credited {
				b.scripts.forget.EvalSha(ctx, p, []string{b.keys.memberKeys(c)[2]}, member)
			}
		}
		for c := range crediting {
			p.HDel(ctx, b.keys.credited(c), member)
			p.SRem(ctx, b.keys.creditedBefore(c), member)
		}
	})
	if err != nil {
		return err
	}
	if err := b.dropIndexes(ctx, []string{member}); err != nil {
		return err
	}
	keys := b.keys.memberKeys(member)
	b.dedup.drop(b.keys.applied(member))
	if erase {
		if err := b.deleteMatching(ctx, globEscape(b.keys.member(member))+"*"); err != nil {
			return err
		}
		return b.reevaluate(ctx, credited, false, nil)
	}
	// An objector keeps only the list of whom they credited (tokens, no data about them).
	if err := b.rdb.Unlink(ctx, append(keys, b.keys.applied(member))...).Err(); err != nil {
		return err
	}
	return nil
}

// creditedIn returns the members a member credited: the fields of their credited hash and
// the set of before (keys.creditedBefore).
func (b *Bridge) creditedIn(ctx context.Context, hash, before string) ([]string, error) {
	var h, s *redis.StringSliceCmd
	if _, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h, s = p.HKeys(ctx, hash), p.SMembers(ctx, before)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("credited: %w", err)
	}
	out := append(h.Val(), s.Val()...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// authorMaps are every message→author map of a group: the current and previous ones, and
// the per-window ones written before the maps were bounded by a count of messages, for as
// long as they may live (events up to a span old, kept two windows after).
func (b *Bridge) authorMaps(g string) []string {
	out := []string{b.keys.authorMap(g), b.keys.authorMapPrev(g)}
	today, w := dayOf(b.cfg.Now()), b.bars.windowDays
	for gen := (today-w-b.bars.holdDays-b.bars.dormantDays)/w - 1; gen <= today/w+1; gen++ {
		out = append(out, b.keys.legacyAuthorMap(g, gen))
	}
	return out
}

// EraseContact publishes the erase contact change of an erased member, replacing (securely:
// the caller deleted the older ones) whatever state RELAIS_CRM held; notify, when set, is
// what the CRM worker tells the member once the CRM confirmed. A member relais never put in
// the CRM gets no change, and done reports false so the caller confirms at once.
func (b *Bridge) EraseContact(ctx context.Context, member string, inCRM bool, notify *events.Notify) error {
	if b.pub == nil {
		return nil
	}
	for attempt := 0; attempt < 5; attempt++ {
		r, err := b.lastChange(ctx, member)
		if err != nil {
			return fmt.Errorf("erase contact: %w", err)
		}
		last, seq, found := r.c, r.seq, r.found
		if found && last.Op == events.OpErase {
			return nil
		}
		if !found && !inCRM {
			return nil
		}
		c := events.ContactChange{
			V: events.Version, ID: "cc-" + member + "-erase-" + strconv.FormatUint(seq, 10),
			Member: member, ExternalID: events.ExternalID(member), Op: events.OpErase, At: b.cfg.Now().UTC(),
			Notify: notify,
		}
		err = b.publishExpecting(ctx, c, seq)
		if errors.Is(err, events.ErrLastChangeMoved) {
			continue
		}
		if err != nil {
			return fmt.Errorf("erase contact: %w", err)
		}
		return nil
	}
	return fmt.Errorf("erase contact: %w", events.ErrLastChangeMoved)
}

// deleteMatching unlinks every key matching pattern. A member's keys share one slot, so on a
// cluster they all live on one master; scanning each master finds them.
func (b *Bridge) deleteMatching(ctx context.Context, pattern string) error {
	del := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := c.Unlink(ctx, batch...).Err()
			batch = batch[:0]
			return err
		}
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 500 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		return flush()
	}
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return del(ctx, c) })
	}
	return del(ctx, b.rdb)
}

// globEscape quotes the characters SCAN MATCH treats as patterns.
func globEscape(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// MemberIdentity is what identifies a member on their platform, as Redis holds it: what an
// erasure must find and remove elsewhere (the event log, pending replies).
type MemberIdentity struct {
	PlatformID, Username string
	Names                []string
}

// Identity reads a member's identity whatever their consent: an erasure needs it after the
// gate already hides the member from every query.
func (b *Bridge) Identity(ctx context.Context, member string) (MemberIdentity, error) {
	h, err := b.rdb.HMGet(ctx, b.keys.memberKeys(member)[0], "pid", "username", "name", "first", "last").Result()
	if err != nil {
		return MemberIdentity{}, fmt.Errorf("identity: %w", err)
	}
	str := func(i int) string { s, _ := h[i].(string); return s }
	id := MemberIdentity{PlatformID: str(0), Username: str(1)}
	for _, n := range []string{str(2), strings.TrimSpace(str(3) + " " + str(4)), str(3), str(4)} {
		if n != "" {
			id.Names = append(id.Names, n)
		}
	}
	return id, nil
}

// fullSweepEvery is how often the sweep visits every member, not only the due ones: members
// whose state expired (retention) then leave the indexes, which hold their names.
const fullSweepEvery = 24 * time.Hour

func (b *Bridge) sweepLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.SweepEvery)
	defer t.Stop()
	var lastFull time.Time
	for {
		if b.rebuilding() {
			// The replay ends with a full sweep of its own.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		full := time.Since(lastFull) >= fullSweepEvery
		err := b.routineSweep(ctx, full)
		switch {
		case errors.Is(err, errImportUnderway):
			// Tried again at the next tick; the import's end settles its members.
			b.cfg.Log.Debug("bridge: sweep waits for an import", "full", full)
		case err != nil && ctx.Err() == nil:
			b.cfg.Log.Warn("bridge: sweep", "err", err.Error())
		case err == nil && full:
			lastFull = time.Now()
			if err := b.ExpireHistory(ctx); err != nil && ctx.Err() == nil {
				b.cfg.Log.Warn("bridge: expire history", "err", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
