package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is everything `relais bench` measured; --json prints it as is.
type Report struct {
	Env      benchEnvInfo  `json:"env"`
	Workload benchWorkload `json:"workload"`

	RawJetStream float64 `json:"raw_jetstream_events_per_s"`
	// RefLua and RefPlain are the fixed references (bench_refs.go) on the same Redis.
	RefLua   float64 `json:"reference_lua_events_per_s"`
	RefPlain float64 `json:"reference_plain_events_per_s"`
	Bridge   float64 `json:"bridge_events_per_s"`
	// Rebuild is a restart's replay of the whole log into an empty key space.
	Rebuild           float64 `json:"rebuild_events_per_s"`
	RatioLua          float64 `json:"bridge_to_reference_lua"`
	RatioPlain        float64 `json:"bridge_to_reference_plain"`
	RatioRebuildPlain float64 `json:"rebuild_to_reference_plain"`
	RatioRaw          float64 `json:"bridge_to_raw_jetstream"`
	// RawToLua bounds RatioLua: the bridge publishes and consumes every event through the
	// same JetStream, so on the same machine it cannot beat raw JetStream.
	RawToLua float64 `json:"raw_jetstream_to_reference_lua"`
	// NoRules is both ceilings in one consumer on the same machine (benchNoRules): what a
	// bridge without rules reaches. NoRulesToLower is it ÷ the lower of raw JetStream and the
	// Lua reference, each measured alone: the most any bridge's ratio to that can be here.
	NoRules        float64 `json:"no_rules_events_per_s"`
	RatioNoRules   float64 `json:"bridge_to_no_rules"`
	NoRulesToLower float64 `json:"no_rules_to_lower_ceiling"`
	// RedisBytes is what the bridge's state added to Redis' used_memory for this workload.
	RedisBytes int64 `json:"redis_state_bytes"`
	// BridgeSeconds runs from the first publish to the bridge's consumer drained;
	// CRMSeconds from the first publish to the CRM worker's consumer drained.
	BridgeSeconds float64 `json:"bridge_seconds"`
	CRMSeconds    float64 `json:"crm_drained_seconds"`
	// The bridge's batches in that run: how many, mean events per batch, mean seconds each
	// (Redis and every publish included).
	BridgeBatches int     `json:"bridge_batches"`
	MeanBatch     float64 `json:"bridge_mean_batch_events"`
	BatchSeconds  float64 `json:"bridge_mean_batch_seconds"`

	// ContactChanges are the changes the bridge published (RELAIS_CRM sequence), to
	// MembersChanged distinct members; CRMCalls the Sink calls the worker made for them.
	ContactChanges   int     `json:"contact_changes"`
	MembersChanged   int     `json:"members_changed"`
	ChangesPerMember float64 `json:"changes_per_member"`
	CRMCalls         int     `json:"crm_calls"`
	CallsPerChange   float64 `json:"crm_calls_per_change"`

	Latency benchLatency `json:"latency"`
	Leaders benchLeaders `json:"leaders"`
	RSS     *benchRSS    `json:"rss,omitempty"`
	// Rebuilds are the --rebuild-events stage: rebuilds from scratch at each log size.
	Rebuilds []benchRebuildPoint `json:"rebuilds,omitempty"`

	Namespace string `json:"namespace"`
	// Cleaned is true when nothing of the run was left on the servers.
	Cleaned bool `json:"cleaned"`
}

type benchEnvInfo struct {
	NATS       string  `json:"nats"`
	Redis      string  `json:"redis"`
	CRM        string  `json:"crm"`
	CRMRate    float64 `json:"crm_rate"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	CPUs       int     `json:"cpus"`
	Go         string  `json:"go"`
	OS         string  `json:"os"`
}

type benchWorkload struct {
	Groups          int    `json:"groups"`
	Members         int    `json:"members"`
	Events          int    `json:"events"`
	Leaders         int    `json:"leaders"`
	Seed            uint64 `json:"seed"`
	LeaderMinPeople int    `json:"leader_min_people"`
}

// benchLatency is publish of a tipping event → the CRM write it causes.
type benchLatency struct {
	Samples int     `json:"samples"`
	Missed  int     `json:"missed"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	Maxms   float64 `json:"max_ms"`
}

