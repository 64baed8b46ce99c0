package bridge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// Aliases links the tokens of one person: on WhatsApp one person may be known by LID and by
// phone number. The consent store implements it (the links are authoritative in NATS KV and
// survive a Redis rebuild); without it every token is a member of its own.
type Aliases interface {
	// Canonical is the member token a token stands for.
	Canonical(token string) string
	// Link records that alias is another token of member, and reports whether this call
	// made the link.
	Link(ctx context.Context, member, alias string) (bool, error)
}

func (b *Bridge) canonical(token string) string {
	if b.aliases == nil {
		return token
	}
	return b.aliases.Canonical(token)
}

// linkAliases records the links events carry (a sender's other platform id) before the
// batch is planned, so every event of the batch lands on the one member, and merges what the
// alias held into the member. A replay finds the links already made: the alias's events go
// to the member from the start, which is the same state as the live merge.
func (b *Bridge) linkAliases(ctx context.Context, evs []events.Event) error {
	if b.aliases == nil {
		return nil
	}
	for _, ev := range evs {
		if ev.Sender.Alias == "" || ev.Sender.Alias == ev.Sender.ID || events.Pseudonymous(ev.Sender.ID) || !ev.Platform.Valid() {
			continue
		}
		member := b.canonical(b.hash.Member(ev.Platform, ev.Sender.ID))
		alias := b.hash.Member(ev.Platform, ev.Sender.Alias)
		if b.canonical(alias) == member {
			continue
		}
		if _, err := b.aliases.Link(ctx, member, alias); err != nil {
			return fmt.Errorf("link alias: %w", err)
		}
		if err := b.merge(ctx, alias, b.canonical(alias)); err != nil {
			return err
		}
	}
	return nil
}

// stageLua moves a member's state keys aside, so writes that still arrive under the alias
// (a replica that did not see the link yet) start a new state, merged by a later call, and
// nothing is merged twice. A staging left by an interrupted merge is resumed first.
//
// KEYS: state hash, messages per day, interactions, groups, credited, then the five staged
// names. Returns the staged state's version, or -1 when there is nothing to merge.
const stageLua = `
if redis.call('EXISTS', KEYS[6]) == 1 then return tonumber(redis.call('HGET', KEYS[6], 'ver')) or 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
for i = 1, 5 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], KEYS[i + 5]) end
end
return tonumber(redis.call('HGET', KEYS[6], 'ver')) or 0
`

// mergeLua adds a staged alias state into a member's, once (the marker names the alias and
// the staged version): sums add up, first and last times keep the extreme, the identity of
// the newest event wins, day buckets and interactions add up, groups keep the newest title.
//
// KEYS: state hash, messages per day, interactions, groups, credited, marker.
// ARGV: ttl, then four runs of "count, field, value…" (hash, days, interactions, groups),
// then "count, member…" (credited).
const mergeLua = peopleLua + `
if not redis.call('SET', KEYS[6], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local a = 2
local function take()
  local n = tonumber(ARGV[a]); a = a + 1
  local t = {}
  for _ = 1, n do t[ARGV[a]] = ARGV[a + 1]; a = a + 2 end
  return t
end
local H, D, I, G = take(), take(), take(), take()
local h = KEYS[1]
local sums = {replies = 1, mentions = 1, reactions = 1, joins = 1, leaves = 1}
local mins = {first_seen = 1}
local maxs = {last_seen = 1, last_msg = 1, left_at = 1, cur = 1, xf = 1}
for f, v in pairs(H) do
  local n = tonumber(v)
  if sums[f] then redis.call('HINCRBY', h, f, n)
  elseif mins[f] or maxs[f] then
    local o = tonumber(redis.call('HGET', h, f))
    if not o or (mins[f] and n < o) or (maxs[f] and n > o) then redis.call('HSET', h, f, v) end
  end
end
if H.platform then redis.call('HSETNX', h, 'platform', H.platform) end
-- The alias's applied sequences join the member's (memberLua drops those under the floor).
if H.xs and H.xs ~= '' then
  local mine = redis.call('HGET', h, 'xs')
  redis.call('HSET', h, 'xs', (mine and mine ~= '') and (mine .. ',' .. H.xs) or H.xs)
end
if H.idstamp then
  local s = redis.call('HGET', h, 'idstamp')
  if not s or H.idstamp > s then
    redis.call('HSET', h, 'idstamp', H.idstamp, 'name', H.name or '', 'first', H.first or '', 'last', H.last or '', 'username', H.username or '')
  end
end
if H.phstamp then
  local s = redis.call('HGET', h, 'phstamp')
  if not s or H.phstamp > s then redis.call('HSET', h, 'phstamp', H.phstamp, 'phone', H.phone or '') end
end
for f, v in pairs(D) do redis.call('HINCRBY', KEYS[2], f, tonumber(v)) end
for f, v in pairs(I) do
  if string.find(f, '|', 1, true) then redis.call('HINCRBY', KEYS[3], f, tonumber(v)) else addPeople(KEYS[3], f, unpackPeople(v)) end
end
for f, v in pairs(G) do
  local old = redis.call('HGET', KEYS[4], f)
  local newer = true
  if old then newer = string.sub(v, 1, (string.find(v, '\0', 1, true) or 1) - 1) > string.sub(old, 1, (string.find(old, '\0', 1, true) or 1) - 1) end
  if newer then redis.call('HSET', KEYS[4], f, v) end
end
local n = tonumber(ARGV[a]); a = a + 1
for j = 1, n do redis.call('HSET', KEYS[5], ARGV[a + j - 1], '1') end
redis.call('HINCRBY', h, 'ver', 1)
for i = 1, 5 do if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end end
return 1
`

