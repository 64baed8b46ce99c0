package bridge

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The plain write path (Config.SingleWriter): what memberLua, groupLua, storeLua and
// indexLua do, in Go, as plain pipelined commands. It reads what the writes depend on in
// one pipeline, decides in Go, and writes in a second one. It is only correct when nothing
// else writes the same keys meanwhile, which holds for the one bridge of an embedded Redis;
// it is several times faster there, where every Lua call starts an interpreter.

func argString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	return fmt.Sprint(v)
}

// plainMemberReads are what writing one member's events depends on.
type plainMemberReads struct {
	state stateReads
	uname *redis.StringCmd // the username the indexes hold for the member
}

// plainGroupReads are what writing one group's events depends on.
type plainGroupReads struct {
	stamp   *redis.StringCmd
	count   *redis.StringCmd // messages counted towards the author maps' turnover
	mapped  *redis.IntCmd    // whether the current author map exists
	days    *redis.StringSliceCmd
	lastCmd []*redis.FloatCmd // the last message day of each of the group call's authors
}

// writePlain is write for a single writer: one pipeline reads the state the batch's
// writes depend on, the writes and the tag rules run in Go on it, and one pipeline writes
// the events, the decisions and the indexes. It returns the applied flags per member call
// and the members' states.
func (b *Bridge) writePlain(ctx context.Context, w batchWrites, floor uint64, plans []*plan, clockDay int) ([]string, []memberState, error) {
	members, groups := w.members, w.groups
	mr := make([]plainMemberReads, len(members))
	gr := make([]plainGroupReads, len(groups))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, c := range members {
			mr[n].state = readMember(ctx, p, b.keys, c.token)
			mr[n].uname = p.HGet(ctx, b.keys.usernameOf(), c.token)
		}
		for n, g := range groups {
			gr[n].stamp = p.HGet(ctx, g.keys[0], "stamp")
			gr[n].count = p.HGet(ctx, g.keys[0], "tn")
			gr[n].mapped = p.Exists(ctx, g.keys[6])
			gr[n].days = p.HKeys(ctx, g.keys[1])
			for _, m := range g.authors {
				gr[n].lastCmd = append(gr[n].lastCmd, p.ZScore(ctx, g.keys[3], m))
			}
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, nil, fmt.Errorf("plain write: read: %w", err)
	}
	pipe := b.rdb.Pipeline()
	flags := make([]string, len(members))
	states := make([]memberState, len(members))
	prev := map[string]string{}
	for n, c := range members {
		fresh := b.dedup.check(b.keys.applied(c.token), floor, c.seqs)
		var post memberHashes
		flags[n], post = b.plainMember(ctx, pipe, c, mr[n].state, fresh)
		states[n] = b.decideState(c.token, post.h, post.d, post.i, post.g, clockDay)
		if u := mr[n].uname.Val(); u != "" {
			prev[c.token] = u
		}
	}
	for n, g := range groups {
		fresh := b.dedup.check(g.keys[4], floor, g.seqs)
		b.plainGroup(ctx, pipe, g, gr[n], fresh)
	}
	b.traceWrites(ctx, pipe, w.traces)
	owners, err := b.usernameOwners(ctx, states, prev)
	if err != nil {
		return nil, nil, err
	}
	b.plainStoreWrites(ctx, pipe, states, prev, owners)
	b.groupIndexWrites(ctx, pipe, plans)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("plain write: %w", err)
	}
	// Recorded once written: a failed batch is applied again when it is retried.
	for _, c := range members {
		b.dedup.record(b.keys.applied(c.token), floor, c.seqs)
	}
	for _, g := range groups {
		b.dedup.record(g.keys[4], floor, g.seqs)
	}
	return flags, states, nil
}

// memberHashes are a member's hashes as the tag rules read them.
type memberHashes struct {
	h, d, i, g map[string]string
}

