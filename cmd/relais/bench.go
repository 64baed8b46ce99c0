package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/cmd/relais/internal/bench"
)

// cmdBench measures relais on a synthetic workload (see benchUsage).
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := bench.DefaultOptions()
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
	importMsgs := fs.Int("import", 0, "instead: measure importing a Telegram export of this many messages of history (relais import), until the bridge has applied it")
	importMembers := fs.Int("import-members", 5000, "members of the --import export")
	importRunning := fs.Bool("import-running", false, "with --import: the bridge runs while the export is stored, as when relais import goes through the NATS_URL of a running relais (default: it starts once the export is stored, as on the data dir of a stopped relais)")
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment (for NATS_URL and REDIS_URL)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof reads it)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("bench: unexpected argument %q", fs.Arg(0))}
	}
	if *rss {
		var err error
		if o.RSSEvents, err = bench.ParseCounts(*rssEvents); err != nil {
			return usageError{"bench: --rss-events: " + err.Error()}
		}
	}
	if *rebuildEvents != "" {
		var err error
		if o.RebuildEvents, err = bench.ParseCounts(*rebuildEvents); err != nil {
			return usageError{"bench: --rebuild-events: " + err.Error()}
		}
	}
	if err := o.Validate(); err != nil {
		return usageError{"bench: " + err.Error()}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	env, err := bench.Open(ctx, bench.Servers{
		NATSURL: cfg.NATSURL, RedisURL: cfg.RedisURL, Listen: len(o.RSSEvents) > 0,
		EmbeddedRedis: func() (redis.UniversalClient, string, func(), error) {
			er, err := startEmbeddedRedis()
			if err != nil {
				return nil, "", nil, err
			}
			return er.client(), "redis://" + er.srv.Addr(), er.Close, nil
		},
		ConnectRedis: connectRedis,
		KeyPrefix:    namespaceKeyPrefix,
	})
	if err != nil {
		return err
	}
	defer env.Close()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				fmt.Fprintf(stderr, "bench: cpu profile: %v\n", err)
			}
		}()
	}
	if *importMsgs > 0 {
		res, err := bench.RunImport(ctx, env, *importMsgs, max(*importMembers, 1), *importRunning, stderr)
		if err != nil {
			return fmt.Errorf("bench: import: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(res)
		}
		how := "bridge started once stored"
		if res.Running {
			how = "bridge running meanwhile"
		}
		fmt.Fprintf(stdout, "import of %d messages (%.0f MB export, %d members, %s): %d events stored in %.1f s, applied by the bridge in %.1f s more (%d members seen, %d with activity in the window, up to sequence %d); %.1f s in all (%d events/s)\n",
			res.Messages, res.FileMB, res.Members, how, res.Events, res.ImportS, res.ApplyS, res.MembersSeen, res.Cards, res.Delivered, res.TotalS, res.PerSecond)
		return nil
	}
	rep, err := bench.Run(ctx, env, o, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		return bench.WriteJSON(stdout, rep)
	}
	return bench.WriteTable(stdout, rep)
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
