package commands_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events/eventstest"
)

// topNow is the clock of the seeded states.
var topNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// seedShape is a state to seed: members seen in groups, a share of whom posted lately.
type seedShape struct {
	members, groups int
	posters         float64 // share of members with activity in the last 45 days
	stale           float64 // share of posters last evaluated days ago, not today
	seed            uint64
}

// seeded is a state written straight into Redis, as the bridge's scripts and storeState
// write it (keys.go): member hashes, day buckets, interactions and groups; group hashes,
// members seen and last message days; the rankings and tags as of each member's last
// evaluation, which for some was days ago (their scores are above their figures now).
type seeded struct {
	rdb    redis.UniversalClient
	prefix string
	groups []string
	// migrated is a group token aliased to groups[1]: its members are groups[1]'s.
	migrated string
	cards    atomic.Int64 // member cards read since the last reset
}

func seedState(t testing.TB, sh seedShape) *seeded {
	t.Helper()
	rdb, prefix := bridgetest.Redis(t)
	s := &seeded{rdb: rdb, prefix: prefix}
	rng := rand.New(rand.NewPCG(sh.seed, 7))
	ctx := context.Background()
	today := int(topNow.Unix() / 86400)
	idx := func(n string) string { return prefix + "idx:{i}:" + n }
	grp := func(g, k string) string { return prefix + "g:{" + g + "}:" + k }
	p := rdb.Pipeline()
	flush := func() {
		if _, err := p.Exec(ctx); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	for g := range sh.groups {
		tok := fmt.Sprintf("g%03d", g)
		s.groups = append(s.groups, tok)
		p.SAdd(ctx, idx("groups"), tok)
		p.HSet(ctx, grp(tok, "h"), "title", fmt.Sprintf("Groupe %03d", g), "platform", "telegram", "chat", strconv.Itoa(-1000-g))
	}
	s.migrated = "gold"
	p.SAdd(ctx, idx("groups"), s.migrated)
	p.HSet(ctx, grp(s.migrated, "h"), "title", "Ancien groupe", "platform", "telegram")
	p.HSet(ctx, idx("galias"), s.migrated, s.groups[1])
	// Few names, so equal names are common and the token decides.
	names := []string{"Camille Martin", "camille martin", "Inès", "Yann", "", "Lou Petit", "Marc"}
	for i := range sh.members {
		m := fmt.Sprintf("m%06d", i)
		mk := func(k string) string { return prefix + "m:{" + m + "}:" + k }
		gs := []string{s.groups[rng.IntN(sh.groups)]}
		if rng.IntN(4) == 0 {
			gs = append(gs, s.groups[rng.IntN(sh.groups)])
		}
		if i%97 == 0 {
			gs = []string{s.migrated} // seen only before the migration
		}
		msgs, people := map[int]int{}, map[int][]string{}
		if rng.Float64() < sh.posters {
			from := today - 45 + rng.IntN(46) // posting since then, some stopped since
			until := min(today, from+rng.IntN(30))
			rate := 1 + rng.IntN(3)
			for d := from; d <= until; d++ {
				if rng.IntN(3) == 0 {
					msgs[d] = 1 + rng.IntN(rate)
				}
				if rng.IntN(4) == 0 {
					for range 1 + rng.IntN(3) {
						people[d] = append(people[d], fmt.Sprintf("p%02d", rng.IntN(12)))
					}
				}
			}
		}
		last := -1
		for d := range msgs {
			last = max(last, d)
		}
		for d := range people {
			last = max(last, d)
		}
		user := ""
		if rng.IntN(3) == 0 {
			user = fmt.Sprintf("u%d", rng.IntN(20))
		}
		h := []any{"name", names[rng.IntN(len(names))], "username", user, "platform", "telegram",
			"first_seen", strconv.Itoa(int(topNow.Add(-60 * 24 * time.Hour).UnixMilli()))}
		if last >= 0 {
			// Most were evaluated today (the sweep re-evaluates whoever time changes); the
			// others on the day of their last activity or up to two days later, never before
			// it: scores bound the figures from above, as the bridge keeps them.
			eval := today
			if rng.Float64() < sh.stale {
				eval = min(today, last+rng.IntN(3))
			}
			wm, wd, wp := window(msgs, people, eval)
			bits := 0
			if wm >= 10 && wd >= 3 {
				bits |= 1 // active
			}
			if wp >= 5 {
				bits |= 2 // leader
			}
			h = append(h, "cur", eval, "tags", bits, "wm", wm, "wd", wd, "wp", wp)
			for d, n := range msgs {
				p.HSet(ctx, mk("d"), strconv.Itoa(d), n)
			}
			for d, ps := range people {
				counts := map[string]int{}
				for _, x := range ps {
					counts[x]++
				}
				var packed []string
				for _, x := range slices.Sorted(maps.Keys(counts)) {
					packed = append(packed, x+":"+strconv.Itoa(counts[x]))
				}
				p.HSet(ctx, mk("i"), strconv.Itoa(d), strings.Join(packed, ","))
			}
			if wm > 0 {
				p.ZAdd(ctx, idx("msgs"), redis.Z{Score: float64(wm), Member: m})
			}
			if wp > 0 {
				p.ZAdd(ctx, idx("people"), redis.Z{Score: float64(wp), Member: m})
			}
		}
		p.HSet(ctx, mk("h"), h...)
		for _, g := range gs {
			p.HSet(ctx, mk("g"), g, "0001\x00"+g)
			p.SAdd(ctx, grp(g, "m"), m)
			lastMsg := -1
			for d := range msgs {
				lastMsg = max(lastMsg, d)
			}
			if lastMsg >= 0 {
				p.ZAddGT(ctx, grp(g, "a"), redis.Z{Score: float64(lastMsg), Member: m})
			}
		}
		if p.Len() > 5000 {
			flush()
		}
	}
	flush()
	rdb.AddHook(countHook{&s.cards, prefix + "m:{"})
	return s
}

// window is messages, days and distinct people in the 30 days ending on day ref.
func window(msgs map[int]int, people map[int][]string, ref int) (wm, wd, wp int) {
	ps := map[string]bool{}
	for d, n := range msgs {
		if d > ref-30 && d <= ref {
			wm += n
			wd++
		}
	}
	for d, l := range people {
		if d > ref-30 && d <= ref {
			for _, x := range l {
				ps[x] = true
			}
		}
	}
	return wm, wd, len(ps)
}

// countHook counts the cards read: HGETALLs of member state hashes (each with three more
// HGETALLs of the member's other hashes).
type countHook struct {
	n      *atomic.Int64
	prefix string
}

func (countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		h.count([]redis.Cmder{c})
		return next(ctx, c)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cs []redis.Cmder) error {
		h.count(cs)
		return next(ctx, cs)
	}
}
func (h countHook) count(cs []redis.Cmder) {
	for _, c := range cs {
		if a := c.Args(); len(a) > 1 && c.Name() == "hgetall" {
			if k, _ := a[1].(string); strings.HasPrefix(k, h.prefix) && strings.HasSuffix(k, "}:h") {
				h.n.Add(1)
			}
		}
	}
}

