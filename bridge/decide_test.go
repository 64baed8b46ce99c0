package bridge

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge/bridgetest"
)

// TestDecide checks the tag rules as a pure function on hand-made day buckets (default bars:
// active 10 messages on 3 days, kept at 7 on 2; leader 5 people, kept at 4; window, hold and
// dormant 30 days; new for 14 days). Day offsets are relative to the reference day 0.
func TestDecide(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	bs := cfg.bars()
	const R = 20000
	people := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "p" + strconv.Itoa(i)
		}
		return out
	}
	cases := []struct {
		name    string
		msgs    map[int]int
		ppl     map[int][]string
		joined  bool
		first   int
		want    tagBits
		settled bool
	}{
		{name: "nothing", want: 0, settled: true},
		{name: "active at the bar", msgs: map[int]int{0: 4, -1: 3, -2: 3}, want: bitActive},
		{name: "one message short", msgs: map[int]int{0: 3, -1: 3, -2: 3}},
		{name: "one day short", msgs: map[int]int{0: 5, -1: 5}},
		{name: "kept at the lower bar", msgs: map[int]int{-35: 3, -20: 4, -10: 3}, want: bitActive},
		{name: "dropped under the lower bar", msgs: map[int]int{-35: 4, -20: 3, -10: 3}, want: bitDormant},
		{name: "no re-entry on the lower bar", msgs: map[int]int{-35: 4, -20: 3, -10: 3, 0: 1}, want: bitDormant},
		{name: "re-entry at the full bar", msgs: map[int]int{-35: 4, -20: 3, -10: 3, 0: 4}, want: bitActive},
		{name: "dormant memory over", msgs: map[int]int{-75: 4, -74: 3, -73: 3}, want: 0},
		{name: "buckets older than the span", msgs: map[int]int{-95: 4, -94: 3, -93: 3}, want: 0, settled: true},
		{name: "leader at the bar", ppl: map[int][]string{-3: people(3), 0: {"p3", "p4"}}, want: bitLeader},
		{name: "leader one short", ppl: map[int][]string{-3: people(3), 0: {"p3"}}},
		{name: "same people every day", ppl: map[int][]string{-2: people(3), -1: people(3), 0: people(3)}},
		{name: "new", joined: true, first: -13, want: bitNew},
		{name: "new no more", joined: true, first: -14, want: 0, settled: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := dayBuckets{Msgs: map[int]int{}, People: map[int][]string{}, Joined: tc.joined, FirstSeen: R + tc.first}
			for d, n := range tc.msgs {
				a.Msgs[R+d] = n
			}
			for d, p := range tc.ppl {
				a.People[R+d] = p
			}
			v := decide(bs, a, R)
			if v.Bits != tc.want || v.Settled != tc.settled {
				t.Errorf("decide = %+v, want bits %b settled %v", v, tc.want, tc.settled)
			}
		})
	}
}

// FuzzDecideMatchesLua: the Go rules decide what the Lua rules they replace decided (kept
// below as the oracle), on any day buckets and bars.
func FuzzDecideMatchesLua(f *testing.F) {
	f.Add([]byte{3, 2, 3, 10, 3, 5, 14, 0, 4, 1, 3, 2, 3, 3, 3}, uint8(0))
	f.Add([]byte{7, 30, 7, 10, 3, 5, 14, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1}, uint8(5))
	f.Add([]byte{1, 0, 0, 1, 1, 1, 1, 9, 9, 9, 9}, uint8(200))
	rdb, prefix := bridgetest.Redis(f)
	oracle := redis.NewScript(oracleEvalLua)
	f.Fuzz(func(t *testing.T, data []byte, first uint8) {
		if len(data) < 7 {
			return
		}
		c := Config{ActiveMinMessages: 1 + int(data[3]%20), ActiveMinDays: 1 + int(data[4]%5), LeaderMinPeople: 1 + int(data[5]%8)}
		bs := bars{windowDays: 1 + int(data[0]%10), holdDays: int(data[1] % 10), dormantDays: int(data[2] % 10), newDays: 1 + int(data[6]%20),
			activeMsgs: c.ActiveMinMessages, activeDays: c.ActiveMinDays, leaderPeople: c.LeaderMinPeople,
			keepMsgs: lower(c.ActiveMinMessages), keepDays: max(1, c.ActiveMinDays-1), keepPeople: lower(c.LeaderMinPeople)}
		span := bs.windowDays + bs.holdDays + bs.dormantDays
		const R = 20000
		a := dayBuckets{Msgs: map[int]int{}, People: map[int][]string{}, Joined: first%2 == 1, FirstSeen: R - int(first/2)%30}
		k := keys{prefix: prefix + "fz:"}
		mk := k.memberKeys("m")
		ctx := context.Background()
		if err := rdb.Del(ctx, mk...).Err(); err != nil {
			t.Fatal(err)
		}
		h := map[string]any{"cur": R, "ver": 1}
		if a.Joined {
			h["joins"], h["first_seen"] = 1, int64(a.FirstSeen)*86400000+1000
		}
		pipe := rdb.Pipeline()
		pipe.HSet(ctx, mk[0], h)
		for i, x := range data[7:] {
			d := R - int(x)%(span+3)
			if i%2 == 0 {
				a.Msgs[d] += 1 + int(x)%3
				pipe.HIncrBy(ctx, mk[1], strconv.Itoa(d), int64(1+int(x)%3))
			} else {
				p := "p" + strconv.Itoa(int(x)%7)
				if pipe.HIncrBy(ctx, mk[2], strconv.Itoa(d)+"|"+p, 1); !containsString(a.People[d], p) {
					a.People[d] = append(a.People[d], p)
				}
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		got := decide(bs, a, R)
		arr, err := oracle.Run(ctx, rdb, mk, bs.arg(), R).Slice()
		if err != nil {
			t.Fatal(err)
		}
		want := verdict{Bits: tagBits(asInt(arr[2])), Msgs: int(asInt(arr[3])), Days: int(asInt(arr[4])), People: int(asInt(arr[5])), Settled: asInt(arr[9]) == 1}
		if got != want {
			t.Fatalf("bars %+v, buckets %+v: Go %+v, Lua %+v", bs, a, got, want)
		}
	})
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// oracleEvalLua is the Lua implementation of the tag rules that rules.go replaced, kept as
// the fuzz test's oracle.
const oracleEvalLua = `
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
