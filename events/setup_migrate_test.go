package events_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// An earlier version created the consent bucket with nats.go, which denies deletes for good:
// Setup moves it into an erasable bucket without losing a single record.
func TestSetupMigratesConsentToAnErasableBucket(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	bucket := env.Names.ConsentBucket()
	if err := env.JS.DeleteKeyValue(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	old, err := env.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 16})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"member1": `{"status":"stop"}`, "member2": `{"status":"yes"}`, "policy.g1": "notice"}
	for k, v := range want {
		if _, err := old.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := events.SecureDropHistory(ctx, env.JS, bucket, "member1"); err == nil {
		t.Fatal("a nats.go bucket allowed a secure delete: the test's premise is wrong")
	}
	if err := events.Setup(ctx, env.JS, env.Names, env.Limits); err != nil {
		t.Fatal(err)
	}
	kv, err := env.JS.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		e, err := kv.Get(ctx, k)
		if err != nil || string(e.Value()) != v {
			t.Errorf("%s after migration: %v %q, want %q", k, err, e.Value(), v)
		}
	}
	if _, err := kv.Put(ctx, "member1", []byte(`{"status":"erased"}`)); err != nil {
		t.Fatal(err)
	}
	if err := events.SecureDropHistory(ctx, env.JS, bucket, "member1"); err != nil {
		t.Errorf("after migration the bucket is still not erasable: %v", err)
	}
	if _, err := env.JS.KeyValue(ctx, bucket+"_MIGRATION"); err == nil {
		t.Error("the side bucket was left behind")
	}
	// A second start changes nothing.
	if err := events.Setup(ctx, env.JS, env.Names, env.Limits); err != nil {
		t.Fatal(err)
	}
}
