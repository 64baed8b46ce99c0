package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relais-bot/relais/bots/telegram"
	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/dashboard"
	"github.com/relais-bot/relais/events"
)

// allRoles are what one process can do; scale out by running several with a subset.
var allRoles = []string{"telegram", "whatsapp", "bridge", "crm"}

func parseRoles(s string) (map[string]bool, error) {
	roles := map[string]bool{}
	if s == "" || s == "all" {
		for _, r := range allRoles {
			roles[r] = true
		}
		return roles, nil
	}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if !slices.Contains(allRoles, r) {
			return nil, usageError{fmt.Sprintf("--roles: unknown role %q (want a comma list of %s)", r, strings.Join(allRoles, ", "))}
		}
		roles[r] = true
	}
	return roles, nil
}

// task is one long-running part of a role. It returns when ctx ends, after finishing the
// work it had started.
type task struct {
	name string
	run  func(ctx context.Context) error
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rolesFlag := fs.String("roles", "all", "comma list of roles: "+strings.Join(allRoles, ","))
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	roles, err := parseRoles(*rolesFlag)
	if err != nil {
		return err
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	return run(ctx, cfg, roles, log)
}

// run starts relais and serves until ctx ends (a clean stop: nil) or something fails that
// no retry can fix. Servers that are unreachable or failing over are waited for, and a role
// that fails is restarted: neither stops the process.
func run(ctx context.Context, cfg Config, roles map[string]bool, log *slog.Logger) error {
	in, err := start(ctx, cfg, roles, log)
	if err != nil {
		return err
	}
	return in.wait(ctx)
}

// instance is a started relais. It serves /readyz at once and brings NATS, Redis and the
// roles up in the background, saying on /readyz what it waits for.
type instance struct {
	rt        *runtime
	roles     map[string]bool
	addr      net.Addr
	mux       *http.ServeMux
	log       *slog.Logger
	started   time.Time
	fatal     chan error    // what no retry can fix
	ready     chan struct{} // closed once every role runs
	upDone    chan struct{} // closed once bringing up is over, done or given up
	httpDone  <-chan error
	tasks     sync.WaitGroup
	stopRoles context.CancelFunc
	// A failed task runs again after restartBase, doubling up to restartMax; /readyz reports
	// the restart until the task has run for stableAfter.
	restartBase, restartMax, stableAfter time.Duration
}

// start prepares what needs no server (data dir, secret, HTTP listener: their errors are
// returned), then brings the rest up in the background.
func start(ctx context.Context, cfg Config, roles map[string]bool, log *slog.Logger) (*instance, error) {
	rt, err := newRuntime(cfg, log)
	if err != nil {
		return nil, err
	}
	roleCtx, stopRoles := context.WithCancel(context.WithoutCancel(ctx))
	in := &instance{
		rt: rt, roles: roles, log: log, started: time.Now(),
		fatal: make(chan error, 1), ready: make(chan struct{}), upDone: make(chan struct{}),
		stopRoles:   stopRoles,
		restartBase: time.Second, restartMax: 30 * time.Second, stableAfter: 10 * time.Second,
	}
	in.mux = newHTTPHandler(rt.health, rt.reg)
	rt.dashboard = &swapHandler{}
	// The dashboard is served under RELAIS_PUBLIC_URL's path (a proxy forwards the full
	// path); a URL it refuses is reported when the dashboard is built, mounted at the default.
	root, err := dashboard.Root(cfg.publicURL())
	if err != nil {
		root = dashboard.Prefix
	}
	in.mux.Handle(root, rt.dashboard)
	if in.addr, in.httpDone, err = serveHTTP(roleCtx, cfg.HTTPAddr, in.mux); err != nil {
		stopRoles()
		rt.Close()
		return nil, err
	}
	go in.bringUp(roleCtx)
	return in, nil
}

// bringUp connects, builds every role and starts its tasks; a failure no retry can fix goes
// to in.fatal.
func (in *instance) bringUp(ctx context.Context) {
	defer close(in.upDone)
	if err := in.up(ctx); err != nil {
		if ctx.Err() == nil {
			in.fatal <- err
		}
		return
	}
	in.rt.health.setReady(true)
	close(in.ready)
}

func (in *instance) up(ctx context.Context) error {
	rt := in.rt
	if err := rt.connectNATS(ctx); err != nil {
		return err
	}
	if in.roles["bridge"] {
		if err := rt.openRedis(); err != nil {
			return err
		}
	}
	if err := in.startMonitor(ctx); err != nil {
		return err
	}
	// Chains start side by side, so a platform that is down delays only its own adapter;
	// one that cannot start at all stops the others' attempts.
	upCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	chains := in.chains()
	var names []string
	for _, ch := range chains {
		for _, rb := range ch {
			names = append(names, rb.name)
		}
	}
	errs := make(chan error, len(chains))
	var wg sync.WaitGroup
	for _, ch := range chains {
		wg.Go(func() {
			err := in.startChain(upCtx, ctx, ch)
			if err != nil {
				cancel()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var first error
	for err := range errs {
		if err != nil && (first == nil || permanent(err)) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	in.log.Info("relais ready", "http", in.addr.String(), "roles", strings.Join(names, ","),
		"startup", time.Since(in.started).Round(time.Millisecond).String())
	return nil
}

// roleBuilder builds one role: wait for what it needs first (prepare), then build, which is
// retried until it succeeds.
type roleBuilder struct {
	name    string
	prepare func(ctx context.Context) error
	build   func(ctx context.Context, rt *runtime) ([]task, error)
}

// chains are the roles to start, in chains of roles that depend on the one before.
func (in *instance) chains() [][]roleBuilder {
	rt, roles := in.rt, in.roles
	var out [][]roleBuilder
	// The bridge reports the worker of its own process on /sync, so the worker comes first.
	var core []roleBuilder
	var worker *crm.Worker
	if roles["crm"] {
		core = append(core, roleBuilder{name: "crm", build: func(ctx context.Context, rt *runtime) ([]task, error) {
			w, tasks, err := crmRole(ctx, rt)
			worker = w
			return tasks, err
		}})
	}
	if roles["bridge"] {
		core = append(core, roleBuilder{name: "bridge", prepare: rt.waitRedis, build: func(ctx context.Context, rt *runtime) ([]task, error) {
			_, tasks, err := bridgeRole(ctx, rt, worker)
			return tasks, err
		}})
	}
	if len(core) > 0 {
		out = append(out, core)
	}
	if roles["telegram"] && rt.cfg.TelegramToken != "" {
		out = append(out, []roleBuilder{{name: "telegram", build: func(ctx context.Context, rt *runtime) ([]task, error) {
			tasks, route, handler, err := telegramRole(ctx, rt)
			if err != nil || handler == nil {
				return tasks, err
			}
			if err := handle(in.mux, route, handler); err != nil {
				return nil, &ConfigError{Var: "TELEGRAM_WEBHOOK_URL", Want: err.Error()}
			}
			return tasks, nil
		}}})
	}
	if roles["whatsapp"] && rt.cfg.WhatsAppEnabled {
		out = append(out, []roleBuilder{{name: "whatsapp", build: func(ctx context.Context, rt *runtime) ([]task, error) {
			return whatsappRole(ctx, rt)
		}}})
	}
	return out
}

// startChain builds each role of a chain, waiting out outages, and starts its tasks with
// runCtx. A failed attempt closes what it opened, so the next one starts clean.
func (in *instance) startChain(ctx, runCtx context.Context, chain []roleBuilder) error {
	rt := in.rt
	for _, rb := range chain {
		if rb.prepare != nil {
			if err := rb.prepare(ctx); err != nil {
				return err
			}
		}
		var tasks []task
		err := rt.health.retry(ctx, in.log, rb.name, "starting", func(ctx context.Context) error {
			attempt := rt.attempt()
			t, err := rb.build(ctx, attempt)
			if err != nil {
				attempt.Close()
				return err
			}
			for _, f := range attempt.closers.take() {
				rt.addCloser(f)
			}
			tasks = t
			return nil
		})
		if err != nil {
			return err
		}
		for _, t := range tasks {
			in.tasks.Add(1)
			go func() {
				defer in.tasks.Done()
				in.supervise(runCtx, t)
			}()
		}
	}
	return nil
}

// attempt is the runtime as one attempt at building a role sees it: the same connections,
// with a list of its own for what it opens.
func (rt *runtime) attempt() *runtime {
	a := *rt
	a.closers = &closers{}
	return &a
}

// supervise runs a task until ctx ends, restarting it with backoff whenever it fails (or
// returns early): one role's failure never stops the process.
func (in *instance) supervise(ctx context.Context, t task) {
	h := in.rt.health
	var settle *time.Timer
	defer func() {
		if settle != nil {
			settle.Stop()
		}
	}()
	for attempt := uint64(1); ; attempt++ {
		began := time.Now()
		err := runTask(ctx, t, in.log)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped on its own")
		}
		if time.Since(began) > in.restartMax {
			attempt = 1 // a failure after a long run is a new one, not the next of a series
		}
		d := events.Backoff(attempt, in.restartBase, in.restartMax)
		status := fmt.Sprintf("%s: restarting (attempt %d): %s", t.name, attempt, err.Error())
		if settle != nil {
			settle.Stop()
		}
		h.wait(t.name, status)
		in.log.Error("role failed; restarting it", "task", t.name, "attempt", attempt,
			"retry_in", d.Round(time.Millisecond).String(), "err", err.Error())
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			h.doneIf(t.name, status)
			return
		case <-timer.C:
		}
		settle = time.AfterFunc(in.stableAfter, func() { h.doneIf(t.name, status) })
	}
}

// runTask runs t, turning a panic into an error so that supervise restarts the role.
func runTask(ctx context.Context, t task, log *slog.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("role panicked", "task", t.name, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return t.run(ctx)
}

// waitReady returns once every role runs, or with what stopped relais from getting there.
func (in *instance) waitReady(ctx context.Context) error {
	select {
	case <-in.ready:
		return nil
	case err := <-in.fatal:
		return err
	case err := <-in.httpDone:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait serves until ctx ends or something no retry can fix fails, then stops.
func (in *instance) wait(ctx context.Context) error {
	var failure error
	select {
	case <-ctx.Done():
		in.log.Info("stopping: finishing work in flight")
	case failure = <-in.fatal:
		in.log.Error("cannot start; stopping", "err", failure.Error())
	case failure = <-in.httpDone:
		if failure != nil {
			failure = fmt.Errorf("http: %w", failure)
		}
	}
	in.stop()
	return failure
}

// stop ends every role after its work in flight, then closes the connections.
func (in *instance) stop() {
	in.rt.health.setReady(false)
	in.stopRoles()
	<-in.upDone
	in.tasks.Wait()
	in.rt.Close()
	in.log.Info("stopped")
}

// telegramRole polls (or receives webhooks) and sends replies for one bot token.
func telegramRole(ctx context.Context, rt *runtime) ([]task, string, http.Handler, error) {
	a, err := telegram.New(ctx, telegram.Config{
		Token: rt.cfg.TelegramToken, Endpoint: rt.cfg.TelegramEndpoint,
		WebhookURL: rt.cfg.TelegramWebhookURL, WebhookSecret: rt.cfg.TelegramWebhookSecret,
		Lang: rt.cfg.Lang, Log: rt.log.With("role", "telegram"), Instance: rt.instanceID(),
		Registerer: rt.reg,
	}, rt.js, rt.pub)
	if err != nil {
		if telegram.TokenRefused(err) {
			rt.probes.add("telegram", tokenRefused{})
		}
		return nil, "", nil, err
	}
	rt.probes.add("telegram", a)
	tasks := []task{{"telegram", a.Run}, {"telegram-replies", a.ServeReplies}, {"telegram-campaigns", a.ServeCampaigns}, {"telegram-membership", a.ServeMembership}}
	if rt.cfg.TelegramWebhookURL == "" {
		return tasks, "", nil, nil
	}
	route, err := webhookRoute(rt.cfg.TelegramWebhookURL)
	if err != nil {
		return nil, "", nil, &ConfigError{Var: "TELEGRAM_WEBHOOK_URL", Want: err.Error()}
	}
	return tasks, route, a.WebhookHandler(), nil
}

// webhookRoute is the route the webhook URL's path is served on. A path the mux would refuse
// (a "{" it reads as a wildcard) is an error here, before anything started.
func webhookRoute(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("telegram webhook url: %w", err)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	route := "POST " + path
	if err := handle(http.NewServeMux(), route, http.NotFoundHandler()); err != nil {
		return "", err
	}
	return route, nil
}

// extraCommands are the subcommands beyond run, config and version.
func extraCommands() map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
		"bench":    cmdBench,
		"demo":     cmdDemo,
		"doctor":   cmdDoctor,
		"dpo":      cmdDPO,
		"export":   cmdExport,
		"import":   cmdImport,
		"replay":   cmdReplay,
		"whatsapp": cmdWhatsApp,
	}
}
