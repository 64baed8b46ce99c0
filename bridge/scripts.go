package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// memberLua applies a batch's events to one member, in one atomic call: the dedup check and
// the counter writes. The tag rules run in Go (rules.go) on the state read after it.
//
// Idempotence: every event carries the stream sequence that identifies it (for an erasure's
// copy live, the original's). The member keeps the sequences it applied in its state hash
// (field xs) and a floor (xf): a sequence at or under the floor was settled (acked, or
// replayed) before, so it is a duplicate; the caller passes the floor it knows (the
// consumer's ack floor live, the end of the previous batch in a replay) and xs keeps only
// what is above it. A field rather than a sorted set of its own: at national scale most
// members are seen once or twice, and a key per member cost Redis more memory than their
// state and three more calls per script (relais bench). Past 64 sequences (a member active
// while the ack floor lags, as through an import) they move to a sorted set (KEYS[5]) and xs
// says "*": parsing and rewriting a long field at every call cost more than the set. A state
// written before xs keeps its sorted set.
//
// KEYS: state hash, messages per day, interactions per day|person, groups, applied sequences
// (the sorted set), members this member credited (so an erasure finds their trace in
// others' interactions).
// ARGV: days of history kept, clock day, ttl, floor, then 15 values per event: sequence,
// kind (m message, j join, l leave, r reaction given, c credit: someone replied to,
// mentioned or reacted to this member), day, time (ms), ordering stamp, group token, group
// title, platform, platform id, then for c: person, replied, mentioned, reacted and two empty
// values; else: name, first name, last name, username, phone, members credited (comma list).
// Returns the applied flags, "1" or "0" per event. The caller reads the state after it, in
// the same pipeline. Reads and writes of the hash are made once per call, not per event.
const memberLua = peopleLua + dedupLua + `
local xsMax = 64
local h, dk, ik, gk, xk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local span, clock, ttl, floor = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local F = {'cur', 'xf', 'idstamp', 'phstamp', 'first_seen', 'last_seen', 'last_msg', 'left_at', 'platform', 'pid', 'xs', 'ver'}
local v, o = {}, redis.call('HMGET', h, unpack(F))
for i, f in ipairs(F) do v[f] = o[i] end
local set, inc, days, ppl, grp, gtitle, cred = {}, {}, {}, {}, {}, {}, {}
local f = math.max(tonumber(v.xf) or 0, floor)
if floor > (tonumber(v.xf) or 0) then set.xf = floor end
-- The sequences applied above the floor: in xs, written with %.0f (Lua prints big numbers
-- in exponent form, and sequences are exact below 2^53), or in the sorted set once xs is
-- "*" (and for a state written before xs).
local xs, seen, fresh = {}, {}, nil
local zset = v.xs == '*'
if not v.xs and v.ver then zset = true end -- HMGET gives false for a missing field
local function keep(q)
  if q and q > f and not seen[q] then seen[q] = true; xs[#xs + 1] = string.format('%.0f', q) end
end
if zset then
  if set.xf then redis.call('ZREMRANGEBYSCORE', xk, '-inf', floor) end
  fresh = claim(xk, 5, 15, f)
elseif v.xs then
  for q in string.gmatch(v.xs, '%d+') do keep(tonumber(q)) end
end
local cur = tonumber(v.cur) or 0
local function add(t, k, n) t[k] = (t[k] or 0) + n end
local flags = {}
local n = 0
local first_seen, last_seen, last_msg, left_at = tonumber(v.first_seen), tonumber(v.last_seen), tonumber(v.last_msg), tonumber(v.left_at)
local idstamp, phstamp, platform, pid = v.idstamp, v.phstamp, v.platform, v.pid
for k = 5, #ARGV, 15 do
  local q, new = tonumber(ARGV[k]), nil
  if zset then
    new = fresh[q]; fresh[q] = nil -- a sequence twice in one call applies once
  else
    new = q > f and not seen[q]
    if new then keep(q) end
  end
  if not new then
    flags[#flags + 1] = '0'
  else
    flags[#flags + 1] = '1'; n = n + 1
    local kind, eday, ts, stamp = ARGV[k + 1], tonumber(ARGV[k + 2]), tonumber(ARGV[k + 3]), ARGV[k + 4]
    local inspan = eday > math.max(cur, eday, clock) - span
    if eday > cur then cur = eday; set.cur = eday end
    if ARGV[k + 7] ~= '' and not platform then platform = ARGV[k + 7]; set.platform = platform end
    if ARGV[k + 8] ~= '' and not pid then pid = ARGV[k + 8]; set.pid = pid end
    if kind == 'c' then
      add(inc, 'replies', tonumber(ARGV[k + 10])); add(inc, 'mentions', tonumber(ARGV[k + 11])); add(inc, 'reactions', tonumber(ARGV[k + 12]))
      if inspan then
        local t = ppl[eday]
        if not t then t = {}; ppl[eday] = t end
        add(t, ARGV[k + 9], 1)
      end
    else
      if not idstamp or stamp > idstamp then
        idstamp = stamp
        set.idstamp, set.name, set.first, set.last, set.username = stamp, ARGV[k + 9], ARGV[k + 10], ARGV[k + 11], ARGV[k + 12]
      end
      if ARGV[k + 13] ~= '' and (not phstamp or stamp > phstamp) then phstamp = stamp; set.phstamp, set.phone = stamp, ARGV[k + 13] end
      if not first_seen or ts < first_seen then first_seen = ts; set.first_seen = ts end
      if not last_seen or ts > last_seen then last_seen = ts; set.last_seen = ts end
      if kind == 'm' then
        if not last_msg or ts > last_msg then last_msg = ts; set.last_msg = ts end
        if inspan then add(days, eday, 1) end
      elseif kind == 'j' then
        add(inc, 'joins', 1)
      elseif kind == 'l' then
        add(inc, 'leaves', 1)
        if not left_at or ts > left_at then left_at = ts; set.left_at = ts end
      end
      if ARGV[k + 14] ~= '' then
        for c in string.gmatch(ARGV[k + 14], '[^,]+') do cred[c] = true end
      end
    end
    local g = ARGV[k + 5]
    if g ~= '' then
      local old = grp[g]
      if old == nil then
        local o = redis.call('HGET', gk, g)
        old = o and string.sub(o, 1, string.find(o, '\0', 1, true) - 1)
      end
      if not old or stamp > old then grp[g] = stamp; gtitle[g] = ARGV[k + 6] else grp[g] = old end
    end
  end
end
local function flat(t)
  local out = {}
  for k, x in pairs(t) do out[#out + 1] = k; out[#out + 1] = x end
  return out
end
-- Lua's unpack is bounded by the stack: long argument lists go in chunks.
local function chunked(cmd, key, l)
  for j = 1, #l, 500 do redis.call(cmd, key, unpack(l, j, math.min(j + 499, #l))) end
end
if n == 0 then
  -- Nothing applied: only the floor may move, and never brings an erased member back.
  if set.xf and v.ver then
    if zset then redis.call('HSET', h, 'xf', set.xf) else redis.call('HSET', h, 'xf', set.xf, 'xs', table.concat(xs, ',')) end
  end
  return table.concat(flags)
end
if zset then
  set.xs = '*'
elseif #xs > xsMax then
  -- A member this active pays less for a sorted set than for parsing a long field.
  local put = {}
  for _, q in ipairs(xs) do put[#put + 1] = q; put[#put + 1] = q end
  chunked('ZADD', xk, put)
  set.xs, zset = '*', true
else
  set.xs = table.concat(xs, ',')
end
redis.call('HSET', h, unpack(flat(set)))
for k, x in pairs(inc) do redis.call('HINCRBY', h, k, x) end
for k, x in pairs(days) do redis.call('HINCRBY', dk, k, x) end
for d, t in pairs(ppl) do addPeople(ik, d, t) end
if next(gtitle) then
  local kv = {}
  for g, t in pairs(gtitle) do kv[#kv + 1] = g; kv[#kv + 1] = grp[g] .. '\0' .. t end
  redis.call('HSET', gk, unpack(kv))
end
local cs = {}
for c in pairs(cred) do cs[#cs + 1] = c; cs[#cs + 1] = '1' end
if #cs > 0 then
  chunked('HSET', KEYS[6], cs)
  redis.call('EXPIRE', KEYS[6], ttl)
end
redis.call('HINCRBY', h, 'ver', 1)
-- Retention: a member nobody wrote about for longer than the replay horizon is forgotten,
-- as the event log forgets their events; the daily full sweep then drops their indexes.
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
if zset then redis.call('EXPIRE', xk, ttl) end
return table.concat(flags)
`

