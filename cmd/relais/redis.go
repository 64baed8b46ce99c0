package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// connectRedis opens REDIS_URL: a cluster when the URL lists more nodes with ?addr=, a single
// server otherwise.
func connectRedis(rawURL string) (redis.UniversalClient, error) {
	if strings.Contains(rawURL, "addr=") {
		opts, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		c := redis.NewClusterClient(opts)
		// go-redis refreshes its slot map every minute or on MOVED; after a master dies its
		// replica takes the slots within seconds, but every call to the dead address fails to
		// dial until the next refresh (about 40 s measured in the cluster test). A failed dial
		// asks for a refresh at once; LazyReload coalesces concurrent requests.
		c.OnNewNode(func(node *redis.Client) { node.AddHook(reloadOnDialError{cluster: c}) })
		return c, nil
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	return redis.NewClient(opts), nil
}

// reloadOnDialError is a go-redis hook on every node of a cluster client.
type reloadOnDialError struct{ cluster *redis.ClusterClient }

func (h reloadOnDialError) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil && ctx.Err() == nil {
			h.cluster.ReloadState(context.WithoutCancel(ctx))
		}
		return conn, err
	}
}

func (reloadOnDialError) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (reloadOnDialError) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// embeddedRedis is miniredis on a loopback port: go-redis pipelines deadlock on its
// in-memory dial. Its TTLs only move with FastForward (ClockTTL sorts every key on every
// command), so a ticker advances them; relais never needs a key to expire to be correct.
type embeddedRedis struct {
	srv  *miniredis.Miniredis
	stop chan struct{}
	done chan struct{}
}

func startEmbeddedRedis() (*embeddedRedis, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	e := &embeddedRedis{srv: srv, stop: make(chan struct{}), done: make(chan struct{})}
	go e.tick(30 * time.Second)
	return e, nil
}

func (e *embeddedRedis) tick(every time.Duration) {
	defer close(e.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.srv.FastForward(every)
		}
	}
}

func (e *embeddedRedis) client() redis.UniversalClient {
	return redis.NewClient(&redis.Options{Addr: e.srv.Addr()})
}

func (e *embeddedRedis) Close() {
	close(e.stop)
	<-e.done
	e.srv.Close()
}

// redisLogger sends go-redis's own messages (a pool that cannot dial while Redis is down)
// to the process log instead of plain lines on stderr; the wait itself is logged by retry.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis client", "msg", fmt.Sprintf(format, v...))
}

func pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return rdb.Ping(ctx).Err()
}
