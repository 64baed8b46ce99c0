package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// testServers are NATS_URL and REDIS_URL when set, embedded servers otherwise, reached as
// relais reaches them.
func testServers(t *testing.T) Servers {
	t.Helper()
	return Servers{
		NATSURL: os.Getenv("NATS_URL"), RedisURL: os.Getenv("REDIS_URL"),
		EmbeddedRedis: func() (redis.UniversalClient, string, func(), error) {
			m := miniredis.NewMiniRedis()
			if err := m.StartAddr("127.0.0.1:0"); err != nil {
				return nil, "", nil, err
			}
			return redis.NewClient(&redis.Options{Addr: m.Addr()}), "redis://" + m.Addr(), m.Close, nil
		},
		ConnectRedis: func(url string) (redis.UniversalClient, error) {
			opts, err := redis.ParseURL(url)
			if err != nil {
				return nil, err
			}
			return redis.NewClient(opts), nil
		},
		KeyPrefix: func(ns string) string { return "relais:" + ns + ":" },
	}
}

// TestBenchTinyWorkload runs every stage but RSS on a small workload (on NATS_URL/REDIS_URL
// when set, embedded servers otherwise) and checks the figures exist and make sense: the
// leaders are planted, so precision and recall must be high; speed is not asserted.
func TestBenchTinyWorkload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := Open(ctx, testServers(t))
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	o := DefaultOptions()
	o.Events, o.Members, o.Leaders, o.LatencySamples = 2000, 300, 10, 5
	var progress bytes.Buffer
	rep, err := Run(ctx, env, o, &progress)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, progress.String())
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, js.String())
	}
	positive := []string{
		"raw_jetstream_events_per_s", "reference_lua_events_per_s", "reference_plain_events_per_s", "bridge_events_per_s",
		"rebuild_events_per_s", "bridge_to_reference_lua", "bridge_to_reference_plain", "rebuild_to_reference_plain",
		"bridge_to_raw_jetstream", "raw_jetstream_to_reference_lua", "bridge_seconds", "crm_drained_seconds",
		"no_rules_events_per_s", "bridge_to_no_rules", "no_rules_to_lower_ceiling",
		"contact_changes", "members_changed", "changes_per_member", "crm_calls", "crm_calls_per_change",
		"latency.samples", "latency.p50_ms", "latency.p99_ms", "latency.max_ms",
		"leaders.planted", "leaders.found", "leaders.true_positives", "leaders.precision", "leaders.recall",
		"workload.events", "workload.members", "workload.groups", "workload.leaders",
		"env.gomaxprocs", "env.cpus",
	}
	for _, path := range positive {
		v, ok := jsonPath(got, path)
		if !ok {
			t.Errorf("JSON lacks %s", path)
			continue
		}
		if n, isNum := v.(float64); !isNum || n <= 0 {
			t.Errorf("%s = %v, want a positive number", path, v)
		}
	}
	for _, path := range []string{"env.nats", "env.redis", "env.crm", "namespace", "latency.missed", "cleaned"} {
		if _, ok := jsonPath(got, path); !ok {
			t.Errorf("JSON lacks %s", path)
		}
	}
	if _, ok := got["rss"]; ok {
		t.Error("JSON has rss although --rss was off")
	}

	if want := rep.NoRules / min(rep.RawJetStream, rep.RefLua); math.Abs(rep.NoRulesToLower-want) > 1e-9 {
		t.Errorf("both ceilings ÷ the lower = %v, want %v", rep.NoRulesToLower, want)
	}
	if want := rep.RawJetStream / rep.RefLua; math.Abs(rep.RawToLua-want) > 1e-9 {
		t.Errorf("ceiling = %v, want raw JetStream ÷ reference Lua = %v", rep.RawToLua, want)
	}
	if rep.Leaders.Precision < 0.9 || rep.Leaders.Recall < 0.9 {
		t.Errorf("leaders: precision %.3f recall %.3f (%+v), want both ≥ 0.9 on planted leaders", rep.Leaders.Precision, rep.Leaders.Recall, rep.Leaders)
	}
	if rep.Leaders.Planted != 10 {
		t.Errorf("planted leaders = %d, want 10", rep.Leaders.Planted)
	}
	if rep.CallsPerChange <= 0 || rep.CallsPerChange > 1.5 {
		t.Errorf("CRM calls per change = %.2f (%d calls, %d changes), want in (0, 1.5]", rep.CallsPerChange, rep.CRMCalls, rep.ContactChanges)
	}
	if rep.Latency.Samples+rep.Latency.Missed != 5 || rep.Latency.Missed != 0 {
		t.Errorf("latency: %+v, want 5 samples and none missed", rep.Latency)
	}
	if rep.Workload.Events != 2000 {
		t.Errorf("workload events = %d, want 2000", rep.Workload.Events)
	}
	if !rep.Cleaned {
		t.Error("report says the run was not cleaned up")
	}
	left, err := env.leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("left on the servers after the bench: %v", left)
	}

	var table bytes.Buffer
	if err := WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw JetStream", "reference: Lua", "reference: plain writes", "bridge end to end", "÷ reference Lua", "rebuild after a restart", "÷ raw JetStream", "ceiling ÷ reference Lua",
		"CRM calls per change", "latency p50", "latency p99", "leader precision", "leader recall", "bridge RSS", "GOMAXPROCS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func jsonPath(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestBenchParseCounts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"100000,1000000", []int{100000, 1000000}, true},
		{"1m, 100k", []int{100000, 1000000}, true},
		{"5000", []int{5000}, true},
		{"100k,100k", []int{100000}, true},
		{"", nil, false},
		{"0", nil, false},
		{"-5", nil, false},
		{"1e6", nil, false},
		{"999m", nil, false},
	} {
		got, err := ParseCounts(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !slices.Equal(got, tc.want)) {
			t.Errorf("ParseCounts(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestBenchKeyKind(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"m:{abc}:i", "m:i"},
		{"g:{-100:x}:t:c", "g:t"},
		{"g:{g1}:h", "g:h"},
		{"idx:{i}:people", "idx:people"},
	} {
		if got := benchKeyKind(tc.key); got != tc.want {
			t.Errorf("benchKeyKind(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestBenchKindBytes: the embedded Redis reports the memory of each kind of key (it takes
// no SAMPLES argument).
func TestBenchKindBytes(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	rdb.HSet(ctx, "p:g:{a}:t:c", "1", "tok")
	rdb.HSet(ctx, "p:m:{b}:i", "20000|tok", 1)
	rdb.HSet(ctx, "q:m:{b}:i", "20000|tok", 1)
	got, err := benchKindBytes(ctx, rdb, "p:", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["g:t"] <= 0 || got["m:i"] <= 0 {
		t.Fatalf("by kind: %v, want g:t and m:i", got)
	}
}
