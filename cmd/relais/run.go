package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relais-bot/relais/bots/telegram"
	"github.com/relais-bot/relais/crm"
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

// run starts relais and serves until ctx ends or a role fails.
func run(ctx context.Context, cfg Config, roles map[string]bool, log *slog.Logger) error {
	in, err := start(ctx, cfg, roles, log)
	if err != nil {
		return err
	}
	return in.wait(ctx)
}

// instance is a started relais: its runtime, HTTP address and running roles.
type instance struct {
	rt        *runtime
	addr      net.Addr
	log       *slog.Logger
	errs      chan error
	httpDone  <-chan error
	wg        sync.WaitGroup
	stopRoles context.CancelFunc
}

// start opens the runtime, builds the roles, serves HTTP and starts every task.
func start(ctx context.Context, cfg Config, roles map[string]bool, log *slog.Logger) (_ *instance, err error) {
	started := time.Now()
	rt, err := openRuntime(ctx, cfg, log, roles["bridge"])
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	tasks, routes, err := buildRoles(ctx, rt, roles)
	if err != nil {
		return nil, err
	}
	roleCtx, stopRoles := context.WithCancel(context.WithoutCancel(ctx))
	in := &instance{rt: rt, log: log, errs: make(chan error, len(tasks)+1), stopRoles: stopRoles}
	if in.addr, in.httpDone, err = serveHTTP(roleCtx, cfg.HTTPAddr, newHTTPHandler(rt.health, rt.reg, routes)); err != nil {
		stopRoles()
		return nil, err
	}
	names := make([]string, 0, len(tasks))
	for _, t := range tasks {
		names = append(names, t.name)
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			if err := t.run(roleCtx); err != nil && roleCtx.Err() == nil {
				in.errs <- fmt.Errorf("%s: %w", t.name, err)
			}
		}()
	}
	rt.health.setReady(true)
	log.Info("relais ready", "http", in.addr.String(), "tasks", strings.Join(names, ","), "startup", time.Since(started).Round(time.Millisecond).String())
	return in, nil
}

// wait serves until ctx ends or a role fails, then stops.
func (in *instance) wait(ctx context.Context) error {
	var failure error
	select {
	case <-ctx.Done():
		in.log.Info("stopping: finishing work in flight")
	case failure = <-in.errs:
		in.log.Error("a role failed; stopping", "err", failure.Error())
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
	in.wg.Wait()
	in.rt.Close()
	in.log.Info("stopped")
}

// buildRoles constructs the tasks of the chosen roles and any HTTP routes they serve.
func buildRoles(ctx context.Context, rt *runtime, roles map[string]bool) ([]task, map[string]http.Handler, error) {
	var tasks []task
	routes := map[string]http.Handler{}
	if roles["telegram"] && rt.cfg.TelegramToken != "" {
		t, route, handler, err := telegramRole(ctx, rt)
		if err != nil {
			return nil, nil, err
		}
		tasks = append(tasks, t...)
		if handler != nil {
			routes[route] = handler
		}
	}
	if roles["whatsapp"] && rt.cfg.WhatsAppEnabled {
		t, err := whatsappRole(ctx, rt)
		if err != nil {
			return nil, nil, err
		}
		tasks = append(tasks, t...)
	}
	var worker *crm.Worker
	if roles["crm"] {
		w, t, err := crmRole(ctx, rt)
		if err != nil {
			return nil, nil, err
		}
		worker = w
		tasks = append(tasks, t...)
	}
	if roles["bridge"] {
		_, t, err := bridgeRole(ctx, rt, worker)
		if err != nil {
			return nil, nil, err
		}
		tasks = append(tasks, t...)
	}
	return tasks, routes, nil
}

// telegramRole polls (or receives webhooks) and sends replies for one bot token.
func telegramRole(ctx context.Context, rt *runtime) ([]task, string, http.Handler, error) {
	a, err := telegram.New(ctx, telegram.Config{
		Token: rt.cfg.TelegramToken, Endpoint: rt.cfg.TelegramEndpoint,
		WebhookURL: rt.cfg.TelegramWebhookURL, WebhookSecret: rt.cfg.TelegramWebhookSecret,
		Lang: rt.cfg.Lang, Log: rt.log.With("role", "telegram"), Instance: rt.instanceID(),
	}, rt.js, rt.pub)
	if err != nil {
		return nil, "", nil, err
	}
	tasks := []task{{"telegram", a.Run}, {"telegram-replies", a.ServeReplies}}
	if rt.cfg.TelegramWebhookURL == "" {
		return tasks, "", nil, nil
	}
	u, err := url.Parse(rt.cfg.TelegramWebhookURL)
	if err != nil {
		return nil, "", nil, fmt.Errorf("telegram webhook url: %w", err)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return tasks, "POST " + path, a.WebhookHandler(), nil
}

// extraCommands are the subcommands beyond run, config and version.
func extraCommands() map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
		"bench":    cmdBench,
		"demo":     cmdDemo,
		"export":   cmdExport,
		"replay":   cmdReplay,
		"whatsapp": cmdWhatsApp,
	}
}
