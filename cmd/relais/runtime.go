package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
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
	closers       []func()
}

// openRuntime brings up the data dir, the secret, NATS (embedded unless NATS_URL), the
// streams, and Redis (embedded unless REDIS_URL) when needRedis.
func openRuntime(ctx context.Context, cfg Config, log *slog.Logger, needRedis bool) (rt *runtime, err error) {
	rt = &runtime{cfg: cfg, log: log, reg: prometheus.NewRegistry(), health: newHealth()}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
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

	if cfg.NATSURL == "" {
		srv, err := embedded.StartNATS(embedded.Options{Dir: filepath.Join(cfg.DataDir, "nats")})
		if err != nil {
			return nil, err
		}
		rt.closers = append(rt.closers, srv.Shutdown)
		if rt.nc, err = srv.Connect(nats.ErrorHandler(natsErrorLogger(log))); err != nil {
			return nil, err
		}
		log.Info("embedded nats started", "store", filepath.Join(cfg.DataDir, "nats"))
	} else {
		rt.nc, err = nats.Connect(cfg.NATSURL, nats.Name("relais"), nats.MaxReconnects(-1),
			nats.ReconnectWait(time.Second), nats.Timeout(5*time.Second),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("nats disconnected", "err", err.Error())
				}
			}),
			nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
			nats.ErrorHandler(natsErrorLogger(log)))
		if err != nil {
			return nil, fmt.Errorf("nats connect: %w", err)
		}
	}
	nc := rt.nc
	rt.closers = append(rt.closers, func() { _ = nc.Drain(); nc.Close() })
	if rt.js, err = jetstream.New(rt.nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	limits := events.DefaultLimits()
	limits.Retention = cfg.Retention()
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := events.Setup(setupCtx, rt.js, rt.names, limits); err != nil {
		return nil, err
	}
	rt.pub = events.NewPublisher(rt.js, rt.names, rt.hasher)
	rt.health.add("nats", func(context.Context) error {
		if !rt.nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	})
	rt.health.add("streams", func(ctx context.Context) error {
		_, err := rt.js.Stream(ctx, rt.names.EventsStream())
		return err
	})

	if needRedis {
		if cfg.RedisURL == "" {
			er, err := startEmbeddedRedis()
			if err != nil {
				return nil, err
			}
			rt.closers = append(rt.closers, er.Close)
			rt.rdb, rt.embeddedRedis = er.client(), true
			log.Info("embedded redis started; state is rebuilt from the event log")
		} else if rt.rdb, err = connectRedis(cfg.RedisURL); err != nil {
			return nil, err
		}
		rdb := rt.rdb
		rt.closers = append(rt.closers, func() { _ = rdb.Close() })
		if err := pingRedis(ctx, rt.rdb); err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		rt.health.add("redis", func(ctx context.Context) error { return pingRedis(ctx, rdb) })
	}
	return rt, nil
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

// Close releases everything in the reverse order it was opened.
func (rt *runtime) Close() {
	for i := len(rt.closers) - 1; i >= 0; i-- {
		rt.closers[i]()
	}
	rt.closers = nil
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
