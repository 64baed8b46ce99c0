package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// memberWriteLua applies one event to one member: the dedup check and every write, in one
// atomic call. It does not evaluate tags: memberEvalLua does, once per member per batch, in
// the same pipeline. Tags are a pure function of the stored data, so evaluating once after
// several writes gives what evaluating after each would have.
//
// KEYS: state hash, messages per day, interactions per day|person, groups, dedup, members
// this member credited (so an erasure finds their trace in others' interactions).
// ARGV: bars, clock day, dedup ttl, kind (m message, j join, l leave, r reaction given,
// c credit: someone replied to, mentioned or reacted to this member), event day, event time
// (ms), ordering stamp, group token, group title, platform, platform id, name, first name,
// last name, username, phone, person credited, replied, mentioned, reacted, members credited
// by this event (comma list).
// Returns 1 when applied, 0 for an event this member already had.
const memberWriteLua = `
local h, dk, ik, gk = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[3]) then return 0 end
local span = tonumber(string.match(ARGV[1], '(%d+)$'))
local kind, eday, ts, stamp = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local cur = tonumber(redis.call('HGET', h, 'cur')) or 0
local R = math.max(cur, eday, tonumber(ARGV[2]))
local inspan = eday > R - span
if eday > cur then redis.call('HSET', h, 'cur', eday) end
if ARGV[10] ~= '' then redis.call('HSETNX', h, 'platform', ARGV[10]) end
if ARGV[11] ~= '' then redis.call('HSETNX', h, 'pid', ARGV[11]) end
local function keepMin(f, v)
  local o = tonumber(redis.call('HGET', h, f))
  if not o or v < o then redis.call('HSET', h, f, v) end
end
local function keepMax(f, v)
  local o = tonumber(redis.call('HGET', h, f))
  if not o or v > o then redis.call('HSET', h, f, v) end
end
if kind == 'c' then
  redis.call('HINCRBY', h, 'replies', tonumber(ARGV[18]))
  redis.call('HINCRBY', h, 'mentions', tonumber(ARGV[19]))
  redis.call('HINCRBY', h, 'reactions', tonumber(ARGV[20]))
  if inspan then redis.call('HINCRBY', ik, eday .. '|' .. ARGV[17], 1) end
else
  local s = redis.call('HGET', h, 'idstamp')
  if not s or stamp > s then
    redis.call('HSET', h, 'idstamp', stamp, 'name', ARGV[12], 'first', ARGV[13], 'last', ARGV[14], 'username', ARGV[15])
  end
  if ARGV[16] ~= '' then
    s = redis.call('HGET', h, 'phstamp')
    if not s or stamp > s then redis.call('HSET', h, 'phstamp', stamp, 'phone', ARGV[16]) end
  end
  keepMin('first_seen', ts)
  keepMax('last_seen', ts)
  if kind == 'm' then
    keepMax('last_msg', ts)
    if inspan then redis.call('HINCRBY', dk, eday, 1) end
  elseif kind == 'j' then
    redis.call('HINCRBY', h, 'joins', 1)
  elseif kind == 'l' then
    redis.call('HINCRBY', h, 'leaves', 1)
    keepMax('left_at', ts)
  end
end
if ARGV[21] ~= '' then
  for c in string.gmatch(ARGV[21], '[^,]+') do redis.call('SADD', KEYS[6], c) end
  redis.call('EXPIRE', KEYS[6], ARGV[3])
end
if ARGV[8] ~= '' then
  local old = redis.call('HGET', gk, ARGV[8])
  local newer = true
  if old then
    local z = string.find(old, '\0', 1, true)
    newer = stamp > string.sub(old, 1, z - 1)
  end
  if newer then redis.call('HSET', gk, ARGV[8], stamp .. '\0' .. ARGV[9]) end
end
redis.call('HINCRBY', h, 'ver', 1)
-- Retention: a member nobody wrote about for longer than the replay horizon is forgotten,
-- as the event log forgets their events; the daily full sweep then drops their indexes.
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return 1
`