// storeLua records what the tag rules decided for a member, unless the member changed since
// the state they read (another replica then stores its own decision), and drops day buckets
// too old to change a tag. The version moves when the reference day does.
//
// KEYS: state hash, messages per day, interactions. ARGV: version read, reference day, tags,
// window messages, days, people, settled, count of stale day fields, then the stale day
// fields and the stale interaction fields. The fingerprint is not stored: nothing reads it
// but the settled one (pubfp, confirmLua).
const storeLua = `
local h = KEYS[1]
if redis.call('HGET', h, 'ver') ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > (tonumber(redis.call('HGET', h, 'cur')) or 0) then redis.call('HINCRBY', h, 'ver', 1) end
redis.call('HSET', h, 'cur', ARGV[2], 'tags', ARGV[3], 'wm', ARGV[4], 'wd', ARGV[5], 'wp', ARGV[6], 'settled', ARGV[7])
local nd = tonumber(ARGV[8])
local function hdel(key, from, to)
  for j = from, to, 500 do redis.call('HDEL', key, unpack(ARGV, j, math.min(j + 499, to))) end
end
hdel(KEYS[2], 9, 8 + nd)
hdel(KEYS[3], 9 + nd, #ARGV)
return 1
`

// groupLua applies a batch's events to one group: title, members seen, messages per day,
// last message day per member, and the message→author map reactions are credited with. The
// applied sequences work as in memberLua.
//
// The author map is bounded by a count: the hash field tn counts the group's applied
// messages, and each time it reaches a multiple of the map size the current map is renamed
// over the previous one (an empty current one deletes it), message by message, so where the
// maps turn over depends only on the messages applied, not on how they were batched; resolve
// reckons with the same count.
//
// KEYS: hash, messages per day, members seen, last message day per member, applied
// sequences, messages per day and weekday × hour, current and previous author maps.
// ARGV: floor, author map ttl, days of counts to keep, author map size, then 11 values per
// event: sequence, kind, day, member, ordering stamp, title, platform, platform message id
// (empty: the message is not mapped), migrated-from group token, platform chat id, weekday ×
// hour field. A day's weekday × hour fields are dropped with its day count.
const groupLua = dedupLua + `
local h, cur, prev = KEYS[1], KEYS[7], KEYS[8]
local v = redis.call('HMGET', h, 'xf', 'stamp', 'tn')
local floor, f, stamp, n0 = tonumber(ARGV[1]), tonumber(v[1]) or 0, v[2], tonumber(v[3]) or 0
local size = tonumber(ARGV[4])
local set, days, last, entries, members, hours = {}, {}, {}, {}, {}, {}
local n = n0
if floor > f then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', floor)
  set.xf, f = floor, floor
end
local function chunked(cmd, key, l)
  for j = 1, #l, 500 do redis.call(cmd, key, unpack(l, j, math.min(j + 499, #l))) end
end
local function flush()
  if #entries == 0 then return end
  local new = redis.call('EXISTS', cur) == 0
  chunked('HSET', cur, entries)
  if new then redis.call('EXPIRE', cur, ARGV[2]) end
  entries = {}
end
local fresh = claim(KEYS[5], 5, 11, f)
for k = 5, #ARGV, 11 do
  local seq = tonumber(ARGV[k])
  if fresh[seq] then
    fresh[seq] = nil
    local st = ARGV[k + 4]
    if not stamp or st > stamp then stamp = st; set.stamp, set.title, set.platform = st, ARGV[k + 5], ARGV[k + 6] end
    if ARGV[k + 8] ~= '' then set.from = ARGV[k + 8] end
    if ARGV[k + 9] ~= '' then set.chat = ARGV[k + 9] end
    local m = ARGV[k + 3]
    if m ~= '' then members[m] = true end
    if ARGV[k + 1] == 'm' then
      local d = tonumber(ARGV[k + 2])
      days[d] = (days[d] or 0) + 1
      local hf = ARGV[k + 10]
      if hf ~= '' then hours[hf] = (hours[hf] or 0) + 1 end
      if m ~= '' and (last[m] or -1) < d then last[m] = d end
      if ARGV[k + 7] ~= '' then entries[#entries + 1] = ARGV[k + 7]; entries[#entries + 1] = m end
      n = n + 1
      if n % size == 0 then
        flush()
        if redis.call('EXISTS', cur) == 1 then redis.call('RENAME', cur, prev) else redis.call('DEL', prev) end
      end
    end
  end
end
flush()
if n ~= n0 then set.tn = n end
local kv = {}
for k, x in pairs(set) do kv[#kv + 1] = k; kv[#kv + 1] = x end
if #kv > 0 then redis.call('HSET', h, unpack(kv)) end
local ms = {}
for m in pairs(members) do ms[#ms + 1] = m end
chunked('SADD', KEYS[3], ms)
for f, n in pairs(hours) do redis.call('HINCRBY', KEYS[6], f, n) end
local newday
for d, n in pairs(days) do
  if redis.call('HINCRBY', KEYS[2], d, n) == n then newday = math.max(newday or d, d) end
end
if newday then
  local old = {}
  for _, fd in ipairs(redis.call('HKEYS', KEYS[2])) do
    if tonumber(fd) < newday - tonumber(ARGV[3]) then old[#old + 1] = fd end
  end
  for j = 1, #old, 500 do redis.call('HDEL', KEYS[2], unpack(old, j, math.min(j + 499, #old))) end
  for _, fd in ipairs(old) do
    local hs = {}
    for how = 0, 167 do hs[#hs + 1] = fd .. '|' .. how end
    redis.call('HDEL', KEYS[6], unpack(hs))
  end
end
-- GT keeps a member's later day: one call for the group's members, not two per member.
local lm = {}
for m, d in pairs(last) do lm[#lm + 1] = d; lm[#lm + 1] = m end
for j = 1, #lm, 500 do redis.call('ZADD', KEYS[4], 'GT', unpack(lm, j, math.min(j + 499, #lm))) end
return 1
`

