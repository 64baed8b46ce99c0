package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events/eventsim"
)

// benchOptions shape one `relais bench` run.
type benchOptions struct {
	Groups, Members, Events, Leaders int
	Seed                             uint64
	LeaderMinPeople                  int
	// LatencySamples is how many tipping events measure events → CRM latency.
	LatencySamples int
	// CRMRate paces the CRM worker (changes per second); 0 means unpaced, so the figures are
	// relais's own and not the pacing a hosted CRM needs.
	CRMRate float64
	// RSSEvents are the event counts at which the child bridge's memory is read; empty
	// skips the RSS stage.
	RSSEvents []int
	// RebuildEvents are the log sizes rebuilt from scratch (speed and Redis memory); empty
	// skips that stage.
	RebuildEvents []int
}

func defaultBenchOptions() benchOptions {
	return benchOptions{Groups: 20, Members: 2000, Events: 20000, Leaders: 20, Seed: 1, LeaderMinPeople: 5, LatencySamples: 50}
}

// workload generates the run's events, ending now so every event is inside the window.
func (o benchOptions) workload(events int) eventsim.Workload {
	c := eventsim.DefaultConfig(events)
	c.Seed, c.Groups, c.Members, c.Leaders = o.Seed, o.Groups, o.Members, o.Leaders
	c.End = time.Now().UTC().Truncate(time.Second)
	return eventsim.Generate(c)
}

// bridgeConfig is the bridge configuration of every stage: deployment defaults, the notice
// policy (so active members and leaders reach the CRM), and the stage's key prefix.
func (o benchOptions) bridgeConfig(prefix string) bridge.Config {
	return bridge.Config{KeyPrefix: prefix, Policy: bridge.PolicyNotice, LeaderMinPeople: o.LeaderMinPeople}
}

func (o benchOptions) crmRate() rate.Limit {
	if o.CRMRate <= 0 {
		return rate.Inf
	}
	return rate.Limit(o.CRMRate)
}

// cmdBench measures relais on a synthetic workload (see benchUsage).
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := defaultBenchOptions()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.Groups, "groups", o.Groups, "groups in the workload")
	fs.IntVar(&o.Members, "members", o.Members, "members in the workload")
	fs.IntVar(&o.Events, "events", o.Events, "events in the workload")
	fs.IntVar(&o.Leaders, "leaders", o.Leaders, "planted leaders (the ground truth of precision and recall)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "workload seed: the same seed gives the same events")
	fs.IntVar(&o.LeaderMinPeople, "leader-min-people", o.LeaderMinPeople, "the leader bar (RELAIS_LEADER_MIN_PEOPLE)")
	fs.IntVar(&o.LatencySamples, "latency-samples", o.LatencySamples, "tipping events sent one at a time to measure events → CRM latency")
	fs.Float64Var(&o.CRMRate, "crm-rate", o.CRMRate, "CRM worker pace in changes per second (0: unpaced; relais run uses 25)")
	rss := fs.Bool("rss", false, "also measure the bridge's memory in a child process (relais run --roles=bridge) after --rss-events events: long")
	rssEvents := fs.String("rss-events", "100000,1000000", "event counts at which --rss reads the bridge's memory")
	rebuildEvents := fs.String("rebuild-events", "", "log sizes to rebuild from scratch, measuring speed and Redis memory (e.g. 100k,1m): long")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the table")
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment (for NATS_URL and REDIS_URL)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("bench: unexpected argument %q", fs.Arg(0))}
	}
	if *rss {
		var err error
		if o.RSSEvents, err = benchParseCounts(*rssEvents); err != nil {
			return usageError{"bench: --rss-events: " + err.Error()}
		}
	}
	if *rebuildEvents != "" {
		var err error
		if o.RebuildEvents, err = benchParseCounts(*rebuildEvents); err != nil {
			return usageError{"bench: --rebuild-events: " + err.Error()}
		}
	}
	if err := o.validate(); err != nil {
		return usageError{"bench: " + err.Error()}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	env, err := openBenchEnv(ctx, cfg.NATSURL, cfg.RedisURL, len(o.RSSEvents) > 0)
	if err != nil {
		return err
	}
	defer env.Close()
	rep, err := runBench(ctx, env, o, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeBenchJSON(stdout, rep)
	}
	return writeBenchTable(stdout, rep)
}

const benchUsage = `usage: relais bench [flags]

Measures relais on a synthetic workload (Zipf-skewed activity, planted leaders), all on this
machine and in one run: raw JetStream publish+consume of the same payloads, the Redis ceiling
(the bridge's own Lua calls, pipelined, no NATS), the bridge end to end (publish → tags →
contact changes), events → CRM latency, CRM calls per contact change, leader precision and
recall against the planted truth, and with --rss the bridge's memory at 100k and 1M events.
Uses NATS_URL and REDIS_URL when set, embedded servers otherwise; every run works in its own
namespace (BENCH<hex>) and deletes its streams, buckets and keys at the end.

`

