// Package bridgetest gives each test its own Redis: the real server named by REDIS_URL when
// set, an embedded miniredis on a loopback TCP port otherwise, with a key prefix no other
// test shares.
package bridgetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Redis returns a client and a fresh key prefix ("t<hex>:"). With REDIS_URL the test's keys
// are deleted at the end by prefix; without it a miniredis is started for this test alone.
// miniredis listens on 127.0.0.1 over TCP: its in-memory Dial deadlocks go-redis pipelines.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	prefix := UniquePrefix()
	if url := os.Getenv("REDIS_URL"); url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("bridgetest: REDIS_URL: %v", err)
		}
		rdb := redis.NewClient(opts)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatalf("bridgetest: redis ping: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := DeletePrefix(ctx, rdb, prefix); err != nil {
				t.Logf("bridgetest: cleanup: %v", err)
			}
			_ = rdb.Close()
		})
		return rdb, prefix
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatalf("bridgetest: miniredis: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() {
		_ = rdb.Close()
		m.Close()
	})
	return rdb, prefix
}

// UniquePrefix returns a fresh Redis key prefix.
func UniquePrefix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b) + ":"
}

// DeletePrefix removes every key starting with prefix (on every master of a cluster).
func DeletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	del := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 500 {
				if err := c.Unlink(ctx, batch...).Err(); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			return c.Unlink(ctx, batch...).Err()
		}
		return nil
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		// Keys of one member share a slot, but keys of different members do not: unlink
		// one key at a time through the cluster client, scanning every master.
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				if err := c.Unlink(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			return iter.Err()
		})
	}
	if c, ok := rdb.(*redis.Client); ok {
		return del(ctx, c)
	}
	return nil
}