// indexLua writes members' entries in the global indexes (sweep schedule, rankings, username
// and name search), unless a newer version of a member already wrote them: replicas may
// finish out of order, and an older state must not overwrite a newer one. The indexes share
// one cluster slot, so one call writes a whole pipeline's members: a call per member cost
// Redis more to start than its writes (INFO commandstats).
//
// KEYS: versions, due days, messages ranking, people ranking, username→member,
// member→username, member→search text. ARGV: 7 values per member: member, version, due day
// (-1: nothing changes with time alone), window messages, window people, username
// (lowercase), search text. Returns how many members it wrote.
const indexLua = `
local function rank(k, s, m)
  if tonumber(s) > 0 then redis.call('ZADD', k, s, m) else redis.call('ZREM', k, m) end
end
local n = 0
for j = 1, #ARGV, 7 do
  local m, v = ARGV[j], tonumber(ARGV[j + 1])
  if v >= (tonumber(redis.call('HGET', KEYS[1], m)) or -1) then
    n = n + 1
    redis.call('HSET', KEYS[1], m, v)
    if tonumber(ARGV[j + 2]) < 0 then redis.call('ZREM', KEYS[2], m) else redis.call('ZADD', KEYS[2], ARGV[j + 2], m) end
    rank(KEYS[3], ARGV[j + 3], m)
    rank(KEYS[4], ARGV[j + 4], m)
    local old = redis.call('HGET', KEYS[6], m)
    local new = ARGV[j + 5]
    if old and old ~= new and redis.call('HGET', KEYS[5], old) == m then redis.call('HDEL', KEYS[5], old) end
    if new ~= '' then
      redis.call('HSET', KEYS[5], new, m)
      redis.call('HSET', KEYS[6], m, new)
    elseif old then
      redis.call('HDEL', KEYS[6], m)
    end
    if ARGV[j + 6] ~= '' then redis.call('HSET', KEYS[7], m, ARGV[j + 6]) else redis.call('HDEL', KEYS[7], m) end
  end
end
return n
`

