package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/events"
)

// bridgeConfig maps the deployment settings onto the bridge's.
func bridgeConfig(rt *runtime) bridge.Config {
	c := rt.cfg
	return bridge.Config{
		KeyPrefix:         namespaceKeyPrefix(c.Namespace),
		ActiveMinMessages: c.ActiveMinMessages, ActiveMinDays: c.ActiveMinDays, LeaderMinPeople: c.LeaderMinPeople,
		Window: c.Window(), TagPrefix: c.TagPrefix, Policy: c.SyncPolicy, Retention: c.Retention(),
		Log: rt.log.With("role", "bridge"), Registerer: rt.reg, Zone: digestZone(c.DigestAt),
		// The embedded Redis has one bridge and starts empty: plain pipelines, no Lua.
		SingleWriter: rt.embeddedRedis,
	}
}

// namespaceKeyPrefix is the bridge's Redis key prefix for RELAIS_NAMESPACE ("" keeps the
// bridge's default). A child bridge and whoever cleans up after it must derive it alike.
func namespaceKeyPrefix(ns string) string {
	if ns == "" {
		return ""
	}
	return "relais:" + ns + ":"
}

// forwardingHandler breaks the construction cycle: the bridge takes the command handler,
// and the handler takes the bridge.
type forwardingHandler struct{ h *commands.Handler }

func (f *forwardingHandler) Handle(ctx context.Context, ev events.Event) error {
	return f.h.Handle(ctx, ev)
}

// Background lets the bridge answer organisers' queries off its batch loop.
func (f *forwardingHandler) Background(ev events.Event) bool { return f.h.Background(ev) }

func (f *forwardingHandler) GroupSeen(ctx context.Context, p events.Platform, group string) error {
	return f.h.GroupSeen(ctx, p, group)
}

// workerSync reports the CRM worker's state to /sync.
type workerSync struct{ w *crm.Worker }

func (s workerSync) SyncInfo(ctx context.Context) (commands.SyncInfo, error) {
	st, err := s.w.Status(ctx)
	if err != nil {
		return commands.SyncInfo{}, err
	}
	return commands.SyncInfo{Pending: int(st.Pending), LastError: st.LastError, LastErrorAt: st.LastErrorAt, LastSuccessAt: st.LastSuccess}, nil
}

// bridgeRole builds the bridge with its consent store and command handler. worker is the CRM
// worker of this process, if it runs one, for /sync.
func bridgeRole(ctx context.Context, rt *runtime, worker *crm.Worker) (*bridge.Bridge, []task, error) {
	store, err := consent.New(ctx, rt.js, rt.names, rt.cfg.SyncPolicy, consent.WithLogger(rt.log.With("role", "consent")))
	if err != nil {
		return nil, nil, err
	}
	rt.addCloser(func() { _ = store.Close() })
	organisers, err := commands.ParseOrganisers(rt.cfg.Organisers)
	if err != nil {
		return nil, nil, &ConfigError{Var: "RELAIS_ORGANISERS", Want: err.Error()}
	}
	org, err := organiserView(ctx, rt)
	if err != nil {
		return nil, nil, err
	}
	fwd := &forwardingHandler{}
	ended := &importEnded{}
	cfg := bridgeConfig(rt)
	cfg.Groups = fwd
	cfg.HistoryEnded = ended.ended
	b, err := bridge.New(cfg, rt.rdb, rt.js, rt.pub, store, fwd)
	if err != nil {
		return nil, nil, err
	}
	accessJournal, err := rt.openJournal(ctx)
	if err != nil {
		return nil, nil, err
	}
	var sync commands.SyncReporter
	if worker != nil {
		sync = workerSync{worker}
	}
	if fwd.h, err = commands.New(commands.Config{
		Lang: rt.cfg.Lang, Organisers: organisers, Controller: rt.cfg.Controller,
		WindowDays: rt.cfg.WindowDays, RetentionDays: rt.cfg.RetentionDays, TagPrefix: rt.cfg.TagPrefix,
		Log: rt.log.With("role", "commands"), Rebuilding: b.Rebuilding,
		Admins: org.admins, Scopes: org.scopes, Dashboard: org.links, Journal: accessJournal,
	}, rt.pub, rt.hasher, rt.js, rt.names, b.Query(), b, sync, store); err != nil {
		return nil, nil, err
	}
	enableEtat(rt, fwd.h, b.Query())
	if err := fwd.h.EnableCampaigns(ctx, commands.CampaignConfig{
		MaxPerWeek: rt.cfg.CampaignMaxPerWeek, Audience: b.Query(), Registerer: rt.reg,
	}); err != nil {
		return nil, nil, err
	}
	if ended.f, err = enableImports(rt, fwd.h, store, b.Query()); err != nil {
		return nil, nil, err
	}
	// The embedded Redis starts empty: it is rebuilt from the log, once (a restarted task
	// finds it rebuilt). Meanwhile commands are answered (organisers are told the figures are
	// being rebuilt), activity waits, and /readyz says how far the rebuild is.
	rebuilt := !rt.embeddedRedis
	if !rebuilt {
		b.StartRebuild()
	}
	run := func(ctx context.Context) error {
		if err := rt.health.retry(ctx, rt.log, "redis", "loading scripts", b.LoadScripts); err != nil {
			return err
		}
		if !rebuilt {
			rebuilt = true
			return b.RebuildAndRun(ctx, b.Config().ReplayStart(time.Now()))
		}
		return b.Run(ctx)
	}
	rt.health.add("bridge", func(context.Context) error {
		if active, pct := b.Rebuilding(); active {
			return fmt.Errorf("rebuilding state from the event log: %d%%", pct)
		}
		return nil
	})
	return b, append([]task{{"bridge", run}, raftFlushTask(rt)}, org.tasks(fwd.h, b.Query())...), nil
}

// cmdReplay rebuilds the bridge's Redis state from the event log (real Redis; the embedded
// one is rebuilt at every start anyway).
func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	if cfg.RedisURL == "" {
		return usageError{"replay: REDIS_URL is not set; the embedded Redis is rebuilt at every start of relais run"}
	}
	log := newLogger(cfg.LogLevel)
	rt, err := openRuntime(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer rt.Close()
	store, err := consent.New(ctx, rt.js, rt.names, cfg.SyncPolicy)
	if err != nil {
		return err
	}
	defer store.Close()
	b, err := bridge.New(bridgeConfig(rt), rt.rdb, rt.js, rt.pub, store, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	since := b.Config().ReplayStart(start)
	if err := b.Replay(ctx, since); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	fmt.Fprintf(stdout, "replayed the event log since %s in %s\n", since.Format(time.DateOnly), time.Since(start).Round(time.Millisecond))
	return nil
}