// memberEvalLua evaluates a member's tags at the reference day R = max(latest event day,
// clock day) and returns the member's state.
//
// Tags are a pure function of the day buckets and R (never of the order events arrived in),
// which is what makes replay, redelivery and concurrent replicas agree:
//
//	window(D)  = the Window days ending with day D
//	full(D)    = window(D) meets the full bar; keep(D) = window(D) meets the lower bar
//	active(D)  = there is a day U in [D-Hold, D] with full(U) and keep on every day of [U, D]
//	actif      = active(R); inactif = not active(R) and active(D) for some D in [R-Dormant, R]
//	leader     = the same with distinct people instead of messages and days
//	nouveau    = a join was seen and the member was first seen less than NewFor days before R
//
// Hysteresis is the keep bar: a member who met the full bar keeps the tag while above the
// lower bar, up to Hold days after they last met the full bar, and must meet the full bar
// again once they fell under the lower one. Data older than R-(Window+Hold+Dormant) can no
// longer change a tag and is dropped.
//
// KEYS: state hash, messages per day, interactions per day|person, groups.
// ARGV: bars, clock day.
// Returns: applied (1, or -1 for an unknown member), version, tag bits (1 actif, 2 leader,
// 4 nouveau, 8 inactif), window messages, window days, window people, R, state fingerprint,
// last settled fingerprint, settled (1: nothing can change with time alone), platform,
// platform id, name, first, last, username, phone, first seen, last seen, last message (ms),
// replies, mentions, reactions, joins, leaves, then group token and title pairs.
const memberEvalLua = `
local h, dk, ik, gk = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', h) == 0 then return {-1} end
local cfg = {}
for n in string.gmatch(ARGV[1], '[^,]+') do cfg[#cfg+1] = tonumber(n) end
local W, H, K, N = cfg[1], cfg[2], cfg[3], cfg[4]
local amsg, adays, appl, kmsg, kdays, kppl, span = cfg[5], cfg[6], cfg[7], cfg[8], cfg[9], cfg[10], cfg[11]

local fields = {'platform','pid','name','first','last','username','phone','first_seen','last_seen','last_msg',
  'replies','mentions','reactions','joins','leaves','ver','cur','pubfp','joins','first_seen'}
local v = redis.call('HMGET', h, unpack(fields))
local cur = tonumber(v[17]) or 0
local R = math.max(cur, tonumber(ARGV[2]))

local from = R - span + 1
local msgs, ppl, stale = {}, {}, {}
local any = false
local dd = redis.call('HGETALL', dk)
for j = 1, #dd, 2 do
  local d = tonumber(dd[j])
  if d < from then stale[#stale+1] = dd[j] else msgs[d] = tonumber(dd[j+1]); any = true end
end
local function hdel(key, list)
  for j = 1, #list, 500 do
    redis.call('HDEL', key, unpack(list, j, math.min(j + 499, #list)))
  end
end
hdel(dk, stale)
stale = {}
local ii = redis.call('HKEYS', ik)
for j = 1, #ii do
  local f = ii[j]
  local bar = string.find(f, '|', 1, true)
  local d = tonumber(string.sub(f, 1, bar - 1))
  if d < from then stale[#stale+1] = f else
    local l = ppl[d]
    if not l then l = {}; ppl[d] = l end
    l[#l+1] = string.sub(f, bar + 1)
    any = true
  end
end
hdel(ik, stale)

local wm, wd, wp = 0, 0, 0
local actA, actL, wasA = false, false, false
if any then
  local pc = {}
  local start = R - K - H
  local failA, upA, failL, upL = start - 1, start - 2, start - 1, start - 2
  for D = from, R do
    local m = msgs[D]
    if m then wm = wm + m; wd = wd + 1 end
    local l = ppl[D]
    if l then
      for _, p in ipairs(l) do
        local c = pc[p] or 0
        if c == 0 then wp = wp + 1 end
        pc[p] = c + 1
      end
    end
    local old = D - W
    if old >= from then
      local om = msgs[old]
      if om then wm = wm - om; wd = wd - 1 end
      local ol = ppl[old]
      if ol then
        for _, p in ipairs(ol) do
          local c = pc[p] - 1
          pc[p] = c
          if c == 0 then wp = wp - 1 end
        end
      end
    end
    if D >= start then
      if wm < kmsg or wd < kdays then failA = D end
      if wm >= amsg and wd >= adays then upA = D end
      actA = upA > failA and upA >= D - H
      if actA and D >= R - K then wasA = true end
      if wp < kppl then failL = D end
      if wp >= appl then upL = D end
      actL = upL > failL and upL >= D - H
    end
  end
end

local nouveau = (tonumber(v[19]) or 0) > 0 and v[20] and math.floor(tonumber(v[20]) / 86400000) > R - N
local tags = 0
if actA then tags = tags + 1 end
if actL then tags = tags + 2 end
if nouveau then tags = tags + 4 end
if wasA and not actA then tags = tags + 8 end
local settled = 0
if not any and not nouveau then settled = 1 end

local groups = {}
local g = redis.call('HGETALL', gk)
for j = 1, #g, 2 do
  local z = string.find(g[j+1], '\0', 1, true)
  groups[#groups+1] = {g[j], string.sub(g[j+1], z + 1)}
end
table.sort(groups, function(a, b) return a[1] < b[1] end)

local parts = {tostring(tags)}
for j = 1, 7 do parts[#parts+1] = v[j] or '' end
local titles = {}
for _, x in ipairs(groups) do titles[#titles+1] = x[2] end
table.sort(titles)
for _, t in ipairs(titles) do parts[#parts+1] = t end
local fp = redis.sha1hex(table.concat(parts, '\n'))

local ver = tonumber(v[16]) or 0
if R > cur then ver = redis.call('HINCRBY', h, 'ver', 1) end
redis.call('HSET', h, 'tags', tags, 'wm', wm, 'wd', wd, 'wp', wp, 'cur', R, 'fp', fp, 'settled', settled)

local out = {1, ver, tags, wm, wd, wp, R, fp, v[18] or '', settled}
for j = 1, 15 do out[#out+1] = v[j] or '' end
for _, x in ipairs(groups) do out[#out+1] = x[1]; out[#out+1] = x[2] end
return out
`