// everyone hides the rankings from a handler: it reads every member seen, as before.
type everyone struct {
	commands.Query
	commands.MemberSource
}

// handlers returns a handler reading only what it shows and one reading everyone, on s.
func (s *seeded) handlers(t testing.TB) (shown, all *commands.Handler) {
	t.Helper()
	env := eventstest.New(t)
	q, err := bridge.NewQuery(bridge.Config{KeyPrefix: s.prefix, Policy: bridge.PolicyNotice, Now: func() time.Time { return topNow }}, s.rdb)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := consent.New(ctx, env.JS, env.Names, consent.PolicyNotice)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	newHandler := func(q commands.Query) *commands.Handler {
		h, err := commands.New(commands.Config{Lang: "fr", Now: func() time.Time { return topNow }}, env.Pub, env.Hasher, env.JS, env.Names, q, &fakeOps{}, nil, store)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	return newHandler(q), newHandler(everyone{q, q})
}

func tagged(tag string) func(commands.MemberCard) bool {
	return func(c commands.MemberCard) bool { return slices.Contains(c.Tags, "relais-"+tag) }
}

// listedBefore is what the dashboard listed before: everyone of the scope, by name, those
// tagged, stable-sorted by the figure, the first n.
func listedBefore(t *testing.T, h *commands.Handler, sc scope.Scope, r bridge.Ranking, n int, keep func(commands.MemberCard) bool) []commands.MemberCard {
	t.Helper()
	all, err := h.ScopedMembers(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	return firstOf(all, r, n, keep)
}

// firstOf is the dashboard's former sort of everyone of a scope (by name) into a list.
func firstOf(all []commands.MemberCard, r bridge.Ranking, n int, keep func(commands.MemberCard) bool) []commands.MemberCard {
	all = slices.DeleteFunc(slices.Clone(all), func(c commands.MemberCard) bool { return !keep(c) })
	slices.SortStableFunc(all, func(a, b commands.MemberCard) int { return cmp.Compare(r.Of(b), r.Of(a)) })
	return all[:min(n, len(all))]
}

// TestDashboardListsAndDigestReadOnlyShownMembers: on seeded states with ties (equal
// figures, equal names) and stale rankings, the dashboard's leaders and actives and the
// digest's lists are the same members, in the same order, with the same numbers, whether
// every member seen is read or only the ranked and recent ones; and far fewer are read.
func TestDashboardListsAndDigestReadOnlyShownMembers(t *testing.T) {
	tests := []struct {
		name  string
		shape seedShape
	}{
		{"busy", seedShape{members: 700, groups: 5, posters: 0.6, stale: 0.3, seed: 1}},
		{"mostly quiet", seedShape{members: 1500, groups: 8, posters: 0.1, stale: 0.3, seed: 2}},
		{"stale rankings", seedShape{members: 700, groups: 4, posters: 0.6, stale: 1, seed: 5}},
		{"tiny", seedShape{members: 40, groups: 3, posters: 0.5, stale: 0.3, seed: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seedState(t, tt.shape)
			shown, all := s.handlers(t)
			ctx := context.Background()
			scopes := map[string]scope.Scope{
				"admin": scope.Everything(), "one group": scope.Only(s.groups[0]),
				"migrated group": scope.Only(s.groups[1]), "two groups": scope.Only(s.groups[1], s.groups[2]), "none": scope.Only(),
			}
			var digestShown, digestAll, topShown int64
			for name, sc := range scopes {
				for _, n := range []int{1, 25, 5000} {
					for _, l := range []struct {
						r   bridge.Ranking
						tag string
					}{{bridge.ByPeople, bridge.TagLeader}, {bridge.ByMessages, bridge.TagActive}} {
						want := listedBefore(t, all, sc, l.r, n, tagged(l.tag))
						s.cards.Store(0)
						got, err := shown.Top(ctx, sc, l.r, n, tagged(l.tag))
						if err != nil {
							t.Fatal(err)
						}
						if n == 25 {
							topShown += s.cards.Load()
						}
						if !same(got, want) {
							t.Errorf("%s, top %d %s: %d members\n%v\nwant %d\n%v", name, n, l.tag, len(got), brief(got, l.r), len(want), brief(want, l.r))
						}
						if fallback, err := all.Top(ctx, sc, l.r, n, tagged(l.tag)); err != nil || !same(fallback, want) {
							t.Errorf("%s, top %d %s without rankings differs (%v)", name, n, l.tag, err)
						}
					}
				}
				s.cards.Store(0)
				got, err := shown.BuildDigest(ctx, sc, topNow)
				if err != nil {
					t.Fatal(err)
				}
				digestShown += s.cards.Load()
				s.cards.Store(0)
				want, err := all.BuildDigest(ctx, sc, topNow)
				if err != nil {
					t.Fatal(err)
				}
				digestAll += s.cards.Load()
				if !same(got.NewActive, want.NewActive) || !same(got.NewLeaders, want.NewLeaders) || !same(got.Inactive, want.Inactive) ||
					!reflect.DeepEqual(got.Groups, want.Groups) {
					t.Errorf("%s digest: new actives %d, new leaders %d, inactive %d; want %d, %d, %d",
						name, len(got.NewActive), len(got.NewLeaders), len(got.Inactive), len(want.NewActive), len(want.NewLeaders), len(want.Inactive))
				}
				if name == "admin" && len(want.NewActive)+len(want.NewLeaders)+len(want.Inactive) == 0 && tt.shape.members > 100 {
					t.Errorf("%s: the seeded state has nobody in the digest's lists: nothing compared", name)
				}
			}
			t.Logf("cards read: digests %d (everyone: %d), 10 top 25 lists %d", digestShown, digestAll, topShown)
			// Where few members posted lately, as in most groups, the digest reads a fraction.
			if tt.shape.posters <= 0.1 && digestShown*3 > digestAll {
				t.Errorf("digests read %d cards, reading everyone %d", digestShown, digestAll)
			}
			if per := topShown / 10; tt.shape.members > 100 && per > 4*(4*25+1) {
				t.Errorf("a top 25 list read %d cards", per)
			}
		})
	}
}

// same compares lists of cards, no list and an empty one alike.
func same(a, b []commands.MemberCard) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func brief(cs []commands.MemberCard, r bridge.Ranking) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s:%d ", c.Token, r.Of(c))
	}
	return b.String()
}