// plainMember writes one member's fresh events as memberLua would, and returns the applied
// flags.
//
// It also returns the member's hashes as the writes leave them.
func (b *Bridge) plainMember(ctx context.Context, p redis.Pipeliner, c *memberCall, r stateReads, fresh []bool) (string, memberHashes) {
	mk := b.keys.memberScriptKeys(c.token)
	span, clock, ttl := int64(c.keep), int64(c.clock), c.ttl
	v, grpOld := r.h.Val(), r.g.Val()
	post := memberHashes{h: v, d: r.d.Val(), i: r.i.Val(), g: grpOld}
	set := map[string]any{}
	get := func(f string) (string, bool) {
		if x, ok := set[f]; ok {
			return argString(x), true
		}
		s, ok := v[f]
		return s, ok
	}
	keep := func(f string, x int64, newer func(a, b int64) bool) {
		s, ok := get(f)
		old, err := strconv.ParseInt(s, 10, 64)
		if !ok || err != nil || newer(x, old) {
			set[f] = x
		}
	}
	lt := func(a, b int64) bool { return a < b }
	gt := func(a, b int64) bool { return a > b }
	cur, _ := strconv.ParseInt(v["cur"], 10, 64)
	inc, days := map[string]int64{}, map[string]int64{}
	ppl := map[string]map[string]int64{} // day → person → credits
	grp := map[string]string{}
	var cred []any
	var flags strings.Builder
	n := 0
	for j, e := range c.events {
		if !fresh[j] {
			flags.WriteByte('0')
			continue
		}
		flags.WriteByte('1')
		n++
		kind, eday, ts, stamp := e.kind, int64(e.day), e.at, e.stamp
		inspan := eday > max(cur, eday, clock)-span
		if eday > cur {
			cur = eday
			set["cur"] = eday
		}
		if _, ok := get("platform"); e.platform != "" && !ok {
			set["platform"] = e.platform
		}
		if _, ok := get("pid"); e.pid != "" && !ok {
			set["pid"] = e.pid
		}
		if kind == "c" {
			inc["replies"] += int64(bit(e.replied))
			inc["mentions"] += int64(bit(e.mentioned))
			inc["reactions"] += int64(bit(e.reacted))
			if inspan {
				d := strconv.FormatInt(eday, 10)
				if ppl[d] == nil {
					ppl[d] = map[string]int64{}
				}
				ppl[d][e.from]++
			}
		} else {
			if s, ok := get("idstamp"); !ok || stamp > s {
				set["idstamp"], set["name"], set["first"], set["last"], set["username"] = stamp, e.name, e.first, e.last, e.username
			}
			if s, ok := get("phstamp"); e.phone != "" && (!ok || stamp > s) {
				set["phstamp"], set["phone"] = stamp, e.phone
			}
			keep("first_seen", ts, lt)
			keep("last_seen", ts, gt)
			switch kind {
			case "m":
				keep("last_msg", ts, gt)
				if inspan {
					days[strconv.FormatInt(eday, 10)]++
				}
			case "j":
				inc["joins"]++
			case "l":
				inc["leaves"]++
				keep("left_at", ts, gt)
			}
			for _, x := range strings.Split(e.credited, ",") {
				if x != "" {
					cred = append(cred, x)
				}
			}
		}
		if g := e.group; g != "" {
			old, ok := grp[g]
			if !ok {
				old, ok = grpOld[g]
			}
			if st, _, _ := strings.Cut(old, "\x00"); !ok || stamp > st {
				grp[g] = stamp + "\x00" + e.title
			}
		}
	}
	if n == 0 {
		return flags.String(), post
	}
	post = memberHashes{h: maps.Clone(v), d: maps.Clone(post.d), i: maps.Clone(post.i), g: maps.Clone(grpOld)}
	for f, x := range set {
		post.h[f] = argString(x)
	}
	for f, x := range inc {
		post.h[f] = strconv.FormatInt(asInt(post.h[f])+x, 10)
	}
	post.h["ver"] = strconv.FormatInt(asInt(post.h["ver"])+1, 10)
	for f, x := range days {
		post.d[f] = strconv.FormatInt(asInt(post.d[f])+x, 10)
	}
	if post.i == nil {
		post.i = map[string]string{}
	}
	for d, add := range ppl {
		people := unpackPeople(post.i[d])
		for person, k := range add {
			people[person] += k
		}
		post.i[d] = packPeople(people)
	}
	maps.Copy(post.g, grp)
	if len(set) > 0 {
		p.HSet(ctx, mk[0], set)
	}
	for f, x := range inc {
		p.HIncrBy(ctx, mk[0], f, x)
	}
	for f, x := range days {
		p.HIncrBy(ctx, mk[1], f, x)
	}
	for d := range ppl {
		p.HSet(ctx, mk[2], d, post.i[d])
	}
	if len(grp) > 0 {
		p.HSet(ctx, mk[3], grp)
	}
	if len(cred) > 0 {
		kv := make([]any, 0, 2*len(cred))
		for _, c := range cred {
			kv = append(kv, c, "1")
		}
		p.HSet(ctx, mk[5], kv...)
		p.Expire(ctx, mk[5], secs(ttl))
	}
	p.HIncrBy(ctx, mk[0], "ver", 1)
	for _, k := range mk[:4] {
		p.Expire(ctx, k, secs(ttl))
	}
	return flags.String(), post
}