// groupLua applies one event to one group: title, members seen, messages per day, last
// message day per member, and the message→author map reactions are credited with.
//
// KEYS: hash, messages per day, members seen, last message day per member, dedup, author map,
// messages per day and weekday × hour.
// ARGV: dedup ttl, kind, event day, member, ordering stamp, title, platform, platform message
// id, migrated-from group token, author map ttl, days of counts to keep, platform group id,
// weekday × hour field.
const groupLua = `
if not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local st = redis.call('HGET', KEYS[1], 'stamp')
if not st or ARGV[5] > st then
  redis.call('HSET', KEYS[1], 'stamp', ARGV[5], 'title', ARGV[6], 'platform', ARGV[7])
end
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'from', ARGV[9]) end
if ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'chat', ARGV[12]) end
if ARGV[4] ~= '' then redis.call('SADD', KEYS[3], ARGV[4]) end
if ARGV[2] == 'm' then
  local d = tonumber(ARGV[3])
  if redis.call('HINCRBY', KEYS[2], ARGV[3], 1) == 1 then
    local old = {}
    for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do
      if tonumber(f) < d - tonumber(ARGV[11]) then old[#old+1] = f end
    end
    for j = 1, #old, 500 do redis.call('HDEL', KEYS[2], unpack(old, j, math.min(j + 499, #old))) end
  end
  if ARGV[13] ~= '' and redis.call('HINCRBY', KEYS[7], ARGV[13], 1) == 1 then
    local old = {}
    for _, f in ipairs(redis.call('HKEYS', KEYS[7])) do
      local fd = tonumber(string.match(f, '^(%d+)|'))
      if fd and fd < d - tonumber(ARGV[11]) then old[#old+1] = f end
    end
    for j = 1, #old, 500 do redis.call('HDEL', KEYS[7], unpack(old, j, math.min(j + 499, #old))) end
  end
  local last = ARGV[4] ~= '' and redis.call('ZSCORE', KEYS[4], ARGV[4])
  if ARGV[4] ~= '' and (not last or tonumber(last) < d) then redis.call('ZADD', KEYS[4], d, ARGV[4]) end
  if ARGV[8] ~= '' then
    redis.call('HSET', KEYS[6], ARGV[8], ARGV[4])
    redis.call('EXPIRE', KEYS[6], ARGV[10])
  end
end
return 1
`