// BenchmarkAdminPage reads what the dashboard's overview reads for an admin (the digest of
// every group, then the 25 first leaders and actives) over 50,000 members in 20 groups, a
// tenth of whom posted in the last 45 days. "everyone" is the overview as it was: the
// digest and the lists each read every member seen. "shown" reads the ranked and recent
// members for the digest and walks the rankings for the lists.
//
//	go test -run '^$' -bench AdminPage -benchtime 10x ./bridge/commands/
func BenchmarkAdminPage(b *testing.B) {
	s := seedState(b, seedShape{members: 50000, groups: 20, posters: 0.1, stale: 0.3, seed: 4})
	shown, all := s.handlers(b)
	ctx := context.Background()
	lists := []struct {
		r   bridge.Ranking
		tag string
	}{{bridge.ByPeople, bridge.TagLeader}, {bridge.ByMessages, bridge.TagActive}}
	run := func(b *testing.B, page func() error) {
		s.cards.Store(0)
		n := 0
		for b.Loop() {
			n++
			if err := page(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(s.cards.Load())/float64(max(n, 1)), "cards/op")
	}
	b.Run("everyone", func(b *testing.B) {
		if os.Getenv("REDIS_URL") == "" {
			// Measured: its pipeline of 200,000 HGETALLs outlasts the client's write timeout.
			b.Skip("reading every member of 50,000 times out on the embedded miniredis: set REDIS_URL")
		}
		run(b, func() error {
			if _, err := all.BuildDigest(ctx, scope.Everything(), topNow); err != nil {
				return err
			}
			cards, err := all.ScopedMembers(ctx, scope.Everything())
			for _, l := range lists {
				firstOf(cards, l.r, 25, tagged(l.tag))
			}
			return err
		})
	})
	b.Run("shown", func(b *testing.B) {
		run(b, func() error {
			if _, err := shown.BuildDigest(ctx, scope.Everything(), topNow); err != nil {
				return err
			}
			for _, l := range lists {
				if _, err := shown.Top(ctx, scope.Everything(), l.r, 25, tagged(l.tag)); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
