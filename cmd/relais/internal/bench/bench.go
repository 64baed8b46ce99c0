// Package bench is `relais bench`: it measures relais on a synthetic workload (raw
// JetStream, fixed Redis references, the bridge end to end, rebuilds, CRM calls, latency,
// leader accuracy, memory) on the servers relais would use, in a namespace of its own.
package bench

import (
	"context"
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

// Options shape one `relais bench` run.
type Options struct {
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

func DefaultOptions() Options {
	return Options{Groups: 20, Members: 2000, Events: 20000, Leaders: 20, Seed: 1, LeaderMinPeople: 5, LatencySamples: 50}
}

// workload generates the run's events, ending now so every event is inside the window.
func (o Options) workload(events int) eventsim.Workload {
	c := eventsim.DefaultConfig(events)
	c.Seed, c.Groups, c.Members, c.Leaders = o.Seed, o.Groups, o.Members, o.Leaders
	c.End = time.Now().UTC().Truncate(time.Second)
	return eventsim.Generate(c)
}

// bridgeConfig is the bridge configuration of every stage: deployment defaults, the notice
// policy (so active members and leaders reach the CRM), and the stage's key prefix.
func (o Options) bridgeConfig(prefix string) bridge.Config {
	return bridge.Config{KeyPrefix: prefix, Policy: bridge.PolicyNotice, LeaderMinPeople: o.LeaderMinPeople}
}

func (o Options) crmRate() rate.Limit {
	if o.CRMRate <= 0 {
		return rate.Inf
	}
	return rate.Limit(o.CRMRate)
}

// Validate checks the options a user gave.
func (o Options) Validate() error {
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

// ParseCounts reads "100000,1000000" (k and m suffixes allowed: "100k,1m"), ascending.
func ParseCounts(s string) ([]int, error) {
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

// Run runs every stage on env and removes what they created. progress receives one line
// per stage.
func Run(ctx context.Context, env *Env, o Options, progress io.Writer) (rep Report, err error) {
	say := func(format string, a ...any) { fmt.Fprintf(progress, "bench: "+format+"\n", a...) }
	defer func() {
		// The stages' namespace suffixes: raw JetStream, references, both at once, end to end,
		// rebuild, RSS.
		stages := []string{"R", "C", "N", "E", "B", "S"}
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

	say("   both ceilings at once: JetStream publish+consume and the Lua reference in one consumer")
	// Before the references: their clean-up is what precedes the bridge's memory reading, as
	// before this stage existed (deleting a million keys leaves the key space's tables to
	// shrink for a while, and relais bench read 15 MiB more state with this stage last).
	_, nrPub, err := env.setup(ctx, "N")
	if err != nil {
		return rep, err
	}
	if rep.NoRules, err = benchNoRules(ctx, env.js, nrPub, env.rdb, env.keyPrefix("C")+"norules:", env.hasher, w.Events); err != nil {
		return rep, err
	}
	if err := benchDeletePrefix(ctx, env.rdb, env.keyPrefix("C")); err != nil {
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
	rep.RawToLua = benchRatio(rep.RawJetStream, rep.RefLua)
	rep.RatioNoRules = benchRatio(rep.Bridge, rep.NoRules)
	rep.NoRulesToLower = benchRatio(rep.NoRules, min(rep.RawJetStream, rep.RefLua))

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