func (o benchOptions) validate() error {
	switch {
	case o.Groups < 1 || o.Members < 2 || o.Events < 1:
		return fmt.Errorf("want at least 1 group, 2 members and 1 event")
	case o.Leaders < 0 || o.Leaders > o.Members/2:
		return fmt.Errorf("--leaders: want 0 to half the members")
	case o.LeaderMinPeople < 1:
		return fmt.Errorf("--leader-min-people: want at least 1")
	case o.LatencySamples < 0 || o.LatencySamples > 10000:
		return fmt.Errorf("--latency-samples: want 0 to 10000")
	case o.CRMRate < 0 || math.IsNaN(o.CRMRate):
		return fmt.Errorf("--crm-rate: want 0 or more")
	}
	return nil
}

// benchParseCounts reads "100000,1000000" (k and m suffixes allowed: "100k,1m"), ascending.
func benchParseCounts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.ToLower(strings.TrimSpace(part))
		mult := 1
		switch {
		case strings.HasSuffix(part, "k"):
			mult, part = 1000, strings.TrimSuffix(part, "k")
		case strings.HasSuffix(part, "m"):
			mult, part = 1000000, strings.TrimSuffix(part, "m")
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > 100000000/mult {
			return nil, fmt.Errorf("want a comma list of event counts, got %q", s)
		}
		out = append(out, n*mult)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// runBench runs every stage on env and removes what they created. progress receives one line
// per stage.
func runBench(ctx context.Context, env *benchEnv, o benchOptions, progress io.Writer) (rep benchReport, err error) {
	say := func(format string, a ...any) { fmt.Fprintf(progress, "bench: "+format+"\n", a...) }
	defer func() {
		// The stages' namespace suffixes: raw JetStream, references, end to end, rebuild, RSS.
		stages := []string{"R", "C", "E", "B", "S"}
		for i := range o.RebuildEvents {
			stages = append(stages, "G"+strconv.Itoa(i))
		}
		if cerr := env.cleanup(ctx, stages...); cerr != nil && err == nil {
			err = cerr
		}
		if err == nil {
			left, lerr := env.leftovers(context.WithoutCancel(ctx))
			rep.Cleaned = lerr == nil && len(left) == 0
		}
	}()
	rep.Namespace = env.run
	rep.Env = benchEnvInfo{
		NATS: benchServerKind(env.embeddedNATS), Redis: benchServerKind(env.embeddedRedis),
		CRM: "local SQLite", CRMRate: o.CRMRate,
		GOMAXPROCS: goruntime.GOMAXPROCS(0), CPUs: goruntime.NumCPU(),
		Go: goruntime.Version(), OS: goruntime.GOOS + "/" + goruntime.GOARCH,
	}
	w := o.workload(o.Events)
	rep.Workload = benchWorkload{Groups: o.Groups, Members: o.Members, Events: len(w.Events), Leaders: len(w.Leaders),
		Seed: o.Seed, LeaderMinPeople: o.LeaderMinPeople}
	say("%d events, %d groups, %d members, %d planted leaders; NATS %s, Redis %s; namespace %s",
		len(w.Events), o.Groups, o.Members, len(w.Leaders), rep.Env.NATS, rep.Env.Redis, env.run)

	say("1/4 raw JetStream publish+consume")
	_, rawPub, err := env.setup(ctx, "R")
	if err != nil {
		return rep, err
	}
	if rep.RawJetStream, err = benchRawJetStream(ctx, env.js, rawPub, w.Events); err != nil {
		return rep, err
	}

	say("2/4 fixed references on the same Redis: dedup + 6 writes as one Lua call, and the same 8 commands as plain pipelined writes")
	if rep.RefLua, err = benchRefLua(ctx, env.rdb, env.keyPrefix("C")+"lua:", env.hasher, w.Events); err != nil {
		return rep, err
	}
	if rep.RefPlain, err = benchRefPlain(ctx, env.rdb, env.keyPrefix("C")+"plain:", env.hasher, w.Events); err != nil {
		return rep, err
	}
	if err := benchDeletePrefix(ctx, env.rdb, env.keyPrefix("C")); err != nil {
		return rep, err
	}

	say("3/4 bridge end to end, CRM, latency, leaders")
	if err := benchEndToEnd(ctx, env, o, w, &rep, say); err != nil {
		return rep, err
	}
	rep.RatioLua = benchRatio(rep.Bridge, rep.RefLua)
	rep.RatioPlain = benchRatio(rep.Bridge, rep.RefPlain)
	rep.RatioRebuildPlain = benchRatio(rep.Rebuild, rep.RefPlain)
	rep.RatioRaw = benchRatio(rep.Bridge, rep.RawJetStream)

	if len(o.RebuildEvents) > 0 {
		say("rebuild from scratch at %v events", o.RebuildEvents)
		if rep.Rebuilds, err = benchRebuildScale(ctx, env, o, say); err != nil {
			return rep, err
		}
	}
	if len(o.RSSEvents) > 0 {
		say("4/4 bridge memory in a child process at %v events", o.RSSEvents)
		if rep.RSS, err = measureRSS(ctx, env, o, say); err != nil {
			return rep, err
		}
	} else {
		say("4/4 bridge memory skipped (--rss)")
	}
	return rep, nil
}

func benchServerKind(embedded bool) string {
	if embedded {
		return "embedded"
	}
	return "external"
}

func benchPerSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func benchRatio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
