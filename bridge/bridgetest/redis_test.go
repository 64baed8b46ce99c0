package bridgetest

import (
	"context"
	"testing"
)

func TestRedisIsolatedAndCleaned(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := Redis(t)
	for _, k := range []string{"a", "b", "c:{x}"} {
		if err := rdb.Set(ctx, prefix+k, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "other:"+prefix, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), "other:"+prefix) })
	// A pipeline larger than 4 KB: the reason miniredis runs on TCP rather than m.Dial.
	pipe := rdb.Pipeline()
	for i := range 2000 {
		pipe.HSet(ctx, prefix+"big", i, "0123456789")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if err := DeletePrefix(ctx, rdb, prefix); err != nil {
		t.Fatal(err)
	}
	n, err := rdb.Exists(ctx, prefix+"a", prefix+"b", prefix+"c:{x}", prefix+"big").Result()
	if err != nil || n != 0 {
		t.Fatalf("after DeletePrefix: %d keys left, err %v", n, err)
	}
	if v, _ := rdb.Get(ctx, "other:"+prefix).Result(); v != "1" {
		t.Fatalf("DeletePrefix removed a key outside its prefix")
	}
}