// renameLua moves one person's interactions in a member's hash to another token.
//
// KEYS: interactions. ARGV: from token, to token.
const renameLua = peopleLua + `
local suffix = '|' .. ARGV[1]
local kv = redis.call('HGETALL', KEYS[1])
for j = 1, #kv, 2 do
  local f = kv[j]
  if string.find(f, '|', 1, true) then
    if string.sub(f, -#suffix) == suffix then
      redis.call('HINCRBY', KEYS[1], string.sub(f, 1, #f - #suffix) .. '|' .. ARGV[2], tonumber(kv[j + 1]))
      redis.call('HDEL', KEYS[1], f)
    end
  else
    local t = unpackPeople(kv[j + 1])
    if t[ARGV[1]] then
      t[ARGV[2]] = (t[ARGV[2]] or 0) + t[ARGV[1]]
      t[ARGV[1]] = nil
      writePeople(KEYS[1], f, t)
    end
  end
end
return 1
`

// remapLua points a message→author map's entries of one member to another.
//
// KEYS: author map. ARGV: from token, to token.
const remapLua = `
local kv = redis.call('HGETALL', KEYS[1])
for j = 1, #kv, 2 do if kv[j + 1] == ARGV[1] then redis.call('HSET', KEYS[1], kv[j], ARGV[2]) end end
return 1
`

var (
	stageScript = redis.NewScript(stageLua)
	mergeScript = redis.NewScript(mergeLua)
)

