package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
)

// Env is the servers one bench run talks to: NATS_URL and REDIS_URL when set, embedded
// ones otherwise. Everything the run creates lives under its own namespace (BENCH<hex>...),
// so a bench against a deployment's servers never reads or writes the deployment's streams,
// buckets or keys, and removes its own at the end.
type Env struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	rdb redis.UniversalClient
	// natsURL and redisURL reach the same servers from another process (the --rss child);
	// embedded servers listen on loopback for it.
	natsURL, redisURL           string
	embeddedNATS, embeddedRedis bool
	secret                      string
	hasher                      events.Hasher
	// run is this run's namespace stem: each stage appends a letter.
	run     string
	dataDir string
	// connect opens another connection to the same NATS, for a publisher that must not share
	// the bridge's connection (adapters are other processes).
	connect func() (*nats.Conn, error)
	closers []func()
	// keyPrefixOf is relais' key prefix for a namespace (Servers.KeyPrefix).
	keyPrefixOf func(string) string
}

// Servers say which servers a run uses and how relais reaches Redis, so that the bench
// measures what `relais run` does.
type Servers struct {
	// NATSURL and RedisURL name external servers; empty starts embedded ones.
	NATSURL, RedisURL string
	// Listen makes the embedded servers reachable over loopback TCP, which the child process
	// of the RSS stage needs.
	Listen bool
	// EmbeddedRedis starts relais' embedded Redis; it returns a client, the URL another
	// process reaches it at, and how to stop it.
	EmbeddedRedis func() (redis.UniversalClient, string, func(), error)
	// ConnectRedis opens a client to RedisURL as relais does.
	ConnectRedis func(url string) (redis.UniversalClient, error)
	// KeyPrefix is relais' Redis key prefix for a RELAIS_NAMESPACE.
	KeyPrefix func(namespace string) string
}

// Open connects to (or starts) NATS and Redis.
func Open(ctx context.Context, servers Servers) (env *Env, err error) {
	natsURL, redisURL, listen := servers.NATSURL, servers.RedisURL, servers.Listen
	env = &Env{natsURL: natsURL, redisURL: redisURL, keyPrefixOf: servers.KeyPrefix}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("bench: random: %w", err)
	}
	env.run = "BENCH" + strings.ToUpper(hex.EncodeToString(raw[:5]))
	env.secret = hex.EncodeToString(raw) // the bench's own key: its tokens match no deployment's
	if env.hasher, err = events.NewHasher([]byte(env.secret)); err != nil {
		return nil, err
	}
	if env.dataDir, err = os.MkdirTemp("", "relais-bench-"); err != nil {
		return nil, fmt.Errorf("bench: temp dir: %w", err)
	}
	dir := env.dataDir
	env.closers = append(env.closers, func() { _ = os.RemoveAll(dir) })

	if natsURL == "" {
		opts := embedded.Options{Dir: dir + "/nats"}
		if listen {
			opts.Listen = "127.0.0.1:0"
		}
		srv, err := embedded.StartNATS(opts)
		if err != nil {
			return nil, err
		}
		env.closers = append(env.closers, srv.Shutdown)
		env.embeddedNATS, env.natsURL = true, srv.URL()
		env.connect = func() (*nats.Conn, error) { return srv.Connect(nats.Name("relais-bench")) }
	} else {
		env.connect = func() (*nats.Conn, error) {
			nc, err := nats.Connect(natsURL, nats.Name("relais-bench"), nats.Timeout(5*time.Second))
			if err != nil {
				return nil, fmt.Errorf("bench: nats connect: %w", err)
			}
			return nc, nil
		}
	}
	if env.nc, err = env.connect(); err != nil {
		return nil, err
	}
	nc := env.nc
	env.closers = append(env.closers, nc.Close)
	if env.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8000)); err != nil {
		return nil, fmt.Errorf("bench: jetstream: %w", err)
	}

	if redisURL == "" {
		rdb, url, stop, err := servers.EmbeddedRedis()
		if err != nil {
			return nil, err
		}
		env.closers = append(env.closers, stop)
		env.rdb, env.embeddedRedis, env.redisURL = rdb, true, url
	} else if env.rdb, err = servers.ConnectRedis(redisURL); err != nil {
		return nil, err
	}
	rdb := env.rdb
	env.closers = append(env.closers, func() { _ = rdb.Close() })
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return nil, fmt.Errorf("bench: redis: %w", err)
	}
	return env, nil
}

// publisher returns a JetStream publisher of names on a connection of its own; close it after.
func (e *Env) publisher(names events.Names) (jetstream.JetStream, *events.Publisher, func(), error) {
	nc, err := e.connect()
	if err != nil {
		return nil, nil, nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8000))
	if err != nil {
		nc.Close()
		return nil, nil, nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	return js, events.NewPublisher(js, names, e.hasher), nc.Close, nil
}

// names returns the stream and subject names of one stage of the run.
func (e *Env) names(stage string) (events.Names, error) { return events.NewNames(e.run + stage) }

// keyPrefix is the Redis key prefix of one stage, the one `relais run` derives from
// RELAIS_NAMESPACE, so a child bridge and the cleanup agree.
func (e *Env) keyPrefix(stage string) string { return e.keyPrefixOf(e.run + stage) }

// setup creates a stage's streams and buckets.
func (e *Env) setup(ctx context.Context, stage string) (events.Names, *events.Publisher, error) {
	n, err := e.names(stage)
	if err != nil {
		return n, nil, err
	}
	if err := events.Setup(ctx, e.js, n, events.Limits{Retention: 90 * benchDay, Duplicates: time.Hour}); err != nil {
		return n, nil, err
	}
	return n, events.NewPublisher(e.js, n, e.hasher), nil
}

const benchDay = 24 * time.Hour

// cleanup deletes the streams, buckets and keys of every stage of the run.
func (e *Env) cleanup(ctx context.Context, stages ...string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	for _, s := range stages {
		n, err := e.names(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := events.Teardown(ctx, e.js, n); err != nil {
			errs = append(errs, err)
		}
	}
	// Every stage's prefix starts with this one; the run stem is unique to this run.
	if err := benchDeletePrefix(ctx, e.rdb, "relais:"+e.run); err != nil {
		errs = append(errs, fmt.Errorf("bench: delete keys: %w", err))
	}
	return errors.Join(errs...)
}

// leftovers lists what of the run is still on the servers: streams, buckets, keys.
func (e *Env) leftovers(ctx context.Context) ([]string, error) {
	var out []string
	for name := range e.js.StreamNames(ctx).Name() {
		// Buckets are streams named KV_<bucket>.
		if strings.HasPrefix(strings.TrimPrefix(name, "KV_"), e.run) {
			out = append(out, name)
		}
	}
	keys, err := benchScanKeys(ctx, e.rdb, "relais:"+e.run+"*")
	if err != nil {
		return out, err
	}
	return append(out, keys...), nil
}

func benchScanKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	var (
		mu  sync.Mutex // a cluster client scans its masters concurrently
		out []string
	)
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			out = append(out, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return out, c.ForEachMaster(ctx, scan)
	case *redis.Client:
		return out, scan(ctx, c)
	}
	return out, fmt.Errorf("bench: scan: unsupported client %T", rdb)
}

// benchDeletePrefix unlinks every key under prefix.
func benchDeletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	keys, err := benchScanKeys(ctx, rdb, prefix+"*")
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(500, len(keys))
		// One key at a time on a cluster: keys of one batch may live on different slots.
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[:n] {
				p.Unlink(ctx, k)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("bench: delete keys: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// Close stops what Open started, in reverse order.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}