// dedupLua is the dedup check memberLua and groupLua share, in two calls rather than one per
// event: which of the call's sequences above the floor the applied set already holds, then
// the new ones added to it. claim returns the sequences to apply: each once, even when the
// call carries one twice. The events' sequences are every stride-th ARGV from first.
const dedupLua = `
local function claim(key, first, stride, floor)
  local new, fresh, seen = {}, {}, {}
  for k = first, #ARGV, stride do
    local seq = tonumber(ARGV[k])
    if seq > floor and not seen[seq] then seen[seq] = true; new[#new + 1] = seq end
  end
  for j = 1, #new, 500 do
    local got = redis.call('ZMSCORE', key, unpack(new, j, math.min(j + 499, #new)))
    local put = {}
    for i = 1, #got do
      if not got[i] then
        local q = new[j + i - 1]
        fresh[q] = true; put[#put + 1] = q; put[#put + 1] = q
      end
    end
    if #put > 0 then redis.call('ZADD', key, unpack(put)) end
  end
  return fresh
end
`

// peopleLua reads and writes the packed day values of a member's interactions (people.go):
// "person:count,…" sorted by person, byte by byte as Go sorts (Lua's own comparison follows
// the server's locale).
const peopleLua = `
local function unpackPeople(v)
  local t = {}
  if v then
    for p, n in string.gmatch(v, '([^,:]+):(%d+)') do t[p] = (t[p] or 0) + tonumber(n) end
  end
  return t
end
local function bytewise(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function packPeople(t)
  local ps = {}
  for p in pairs(t) do ps[#ps + 1] = p end
  table.sort(ps, bytewise)
  for i, p in ipairs(ps) do ps[i] = p .. ':' .. string.format('%d', t[p]) end
  return table.concat(ps, ',')
end
-- writePeople stores a day's people, or drops the day when nobody is left.
local function writePeople(key, day, t)
  if next(t) then redis.call('HSET', key, day, packPeople(t)) else redis.call('HDEL', key, day) end
end
local function addPeople(key, day, add)
  local t = unpackPeople(redis.call('HGET', key, day))
  for p, n in pairs(add) do t[p] = (t[p] or 0) + n end
  writePeople(key, day, t)
end
`

