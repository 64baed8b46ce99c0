package events

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SecureDropHistory securely deletes every revision of a KV key but the newest, so the
// values a key held before (a phone number shared then withdrawn) are gone from disk. The
// bucket must allow message deletes (see ErasableKeyValue), else ErrDeleteDenied.
func SecureDropHistory(ctx context.Context, js jetstream.JetStream, bucket, key string) error {
	return secureKeyRevisions(ctx, js, bucket, key, true)
}

// SecureDeleteKey securely deletes every revision of a KV key and leaves no delete marker:
// a Get then finds nothing, and nothing of the key stays on disk. The bucket must allow
// message deletes (see ErasableKeyValue), else ErrDeleteDenied.
func SecureDeleteKey(ctx context.Context, js jetstream.JetStream, bucket, key string) error {
	return secureKeyRevisions(ctx, js, bucket, key, false)
}

func secureKeyRevisions(ctx context.Context, js jetstream.JetStream, bucket, key string, keepNewest bool) error {
	if key == "" || strings.ContainsAny(key, "*> \t") {
		return fmt.Errorf("kv %s: invalid key", bucket)
	}
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return fmt.Errorf("kv %s: %w", bucket, err)
	}
	if s.CachedInfo().Config.DenyDelete {
		return fmt.Errorf("kv %s: %w", bucket, ErrDeleteDenied)
	}
	var seqs []uint64
	if err := eachMsg(ctx, s, "$KV."+bucket+"."+key, func(m *jetstream.RawStreamMsg) error {
		seqs = append(seqs, m.Sequence)
		return nil
	}); err != nil {
		return fmt.Errorf("kv %s: %w", bucket, err)
	}
	if keepNewest && len(seqs) > 0 {
		seqs = seqs[:len(seqs)-1]
	}
	for _, seq := range seqs {
		if err := SecureDeleteSeq(ctx, s, seq); err != nil {
			return fmt.Errorf("kv %s: %w", bucket, err)
		}
	}
	return nil
}

// ErasableKeyValue creates or updates a KV bucket the way nats.go's CreateOrUpdateKeyValue
// does, except that its stream allows message deletes, without which SecureDropHistory and
// SecureDeleteKey cannot overwrite anything. A bucket nats.go created already denies
// deletes for good (the server refuses to lift DenyDelete): it must be deleted and created
// again with this function, and this returns an error saying so.
func ErasableKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	history := int64(max(cfg.History, 1))
	dup := 2 * time.Minute
	if cfg.TTL > 0 && cfg.TTL < dup {
		dup = cfg.TTL
	}
	sc := jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Description:       cfg.Description,
		Subjects:          []string{"$KV." + cfg.Bucket + ".>", flushSubjects("KV_" + cfg.Bucket)},
		MaxMsgsPerSubject: history,
		MaxBytes:          -1,
		MaxAge:            cfg.TTL,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           cfg.Storage,
		Replicas:          max(cfg.Replicas, 1),
		AllowRollup:       true,
		Duplicates:        dup,
		// Direct gets only with one replica: with several, a KV Get may be answered by a
		// lagging replica, and a do-not-contact marker or a consent record read there
		// would be missed (see the CRM stream in setup.go).
		AllowDirect: max(cfg.Replicas, 1) == 1,
		Discard:     jetstream.DiscardNew,
		Metadata:    cfg.Metadata,
	}
	if cfg.MaxBytes > 0 {
		sc.MaxBytes = cfg.MaxBytes
	}
	if cfg.MaxValueSize > 0 {
		sc.MaxMsgSize = cfg.MaxValueSize
	}
	if cfg.Compression {
		sc.Compression = jetstream.S2Compression
	}
	if s, err := js.Stream(ctx, sc.Name); err == nil && s.CachedInfo().Config.DenyDelete {
		return nil, fmt.Errorf("kv %s was created denying deletes: delete it and create it again with ErasableKeyValue: %w", cfg.Bucket, ErrDeleteDenied)
	}
	if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
		return nil, fmt.Errorf("kv %s: %w", cfg.Bucket, err)
	}
	return js.KeyValue(ctx, cfg.Bucket)
}