// plainGroup writes one group's fresh events as groupLua would.
func (b *Bridge) plainGroup(ctx context.Context, p redis.Pipeliner, g *groupCall, r plainGroupReads, fresh []bool) {
	mapTTL, keep, size := g.mapTTL, int64(g.keep), int64(g.size)
	stamp, hasStamp := r.stamp.Val(), r.stamp.Err() == nil
	set := map[string]any{}
	members := map[string]bool{}
	days := map[int64]int64{}
	last := map[string]int64{}
	hours := map[string]int64{}
	cur, prev := g.keys[6], g.keys[7]
	n0, _ := strconv.ParseInt(r.count.Val(), 10, 64)
	n, mapped := n0, r.mapped.Val() == 1
	var entries []any
	flush := func() {
		if len(entries) == 0 {
			return
		}
		p.HSet(ctx, cur, entries...)
		if !mapped {
			p.Expire(ctx, cur, secs(mapTTL))
		}
		entries, mapped = nil, true
	}
	for j, e := range g.events {
		if !fresh[j] {
			continue
		}
		if !hasStamp || e.stamp > stamp {
			stamp, hasStamp = e.stamp, true
			set["stamp"], set["title"], set["platform"] = e.stamp, e.title, e.platform
		}
		if e.from != "" {
			set["from"] = e.from
		}
		if e.chat != "" {
			set["chat"] = e.chat
		}
		m := e.member
		if m != "" {
			members[m] = true
		}
		if e.kind == "m" {
			d := int64(e.day)
			days[d]++
			if e.hour != "" {
				hours[e.hour]++
			}
			if l, ok := last[m]; m != "" && (!ok || l < d) {
				last[m] = d
			}
			if e.msgID != "" {
				entries = append(entries, e.msgID, m)
			}
			if n++; n%size == 0 {
				flush()
				if mapped {
					p.Rename(ctx, cur, prev)
				} else {
					p.Del(ctx, prev)
				}
				mapped = false
			}
		}
	}
	flush()
	if n != n0 {
		set["tn"] = n
	}
	if len(set) > 0 {
		p.HSet(ctx, g.keys[0], set)
	}
	if len(members) > 0 {
		ms := make([]any, 0, len(members))
		for m := range members {
			ms = append(ms, m)
		}
		p.SAdd(ctx, g.keys[2], ms...)
	}
	had := map[int64]bool{}
	var stored []int64
	for _, f := range r.days.Val() {
		if d, err := strconv.ParseInt(f, 10, 64); err == nil {
			had[d] = true
			stored = append(stored, d)
		}
	}
	for f, n := range hours {
		p.HIncrBy(ctx, g.keys[5], f, n)
	}
	var newest int64
	newDay := false
	for d, n := range days {
		p.HIncrBy(ctx, g.keys[1], strconv.FormatInt(d, 10), n)
		if !had[d] && (!newDay || d > newest) {
			newest, newDay = d, true
		}
	}
	if newDay {
		var old []string
		for _, d := range append(stored, keysOf(days)...) {
			if d < newest-keep {
				old = append(old, strconv.FormatInt(d, 10))
			}
		}
		if len(old) > 0 {
			p.HDel(ctx, g.keys[1], old...)
		}
		for _, d := range old {
			hs := make([]string, hoursOfWeek)
			for how := range hs {
				hs[how] = d + "|" + strconv.Itoa(how)
			}
			p.HDel(ctx, g.keys[5], hs...)
		}
	}
	for i, m := range g.authors {
		d, ok := last[m]
		if !ok {
			continue
		}
		if s, err := r.lastCmd[i].Result(); err != nil || int64(s) < d {
			p.ZAdd(ctx, g.keys[3], redis.Z{Score: float64(d), Member: m})
		}
	}
}