type benchLeaders struct {
	Planted       int     `json:"planted"`
	Found         int     `json:"found"`
	TruePositives int     `json:"true_positives"`
	Precision     float64 `json:"precision"`
	Recall        float64 `json:"recall"`
}

// benchRSS is the child bridge's memory at each checkpoint.
type benchRSS struct {
	Method string     `json:"method"`
	Points []rssPoint `json:"points"`
	Growth rssGrowth  `json:"growth"`
}

type rssPoint struct {
	Events     int     `json:"events"`
	RSSBytes   int64   `json:"rss_bytes"`
	PeakBytes  int64   `json:"peak_rss_bytes"`
	HeapBytes  int64   `json:"go_heap_inuse_bytes"`
	EventsPerS float64 `json:"events_per_s"`
	RedisKeys  int64   `json:"redis_keys"`
}

// rssGrowth compares the last checkpoint with the first.
type rssGrowth struct {
	RSSBytes        int64   `json:"rss_bytes"`
	HeapBytes       int64   `json:"go_heap_inuse_bytes"`
	RSSBytesPer100k float64 `json:"rss_bytes_per_100k_events"`
}

func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func WriteTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(label, value, note string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", label, value, note) }
	e, wl := r.Env, r.Workload
	fmt.Fprintf(tw, "relais bench: %d events, %d groups, %d members, %d planted leaders (seed %d)\n",
		wl.Events, wl.Groups, wl.Members, wl.Leaders, wl.Seed)
	fmt.Fprintf(tw, "NATS %s, Redis %s, CRM %s%s; GOMAXPROCS %d, %d CPUs, %s %s\n\n",
		e.NATS, e.Redis, e.CRM, benchCRMRateNote(e.CRMRate), e.GOMAXPROCS, e.CPUs, e.Go, e.OS)
	row("figure", "value", "")
	row("raw JetStream publish+consume", benchRate(r.RawJetStream), "same payloads, explicit acks, nothing else")
	row("reference: Lua", benchRate(r.RefLua), "dedup + 6 writes in one Lua call per event, pipelined, same Redis")
	row("reference: plain writes", benchRate(r.RefPlain), "the same 8 commands per event, plain pipeline, same Redis")
	row("bridge end to end", benchRate(r.Bridge), fmt.Sprintf("publish → tags → contact changes, %.1f s", r.BridgeSeconds))
	row("  ÷ reference Lua", fmt.Sprintf("%.2f", r.RatioLua), "goal ≥ 0.5 with real Redis")
	row("  ÷ reference plain", fmt.Sprintf("%.2f", r.RatioPlain), "goal ≥ 0.5 with embedded Redis")
	row("  ÷ raw JetStream", fmt.Sprintf("%.2f", r.RatioRaw), "")
	row("  ceiling ÷ reference Lua", fmt.Sprintf("%.2f", r.RawToLua), "raw JetStream ÷ reference Lua: a bridge costing nothing")
	row("both ceilings at once", benchRate(r.NoRules), "publish, consume, reference Lua per event, ack: a bridge without rules")
	row("  ÷ lower ceiling", fmt.Sprintf("%.2f", r.NoRulesToLower), "the most a bridge reaches here, as a share of the lower one alone")
	row("  bridge ÷ it", fmt.Sprintf("%.2f", r.RatioNoRules), "")
	row("rebuild after a restart", benchRate(r.Rebuild), "replay of the whole log into an empty state")
	row("  ÷ reference plain", fmt.Sprintf("%.2f", r.RatioRebuildPlain), "goal ≥ 0.5 with embedded Redis")
	row("Redis memory of the state", fmt.Sprintf("%.1f MiB", float64(r.RedisBytes)/(1<<20)), "used_memory after − before")
	row("  bridge batches", fmt.Sprintf("%d", r.BridgeBatches), fmt.Sprintf("mean %.0f events, %.1f ms each", r.MeanBatch, r.BatchSeconds*1000))
	row("CRM drained", fmt.Sprintf("%.1f s", r.CRMSeconds), "from the first publish")
	row("contact changes", fmt.Sprintf("%d", r.ContactChanges), fmt.Sprintf("%d members, %.2f per member", r.MembersChanged, r.ChangesPerMember))
	row("CRM calls per change", fmt.Sprintf("%.2f", r.CallsPerChange), fmt.Sprintf("%d calls; goal ≤ 1", r.CRMCalls))
	row("events → CRM latency p50", fmt.Sprintf("%.1f ms", r.Latency.P50ms), fmt.Sprintf("%d tipping events one at a time, %d missed", r.Latency.Samples, r.Latency.Missed))
	row("events → CRM latency p99", fmt.Sprintf("%.1f ms", r.Latency.P99ms), fmt.Sprintf("max %.1f ms", r.Latency.Maxms))
	row("leader precision", fmt.Sprintf("%.3f", r.Leaders.Precision), fmt.Sprintf("%d of %d found are planted; goal ≥ 0.95", r.Leaders.TruePositives, r.Leaders.Found))
	row("leader recall", fmt.Sprintf("%.3f", r.Leaders.Recall), fmt.Sprintf("%d of %d planted found; goal ≥ 0.95", r.Leaders.TruePositives, r.Leaders.Planted))
	if r.RSS != nil {
		for _, p := range r.RSS.Points {
			row(fmt.Sprintf("bridge RSS at %s events", benchCount(p.Events)), benchMiB(p.RSSBytes),
				fmt.Sprintf("peak %s, Go heap %s, %s, %d Redis keys", benchMiB(p.PeakBytes), benchMiB(p.HeapBytes), benchRate(p.EventsPerS), p.RedisKeys))
		}
		g := r.RSS.Growth
		row("bridge RSS growth", benchMiB(g.RSSBytes), fmt.Sprintf("Go heap %+.1f MiB; %s per 100k events", float64(g.HeapBytes)/(1<<20), benchMiB(int64(g.RSSBytesPer100k))))
	} else {
		row("bridge RSS", "not measured", "add --rss (long: 1M events)")
	}
	for _, p := range r.Rebuilds {
		mem := benchMiB(p.RedisBytes)
		if p.RedisBytes == 0 {
			mem = "not reported"
		}
		row(fmt.Sprintf("rebuild of %s events", benchCount(p.Events)), benchRate(p.EventsPerS),
			fmt.Sprintf("%.1f s; Redis memory of the state %s (message→author maps %s, %d applied-sequence sets)",
				p.Seconds, mem, benchMiB(p.AuthorMapBytes), p.AppliedKeys))
		if len(p.KindBytes) > 0 {
			row("  by kind of key", "", benchKinds(p.KindBytes))
		}
	}
	if n := len(r.Rebuilds); n > 1 {
		first, last := r.Rebuilds[0], r.Rebuilds[n-1]
		if first.RedisBytes > 0 {
			row("  memory growth", fmt.Sprintf("%.2f", float64(last.RedisBytes)/float64(first.RedisBytes)),
				fmt.Sprintf("at %s ÷ at %s events, same members and groups; goal ≤ 2", benchCount(last.Events), benchCount(first.Events)))
		}
		// used_memory moves with whatever else the Redis holds meanwhile; the keys' own sizes do not.
		if a, z := benchTotal(first.KindBytes), benchTotal(last.KindBytes); a > 0 {
			row("  memory growth, keys", fmt.Sprintf("%.2f", float64(z)/float64(a)), "the same from the MEMORY USAGE of the keys by kind")
		}
	}
	cleaned := "yes"
	if !r.Cleaned {
		cleaned = "NO: look for " + r.Namespace + " streams and relais:" + r.Namespace + " keys"
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.RSS != nil {
		fmt.Fprintf(w, "\nbridge memory: %s\n", r.RSS.Method)
	}
	_, err := fmt.Fprintf(w, "\nnamespace %s, removed: %s\n", r.Namespace, cleaned)
	return err
}

func benchCRMRateNote(r float64) string {
	if r <= 0 {
		return " (unpaced)"
	}
	return fmt.Sprintf(" (paced %g/s)", r)
}

func benchRate(v float64) string { return benchCount(int(v+0.5)) + " events/s" }

func benchMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// benchCount writes n with thin groups of three digits: 1 234 567.
func benchCount(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
