package bridge

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge/bridgetest"
)

// TestPeoplePackedAlike: Go and Lua pack a day's people the same way, byte order whatever
// the server's locale, so both write paths leave the same values.
func TestPeoplePackedAlike(t *testing.T) {
	rdb, _ := bridgetest.Redis(t)
	for _, people := range []map[string]int64{
		{"ab": 1, "a": 2, "B": 3, "Z9": 1, "a2": 12},
		{"tnhwakt4jwzclb7d": 1},
		{},
	} {
		args := []any{}
		for p, n := range people {
			args = append(args, p, n)
		}
		got, err := rdb.Eval(context.Background(), peopleLua+`
local t = {}
for j = 1, #ARGV, 2 do t[ARGV[j]] = tonumber(ARGV[j + 1]) end
return packPeople(unpackPeople(packPeople(t)))
`, nil, args...).Text()
		if err != nil {
			t.Fatal(err)
		}
		if want := packPeople(people); got != want {
			t.Errorf("Lua %q, Go %q", got, want)
		}
		if back := unpackPeople(packPeople(people)); !maps.Equal(back, people) {
			t.Errorf("unpacked %v, packed %v", back, people)
		}
	}
}

// TestInteractionsScripts: erasing or renaming a person changes the day values and the fields
// of the format before (day|person) alike, and leaves no empty day behind.
func TestInteractionsScripts(t *testing.T) {
	before := map[string]string{
		"20000":       "aaaa:2,bbbb:1",
		"20001":       "bbbb:4",
		"20002":       "cccc:1",
		"19999|bbbb":  "3",
		"19999|cccc":  "1",
		"20000|bbbb":  "1",
		"19998|other": "5",
	}
	for _, tc := range []struct {
		name   string
		script string
		args   []any
		want   map[string]string
	}{
		{"erase", forgetLua, []any{"bbbb"}, map[string]string{
			"20000": "aaaa:2", "20002": "cccc:1", "19999|cccc": "1", "19998|other": "5",
		}},
		{"rename", renameLua, []any{"bbbb", "cccc"}, map[string]string{
			"20000": "aaaa:2,cccc:1", "20001": "cccc:4", "20002": "cccc:1",
			"19999|cccc": "4", "20000|cccc": "1", "19998|other": "5",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, prefix := bridgetest.Redis(t)
			ctx := context.Background()
			k := prefix + "m:{x}:i"
			if err := rdb.HSet(ctx, k, before).Err(); err != nil {
				t.Fatal(err)
			}
			if err := redis.NewScript(tc.script).Run(ctx, rdb, []string{k}, tc.args...).Err(); err != nil {
				t.Fatal(err)
			}
			if got := rdb.HGetAll(ctx, k).Val(); !maps.Equal(got, tc.want) {
				t.Errorf("after %s:\ngot  %v\nwant %v", tc.name, got, tc.want)
			}
		})
	}
}

// TestInteractionsReadAlike: a day's people count once whether they sit in its value, in a
// field of the format before, or in both; days too old are dropped in either format.
func TestInteractionsReadAlike(t *testing.T) {
	rdb, prefix := bridgetest.Redis(t)
	b, err := newBridge(Config{KeyPrefix: prefix, Now: func() time.Time { return testNow }}, rdb, testHasher(t))
	if err != nil {
		t.Fatal(err)
	}
	today := dayOf(testNow)
	d := func(n int) string { return strconv.Itoa(today - n) }
	h := map[string]string{"cur": d(0), "ver": "1"}
	for _, tc := range []struct {
		name   string
		ih     map[string]string
		people int
		stale  []string
	}{
		{"day values", map[string]string{d(1): "a:1,b:2", d(2): "b:1,c:1"}, 3, nil},
		{"format before", map[string]string{d(1) + "|a": "1", d(1) + "|b": "2", d(2) + "|c": "1"}, 3, nil},
		{"both", map[string]string{d(1): "a:1,b:2", d(1) + "|b": "1", d(1) + "|c": "1"}, 3, nil},
		{"too old", map[string]string{d(1): "a:1", d(400): "b:1", d(400) + "|c": "1"}, 1, []string{d(400), d(400) + "|c"}},
	} {
		st := b.decideState("m", h, map[string]string{}, tc.ih, map[string]string{}, today)
		slices.Sort(st.stalePeople)
		if st.People != tc.people || !slices.Equal(st.stalePeople, tc.stale) {
			t.Errorf("%s: %d people, stale %v; want %d, %v", tc.name, st.People, st.stalePeople, tc.people, tc.stale)
		}
	}
}