// merge moves everything Redis holds under alias into member: the alias's own state, its
// dedup keys (a redelivered event of the alias must not count twice), its place in the
// interactions of the people it answered and who answered it, in groups and author maps.
// Every step is idempotent or guarded, so an interrupted merge is completed by the next.
func (b *Bridge) merge(ctx context.Context, alias, member string) error {
	if alias == member {
		return nil
	}
	ak := append(b.keys.memberKeys(alias), b.keys.credited(alias))
	staged := make([]string, len(ak))
	for i, k := range ak {
		staged[i] = k + "~"
	}
	ver, err := stageScript.Run(ctx, b.rdb, append(slices.Clone(ak), staged...)).Int64()
	if err != nil {
		return fmt.Errorf("merge alias: stage: %w", err)
	}
	if ver < 0 {
		return nil // nothing under the alias
	}
	var h, d, i, g *redis.MapStringStringCmd
	if _, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h, d, i, g = p.HGetAll(ctx, staged[0]), p.HGetAll(ctx, staged[1]), p.HGetAll(ctx, staged[2]), p.HGetAll(ctx, staged[3])
		return nil
	}); err != nil {
		return fmt.Errorf("merge alias: read: %w", err)
	}
	ttl := int64(b.cfg.DedupTTL.Seconds())
	args := []any{ttl}
	for _, m := range []map[string]string{h.Val(), d.Val(), i.Val(), g.Val()} {
		args = append(args, len(m))
		for k, v := range m {
			args = append(args, k, v)
		}
	}
	credited, err := b.creditedIn(ctx, staged[4], b.keys.creditedBefore(alias))
	if err != nil {
		return fmt.Errorf("merge alias: read: %w", err)
	}
	args = append(args, len(credited))
	for _, c := range credited {
		args = append(args, c)
	}
	mk := append(b.keys.memberKeys(member), b.keys.credited(member),
		b.keys.member(member)+"mg:"+alias+":"+strconv.FormatInt(ver, 10))
	if err := mergeScript.Run(ctx, b.rdb, mk, args...).Err(); err != nil {
		return fmt.Errorf("merge alias: %w", err)
	}
	if err := b.moveDedup(ctx, alias, member, ttl); err != nil {
		return err
	}
	// The people the alias answered, and who answered the alias, now deal with the member.
	crediting := interactionPeople(i.Val())
	allGroups, err := b.rdb.SMembers(ctx, b.keys.groups()).Result()
	if err != nil {
		return fmt.Errorf("merge alias: %w", err)
	}
	if _, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range credited {
			p.Eval(ctx, renameLua, []string{b.keys.memberKeys(c)[2]}, alias, member)
		}
		for c := range crediting {
			p.HDel(ctx, b.keys.credited(c), alias)
			p.SRem(ctx, b.keys.creditedBefore(c), alias)
			p.HSet(ctx, b.keys.credited(c), member, "1")
			p.Expire(ctx, b.keys.credited(c), b.cfg.DedupTTL) // never a key without an end
		}
		for gr := range g.Val() {
			for _, k := range b.authorMaps(gr) {
				p.Eval(ctx, remapLua, []string{k}, alias, member)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("merge alias: others: %w", err)
	}
	if err := b.moveGroupEntries(ctx, allGroups, alias, member); err != nil {
		return err
	}
	if err := b.dropIndexes(ctx, []string{alias}); err != nil {
		return fmt.Errorf("merge alias: %w", err)
	}
	if err := b.rdb.Unlink(ctx, append(staged, b.keys.creditedBefore(alias))...).Err(); err != nil {
		return fmt.Errorf("merge alias: %w", err)
	}
	states, err := b.evaluate(ctx, []string{member})
	if err != nil {
		return fmt.Errorf("merge alias: %w", err)
	}
	if b.pub == nil {
		return nil
	}
	// The CRM gets one contact: the alias's, if it was synced, is erased; the member's
	// carries everything.
	if err := b.EraseContact(ctx, alias, false, nil); err != nil {
		return fmt.Errorf("merge alias: %w", err)
	}
	return b.settleContact(ctx, states[0], true)
}

// moveDedup adds the alias's applied sequences to the member's and deletes them (the floor
// moves with the state hash, in mergeLua): the plain path's, and those a state written before
// kept in a sorted set (memberLua now keeps them in the state hash, merged by mergeLua).
func (b *Bridge) moveDedup(ctx context.Context, alias, member string, ttl int64) error {
	b.dedup.move(b.keys.applied(alias), b.keys.applied(member))
	seqs, err := b.rdb.ZRangeWithScores(ctx, b.keys.applied(alias), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("merge alias: dedup: %w", err)
	}
	if len(seqs) == 0 {
		return nil
	}
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, b.keys.applied(member), seqs...)
		p.Expire(ctx, b.keys.applied(member), time.Duration(ttl)*time.Second)
		p.Unlink(ctx, b.keys.applied(alias))
		return nil
	})
	if err != nil {
		return fmt.Errorf("merge alias: dedup: %w", err)
	}
	return nil
}

// moveGroupEntries replaces the alias by the member in every group's member set and last
// message days (keeping the later day).
func (b *Bridge) moveGroupEntries(ctx context.Context, groups []string, alias, member string) error {
	type entry struct {
		in   *redis.BoolCmd
		last *redis.FloatCmd
	}
	es := make([]entry, len(groups))
	if _, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, gr := range groups {
			es[n] = entry{p.SIsMember(ctx, b.keys.groupMembers(gr), alias), p.ZScore(ctx, b.keys.groupLast(gr), alias)}
		}
		return nil
	}); err != nil && err != redis.Nil {
		return fmt.Errorf("merge alias: groups: %w", err)
	}
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, gr := range groups {
			if es[n].in.Val() {
				p.SRem(ctx, b.keys.groupMembers(gr), alias)
				p.SAdd(ctx, b.keys.groupMembers(gr), member)
			}
			if es[n].last.Err() == nil {
				p.ZRem(ctx, b.keys.groupLast(gr), alias)
				p.ZAddGT(ctx, b.keys.groupLast(gr), redis.Z{Score: es[n].last.Val(), Member: member})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("merge alias: groups: %w", err)
	}
	return nil
}