// forgetLua removes a person from one member's interactions (an erasure), in day values and
// in fields of the format before (day|person).
//
// KEYS: interactions. ARGV: person.
const forgetLua = peopleLua + `
local gone = 0
local suffix = '|' .. ARGV[1]
local kv = redis.call('HGETALL', KEYS[1])
for j = 1, #kv, 2 do
  local f = kv[j]
  if string.find(f, '|', 1, true) then
    if string.sub(f, -#suffix) == suffix then redis.call('HDEL', KEYS[1], f); gone = gone + 1 end
  else
    local t = unpackPeople(kv[j + 1])
    if t[ARGV[1]] then
      t[ARGV[1]] = nil
      writePeople(KEYS[1], f, t)
      gone = gone + 1
    end
  end
end
return gone
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
// KEYS: state hash. ARGV: fingerprint, version, "0" when relais read the member has no
// contact change kept and published none (see markCRMLua), else "".
const confirmLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('HSETNX', KEYS[1], 'crm', ARGV[3]) end
local v = tonumber(ARGV[2])
if v < (tonumber(redis.call('HGET', KEYS[1], 'pubver')) or -1) then return 0 end
redis.call('HSET', KEYS[1], 'pubfp', ARGV[1], 'pubver', v)
return 1
`

// markCRMLua records, before a member's contact change is published, that relais may have put
// them in the CRM ("crm" = "1"), so that lastChanges keeps reading their last change. It
// writes only into an existing state: a member erased meanwhile is not brought back, and the
// caller publishes nothing. A "0" (confirmLua) never overwrites a "1".
//
// KEYS: state hash.
const markCRMLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'crm', '1')
return 1
`

// scripts are the bridge's Lua scripts, loaded once and called by hash in pipelines.
type scripts struct {
	member, store, group, index, confirm *redis.Script
	markCRM                              *redis.Script
	forget, unmap                        *redis.Script
}

func newScripts() scripts {
	return scripts{
		member:  redis.NewScript(memberLua),
		store:   redis.NewScript(storeLua),
		group:   redis.NewScript(groupLua),
		index:   redis.NewScript(indexLua),
		confirm: redis.NewScript(confirmLua),
		markCRM: redis.NewScript(markCRMLua),
		forget:  redis.NewScript(forgetLua),
		unmap:   redis.NewScript(unmapLua),
	}
}

func (s scripts) load(ctx context.Context, rdb redis.UniversalClient) error {
	for _, sc := range []*redis.Script{s.member, s.store, s.group, s.index, s.confirm, s.markCRM, s.forget, s.unmap} {
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
