package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DashboardBucket holds the dashboard's one-time login links and sessions, by hash.
func (n Names) DashboardBucket() string { return n.prefix + "RELAIS_DASHBOARD" }

// DigestBucket records which organiser got which week's digest.
func (n Names) DigestBucket() string { return n.prefix + "RELAIS_DIGEST" }

// OrganiserBucket opens (creating it if needed) one of the organisers' view's buckets, with
// as many replicas as the locks bucket Setup made. They hold no member data: hashes of
// tokens, an organiser's platform id, a week number.
func OrganiserBucket(ctx context.Context, js jetstream.JetStream, n Names, bucket string, ttl time.Duration) (jetstream.KeyValue, error) {
	replicas := 1
	if locks, err := js.KeyValue(ctx, n.LocksBucket()); err == nil {
		if st, err := locks.Status(ctx); err == nil {
			if s, ok := st.(*jetstream.KeyValueBucketStatus); ok && s.StreamInfo() != nil {
				replicas = max(1, s.StreamInfo().Config.Replicas)
			}
		}
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, TTL: ttl, Storage: jetstream.FileStorage, Replicas: replicas,
		Description: "relais organisers' view",
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return kv, nil
}