func keysOf(m map[int64]int64) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

// storePlain is store for a single writer (the sweep, a resync): storeLua and indexLua's
// writes as plain commands.
func (b *Bridge) storePlain(ctx context.Context, states []memberState, plans []*plan) error {
	var tokens []string
	for _, st := range states {
		if st.Applied >= 0 {
			tokens = append(tokens, st.Token)
		}
	}
	prev := map[string]string{}
	if len(tokens) > 0 {
		old, err := b.rdb.HMGet(ctx, b.keys.usernameOf(), tokens...).Result()
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		for i, u := range old {
			if s, ok := u.(string); ok && s != "" {
				prev[tokens[i]] = s
			}
		}
	}
	owners, err := b.usernameOwners(ctx, states, prev)
	if err != nil {
		return err
	}
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		b.plainStoreWrites(ctx, p, states, prev, owners)
		b.groupIndexWrites(ctx, p, plans)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// usernameOwners reads who the username index gives the usernames members are leaving to:
// an entry is dropped only if it still names them.
func (b *Bridge) usernameOwners(ctx context.Context, states []memberState, prev map[string]string) (map[string]string, error) {
	var names []string
	for _, st := range states {
		if u, ok := prev[st.Token]; ok && st.Applied >= 0 && u != strings.ToLower(st.Username) {
			names = append(names, u)
		}
	}
	owners := map[string]string{}
	if len(names) == 0 {
		return owners, nil
	}
	got, err := b.rdb.HMGet(ctx, b.keys.usernames(), names...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	for i, o := range got {
		if s, ok := o.(string); ok {
			owners[names[i]] = s
		}
	}
	return owners, nil
}

// plainStoreWrites are storeLua's and indexLua's writes for members, without their guards
// (nothing else writes).
func (b *Bridge) plainStoreWrites(ctx context.Context, p redis.Pipeliner, states []memberState, prev, owners map[string]string) {
	for _, st := range states {
		if st.Applied < 0 {
			continue
		}
		mk := b.keys.memberKeys(st.Token)
		if st.bumps {
			p.HIncrBy(ctx, mk[0], "ver", 1)
		}
		p.HSet(ctx, mk[0], "cur", st.Cur, "tags", int(st.Bits), "wm", st.Msgs, "wd", st.Days, "wp", st.People, "settled", bit(st.Settled))
		if len(st.staleDays) > 0 {
			p.HDel(ctx, mk[1], st.staleDays...)
		}
		if len(st.stalePeople) > 0 {
			p.HDel(ctx, mk[2], st.stalePeople...)
		}
		m := st.Token
		p.HSet(ctx, b.keys.version(), m, st.Ver)
		if st.Settled {
			p.ZRem(ctx, b.keys.due(), m)
		} else {
			p.ZAdd(ctx, b.keys.due(), redis.Z{Score: float64(st.Cur), Member: m})
		}
		for _, r := range []struct {
			key string
			n   int
		}{{b.keys.rankMsgs(), st.Msgs}, {b.keys.rankPeople(), st.People}} {
			if r.n > 0 {
				p.ZAdd(ctx, r.key, redis.Z{Score: float64(r.n), Member: m})
			} else {
				p.ZRem(ctx, r.key, m)
			}
		}
		uname := strings.ToLower(st.Username)
		old, had := prev[m]
		if had && old != uname && owners[old] == m {
			p.HDel(ctx, b.keys.usernames(), old)
		}
		switch {
		case uname != "":
			p.HSet(ctx, b.keys.usernames(), uname, m)
			p.HSet(ctx, b.keys.usernameOf(), m, uname)
		case had:
			p.HDel(ctx, b.keys.usernameOf(), m)
		}
		if s := searchText(st); s != "" {
			p.HSet(ctx, b.keys.names(), m, s)
		} else {
			p.HDel(ctx, b.keys.names(), m)
		}
	}
}
