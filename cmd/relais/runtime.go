package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	incident "github.com/relais-bot/relais/health"
)

// runtime is what every role shares: the connections, names and metrics of one process.
type runtime struct {
	cfg    Config
	log    *slog.Logger
	reg    *prometheus.Registry
	nc     *nats.Conn
	js     jetstream.JetStream
	names  events.Names
	hasher events.Hasher
	pub    *events.Publisher
	rdb    redis.UniversalClient
	// embeddedRedis is true when Redis is the in-process cache, rebuilt from the log at start.
	embeddedRedis bool
	health        *health
	closers       *closers
	// dashboard serves /tableau/ once the bridge role built it (nil outside run).
	dashboard *swapHandler
	// probes are what the health monitor asks; roles add theirs as they are built.
	probes *probeSet
	// monitor turns probes' conditions into incidents (nil outside run, and until NATS is up).
	monitor *incident.Monitor
	// limits are the streams' settings (retention, replicas), chosen once NATS is up.
	limits events.Limits
}

// closers are what to release at the end, in the reverse order they were opened.
type closers struct {
	mu sync.Mutex
	fs []func()
}

func (c *closers) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fs = append(c.fs, f)
}

// take empties the list and returns it.
func (c *closers) take() []func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	fs := c.fs
	c.fs = nil
	return fs
}

func (rt *runtime) addCloser(f func()) { rt.closers.add(f) }

// openRuntime brings up the data dir, the secret, NATS (embedded unless NATS_URL), the
// streams, and Redis (embedded unless REDIS_URL) when needRedis. It waits out servers that
// are unreachable until ctx ends.
func openRuntime(ctx context.Context, cfg Config, log *slog.Logger, needRedis bool) (*runtime, error) {
	rt, err := newRuntime(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := rt.connectNATS(ctx); err != nil {
		rt.Close()
		return nil, err
	}
	if needRedis {
		if err := rt.openRedis(); err != nil {
			rt.Close()
			return nil, err
		}
		if err := rt.waitRedis(ctx); err != nil {
			rt.Close()
			return nil, err
		}
	}
	return rt, nil
}

// newRuntime prepares what needs no server: the data dir, the secret and the names. Its
// errors are the operator's to fix.
func newRuntime(cfg Config, log *slog.Logger) (*runtime, error) {
	rt := &runtime{cfg: cfg, log: log, reg: prometheus.NewRegistry(), health: newHealth(), closers: &closers{}, probes: &probeSet{}}
	rt.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	secret, err := loadSecret(cfg.Secret, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if rt.hasher, err = events.NewHasher(secret); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if rt.names, err = events.NewNames(cfg.Namespace); err != nil {
		return nil, &ConfigError{Var: "RELAIS_NAMESPACE", Want: err.Error()}
	}
	return rt, nil
}

// connectNATS connects (starting the embedded server unless NATS_URL) and sets up the
// streams, waiting out an unreachable or failing-over server. Once connected, the client
// reconnects by itself for as long as it takes.
func (rt *runtime) connectNATS(ctx context.Context) error {
	cfg, log := rt.cfg, rt.log
	if cfg.NATSURL == "" {
		dir := filepath.Join(cfg.DataDir, "nats")
		srv, err := embedded.StartNATS(embedded.Options{Dir: dir, Exclusive: true})
		if err != nil {
			return fatalError{err}
		}
		rt.addCloser(srv.Shutdown)
		if rt.nc, err = srv.Connect(nats.ErrorHandler(natsErrorLogger(log))); err != nil {
			return fatalError{err}
		}
		log.Info("embedded nats started", "store", dir)
	} else {
		err := rt.health.retry(ctx, log, "nats", "connecting", func(context.Context) error {
			nc, err := nats.Connect(cfg.NATSURL, nats.Name("relais"), nats.MaxReconnects(-1),
				nats.ReconnectWait(time.Second), nats.Timeout(5*time.Second),
				nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
					if err != nil {
						log.Warn("nats disconnected", "err", err.Error())
					}
				}),
				nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
				nats.ErrorHandler(natsErrorLogger(log)))
			if err != nil {
				return fmt.Errorf("nats connect: %w", err)
			}
			rt.nc = nc
			return nil
		})
		if err != nil {
			return err
		}
	}
	nc := rt.nc
	rt.addCloser(func() { _ = nc.Drain(); nc.Close() })
	var err error
	if rt.js, err = jetstream.New(rt.nc); err != nil {
		return fatalError{fmt.Errorf("jetstream: %w", err)}
	}
	rt.health.add("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	})
	limits := events.DefaultLimits()
	limits.Retention = cfg.Retention()
	limits.Replicas = cfg.NATSReplicas
	if limits.Replicas == 0 {
		// Every server of the cluster is known once the first INFO came: the client is
		// connected here.
		limits.Replicas, limits.ReplicasGuessed = events.ClusterReplicas(nc), true
	}
	err = rt.health.retry(ctx, log, "nats", "setting up streams", func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return events.Setup(sctx, rt.js, rt.names, limits)
	})
	if err != nil {
		return err
	}
	log.Info("streams ready", "replicas", limits.Replicas, "replicas_default", limits.ReplicasGuessed)
	rt.limits = limits
	rt.pub = events.NewPublisher(rt.js, rt.names, rt.hasher)
	rt.health.add("streams", func(ctx context.Context) error {
		_, err := rt.js.Stream(ctx, rt.names.EventsStream())
		return err
	})
	return nil
}

// openRedis starts the embedded Redis unless REDIS_URL, and makes the client; it does not
// wait for the server (waitRedis does).
func (rt *runtime) openRedis() error {
	redis.SetLogger(redisLogger{rt.log})
	if rt.cfg.RedisURL == "" {
		er, err := startEmbeddedRedis()
		if err != nil {
			return fatalError{err}
		}
		rt.addCloser(er.Close)
		rt.rdb, rt.embeddedRedis = er.client(), true
		rt.log.Info("embedded redis started; state is rebuilt from the event log")
	} else {
		rdb, err := connectRedis(rt.cfg.RedisURL)
		if err != nil {
			return &ConfigError{Var: "REDIS_URL", Want: err.Error()}
		}
		rt.rdb = rdb
	}
	rdb := rt.rdb
	rt.addCloser(func() { _ = rdb.Close() })
	rt.health.add("redis", func(ctx context.Context) error { return pingRedis(ctx, rdb) })
	return nil
}

// waitRedis waits until Redis answers.
func (rt *runtime) waitRedis(ctx context.Context) error {
	return rt.health.retry(ctx, rt.log, "redis", "connecting", func(ctx context.Context) error {
		if err := pingRedis(ctx, rt.rdb); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	})
}

// natsErrorLogger sends the client's asynchronous errors (a slow consumer after a
// reconnect, say: the messages come back after AckWait) to the log instead of stderr.
func natsErrorLogger(log *slog.Logger) nats.ErrHandler {
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if sub != nil {
			log.Warn("nats", "subject", sub.Subject, "err", err.Error())
			return
		}
		log.Warn("nats", "err", err.Error())
	}
}

// Close releases everything in the reverse order it was opened. It may be called on a
// runtime that is nil or was never fully opened, and more than once.
func (rt *runtime) Close() {
	if rt == nil || rt.closers == nil {
		return
	}
	fs := rt.closers.take()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// newLogger writes JSON logs on stderr at the configured level.
func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