// indexLua writes a member's entries in the global indexes (sweep schedule, rankings, username
// and name search), unless a newer version of that member already wrote them: replicas may
// finish out of order, and an older state must not overwrite a newer one.
//
// KEYS: versions, due days, messages ranking, people ranking, username→member,
// member→username, member→search text. ARGV: member, version, due day (-1: nothing changes
// with time alone), window messages, window people, username (lowercase), search text.
const indexLua = `
local m = ARGV[1]
local v = tonumber(ARGV[2])
if v < (tonumber(redis.call('HGET', KEYS[1], m)) or -1) then return 0 end
redis.call('HSET', KEYS[1], m, v)
if tonumber(ARGV[3]) < 0 then redis.call('ZREM', KEYS[2], m) else redis.call('ZADD', KEYS[2], ARGV[3], m) end
local function rank(k, s)
  if tonumber(s) > 0 then redis.call('ZADD', k, s, m) else redis.call('ZREM', k, m) end
end
rank(KEYS[3], ARGV[4])
rank(KEYS[4], ARGV[5])
local old = redis.call('HGET', KEYS[6], m)
local new = ARGV[6]
if old and old ~= new and redis.call('HGET', KEYS[5], old) == m then redis.call('HDEL', KEYS[5], old) end
if new ~= '' then
  redis.call('HSET', KEYS[5], new, m)
  redis.call('HSET', KEYS[6], m, new)
elseif old then
  redis.call('HDEL', KEYS[6], m)
end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[7], m, ARGV[7]) else redis.call('HDEL', KEYS[7], m) end
return 1
`

// forgetLua removes a person from one member's interactions (an erasure).
//
// KEYS: interactions per day|person. ARGV: person.
const forgetLua = `
local gone = {}
local suffix = '|' .. ARGV[1]
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, -#suffix) == suffix then gone[#gone+1] = f end
end
for j = 1, #gone, 500 do redis.call('HDEL', KEYS[1], unpack(gone, j, math.min(j + 499, #gone))) end
return #gone
`

// unmapLua removes a member from one message→author map (an erasure).
//
// KEYS: author map. ARGV: member.
const unmapLua = `
local gone = {}
local kv = redis.call('HGETALL', KEYS[1])
for j = 1, #kv, 2 do if kv[j+1] == ARGV[1] then gone[#gone+1] = kv[j] end end
for j = 1, #gone, 500 do redis.call('HDEL', KEYS[1], unpack(gone, j, math.min(j + 499, #gone))) end
return #gone
`

// confirmLua records that the contact decision for a member's state fingerprint is settled,
// unless a newer version was settled already.
//
// KEYS: state hash. ARGV: fingerprint, version.
const confirmLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local v = tonumber(ARGV[2])
if v < (tonumber(redis.call('HGET', KEYS[1], 'pubver')) or -1) then return 0 end
redis.call('HSET', KEYS[1], 'pubfp', ARGV[1], 'pubver', v)
return 1
`

// scripts are the bridge's Lua scripts, loaded once and called by hash in pipelines.
type scripts struct {
	write, eval, group, index, confirm *redis.Script
	forget, unmap                      *redis.Script
}

func newScripts() scripts {
	return scripts{
		write:   redis.NewScript(memberWriteLua),
		eval:    redis.NewScript(memberEvalLua),
		group:   redis.NewScript(groupLua),
		index:   redis.NewScript(indexLua),
		confirm: redis.NewScript(confirmLua),
		forget:  redis.NewScript(forgetLua),
		unmap:   redis.NewScript(unmapLua),
	}
}

func (s scripts) load(ctx context.Context, rdb redis.UniversalClient) error {
	for _, sc := range []*redis.Script{s.write, s.eval, s.group, s.index, s.confirm, s.forget, s.unmap} {
		if err := sc.Load(ctx, rdb).Err(); err != nil {
			return fmt.Errorf("load script: %w", err)
		}
	}
	return nil
}

// pipeline runs fill's commands in one pipeline. When a script is missing (Redis restarted or
// a cluster node was added), it loads the scripts and runs the whole pipeline again: every
// command the bridge pipelines is idempotent, so the second run changes only what the first
// did not.
func (s scripts) pipeline(ctx context.Context, rdb redis.UniversalClient, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	for attempt := 0; ; attempt++ {
		cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { fill(p); return nil })
		if err == nil {
			return cmds, nil
		}
		if attempt > 0 || !anyNoScript(cmds) {
			return cmds, fmt.Errorf("redis pipeline: %w", err)
		}
		if err := s.load(ctx, rdb); err != nil {
			return cmds, err
		}
	}
}

func anyNoScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}
