package events

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Limits are the deployment settings the stream definitions depend on.
type Limits struct {
	// Retention is how long the event log keeps events (RELAIS_RETENTION_DAYS). Never shorter
	// than the activity window, or a replay could not rebuild the state.
	Retention time.Duration
	// Duplicates is the window in which a repeated Nats-Msg-Id is dropped: it must cover an
	// adapter restart (Telegram keeps unconfirmed updates 24 h).
	Duplicates time.Duration
	// Replicas of every stream and bucket (RELAIS_NATS_REPLICAS): 1 on a single server, at
	// most the number of JetStream servers of a cluster; 0 means 1.
	Replicas int
	// ReplicasGuessed says Replicas is a default computed from the connection (ClusterReplicas)
	// rather than the operator's choice. Setup then never lowers an existing stream to it (a
	// server down while it was computed would otherwise shrink every stream), and lowers it
	// for a stream the cluster cannot place that many times (the count was too high).
	ReplicasGuessed bool
}

// DefaultLimits match DESIGN.md defaults.
func DefaultLimits() Limits {
	return Limits{Retention: 90 * 24 * time.Hour, Duplicates: 24 * time.Hour, Replicas: 1}
}

// Setup creates or updates every stream and bucket relais uses. It is idempotent: every
// process calls it at start.
func Setup(ctx context.Context, js jetstream.JetStream, n Names, l Limits) error {
	if l.Retention <= 0 {
		return fmt.Errorf("setup: retention must be positive")
	}
	if l.Duplicates <= 0 || l.Duplicates > l.Retention {
		l.Duplicates = min(24*time.Hour, l.Retention)
	}
	replicas := max(l.Replicas, 1)
	plan := &replicaPlan{want: replicas, guessed: l.ReplicasGuessed}
	streams := []jetstream.StreamConfig{{
		Name:        n.EventsStream(),
		Description: "relais group events; erasure purges one member by subject",
		Subjects:    []string{n.EventsFilter()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.Retention,
		Duplicates:  l.Duplicates,
		Replicas:    replicas,
		AllowDirect: true,
	}, {
		Name:              n.CRMStream(),
		Description:       "relais desired contact state, newest per member",
		Subjects:          []string{n.CRMFilter()},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Duplicates:        2 * time.Minute,
		Replicas:          replicas,
		// Direct get only with one replica, which is the leader: with several, nats.go's
		// GetLastMsgForSubject would ask any replica ($JS.API.DIRECT.GET), which may lag,
		// instead of the leader ($JS.API.STREAM.MSG.GET). The bridge and the CRM worker
		// decide on the last change they read: a lagging read makes a conditional publish
		// fail and retry, and a decision to publish nothing (the change kept already looks
		// right) would rest on a change no longer the last. Set per replica count below.
	}, {
		Name:        n.DLQStream(),
		Description: "relais dead letters, reason in the Relais-Reason header",
		Subjects:    []string{n.DLQFilter()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.Retention,
		Duplicates:  2 * time.Minute,
		Replicas:    replicas,
	}, {
		Name:        n.RepliesStream(),
		Description: "relais bot answers waiting for an adapter",
		Subjects:    []string{n.RepliesFilter()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      24 * time.Hour, // an answer a day late helps nobody
		// An hour: a weekly digest published by a replica that died before recording it
		// is published again by another once its lease ran out, under the same id.
		Duplicates: time.Hour,
		Replicas:   replicas,
	}, {
		Name:        n.CampaignsStream(),
		Description: "relais campaign messages waiting for an adapter, one per recipient",
		Subjects:    []string{n.CampaignsFilter()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      7 * 24 * time.Hour, // a call to action a week late helps nobody
		// A confirmation retried within the hour queues nobody twice; past it, the delivery
		// claims in the campaigns bucket still send each recipient at most once.
		Duplicates: time.Hour,
		Replicas:   replicas,
	}}
	for _, cfg := range streams {
		// A subject of its own for flushing its Raft logs after an erasure (raft_flush.go).
		cfg.Subjects = append(cfg.Subjects, flushSubjects(cfg.Name))
		err := plan.apply(ctx, js, cfg.Name, func(r int) error {
			cfg.Replicas = r
			if cfg.Name == n.CRMStream() {
				// Direct gets skip the JetStream API queue, and LastContactChanges reads
				// many members' last changes in one of them (measured with relais bench:
				// under load a leader get waited ~30 ms in that queue).
				cfg.AllowDirect = r == 1
			}
			_, err := js.CreateOrUpdateStream(ctx, cfg)
			return err
		})
		if err != nil {
			return fmt.Errorf("setup stream %s: %w", cfg.Name, err)
		}
	}
	buckets := []jetstream.KeyValueConfig{{
		Bucket:      n.ConsentBucket(),
		Description: "relais consent per member token, history kept",
		History:     16,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}, {
		Bucket:      n.LocksBucket(),
		Description: "relais single-adapter locks",
		TTL:         LockTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}, {
		Bucket:      n.CRMRefsBucket(),
		Description: "relais CRM contact references per member token",
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}, {
		Bucket:      n.HistoryBucket(),
		Description: "relais imported history per group token: dates and counts",
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}, {
		Bucket:      n.CampaignsBucket(),
		Description: "relais campaigns, deliveries and answers per member token",
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}}
	for _, cfg := range buckets {
		err := plan.apply(ctx, js, "KV_"+cfg.Bucket, func(r int) error {
			cfg.Replicas = r
			if cfg.Bucket == n.LocksBucket() || cfg.Bucket == n.HistoryBucket() {
				// Locks hold no personal data: nats.go's own bucket.
				_, err := js.CreateOrUpdateKeyValue(ctx, cfg)
				return err
			}
			// Consent, CRM references and campaign answers must be securely erasable.
			return setupErasable(ctx, js, cfg)
		})
		if err != nil {
			return fmt.Errorf("setup bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}

// replicaPlan chooses the replicas of each stream and bucket Setup creates or updates.
type replicaPlan struct {
	want    int
	guessed bool
}

// apply runs create with the replicas stream should have.
func (p *replicaPlan) apply(ctx context.Context, js jetstream.JetStream, stream string, create func(replicas int) error) error {
	current := 0
	s, err := js.Stream(ctx, stream)
	switch {
	case err == nil:
		current = s.CachedInfo().Config.Replicas
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return err
	}
	return p.place(current, create)
}

// place runs create for a stream that has current replicas (0: none yet). A guessed count
// the cluster cannot place is lowered, for this stream and the ones after it, until it can.
func (p *replicaPlan) place(current int, create func(replicas int) error) error {
	for {
		r := replicasFor(p.want, p.guessed, current)
		err := create(r)
		if err == nil || !p.guessed || p.want <= 1 || !isPlacementError(err) {
			return err
		}
		p.want--
		if replicasFor(p.want, p.guessed, current) == r {
			return err
		}
	}
}

// replicasFor is the replica count of a stream that has current replicas (0: no stream yet)
// when want are asked for.
func replicasFor(want int, guessed bool, current int) int {
	want = max(want, 1)
	if guessed && current > want {
		return current
	}
	return want
}

// isPlacementError says the servers cannot hold that many replicas: too few in the cluster
// (or up), or a server alone.
func isPlacementError(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10005, // JSClusterNoPeersErrF: no suitable peers for placement
		10023, // JSInsufficientResourcesErr
		10074: // JSStreamReplicasNotSupportedErr: replicas > 1 in non-clustered mode
		return true
	}
	return false
}

// MaxReplicas is the most replicas relais asks for by default: three survive one server
// down with a quorum left, and more only cost writes.
const MaxReplicas = 3

// ClusterReplicas is the replica count relais uses when the operator sets none: the number
// of servers in the connected server's cluster, at most MaxReplicas, and 1 for a server
// alone. The cluster is known from the servers it advertises to clients (INFO connect_urls),
// which nats.go keeps with the configured URLs; a count too high is corrected by Setup
// (Limits.ReplicasGuessed), one too low only costs redundancy.
func ClusterReplicas(nc *nats.Conn) int {
	return clusterReplicas(nc.ConnectedClusterName(), nc.Servers())
}

func clusterReplicas(cluster string, servers []string) int {
	if cluster == "" {
		return 1
	}
	hosts := map[string]bool{}
	for _, s := range servers {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			hosts[u.Host] = true
		}
	}
	return min(max(len(hosts), 1), MaxReplicas)
}

// setupErasable creates or updates an erasable bucket. A bucket an earlier version created
// denies deletes for good; it is moved, key by key, through a side bucket into an erasable
// one. The side bucket is written completely before the old one is deleted, and a start
// that finds it resumes from it, so a crash at any point loses no consent.
func setupErasable(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) error {
	side := cfg.Bucket + "_MIGRATION"
	old, err := js.Stream(ctx, "KV_"+cfg.Bucket)
	if err == nil && old.CachedInfo().Config.DenyDelete {
		from, err := js.KeyValue(ctx, cfg.Bucket)
		if err != nil {
			return err
		}
		to, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: side, Storage: cfg.Storage, Replicas: cfg.Replicas})
		if err != nil {
			return err
		}
		if err := copyKeys(ctx, from, to); err != nil {
			return err
		}
		if err := js.DeleteKeyValue(ctx, cfg.Bucket); err != nil {
			return err
		}
	}
	kv, err := ErasableKeyValue(ctx, js, cfg)
	if err != nil {
		return err
	}
	from, err := js.KeyValue(ctx, side)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := copyKeys(ctx, from, kv); err != nil {
		return err
	}
	return js.DeleteKeyValue(ctx, side)
}

// copyKeys puts the current value of every key of from into to.
func copyKeys(ctx context.Context, from, to jetstream.KeyValue) error {
	keys, err := from.ListKeys(ctx)
	if err != nil {
		return err
	}
	for k := range keys.Keys() {
		e, err := from.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := to.Put(ctx, k, e.Value()); err != nil {
			return err
		}
	}
	return nil
}

// LockTTL is how long a single-adapter lock outlives its holder.
const LockTTL = 30 * time.Second

// Teardown deletes every stream and bucket of n. Tests use it; production never calls it.
func Teardown(ctx context.Context, js jetstream.JetStream, n Names) error {
	var first error
	for _, s := range []string{n.EventsStream(), n.CRMStream(), n.DLQStream(), n.RepliesStream(), n.CampaignsStream(), n.JournalStream()} {
		if err := js.DeleteStream(ctx, s); err != nil && first == nil && !isNotFound(err) {
			first = fmt.Errorf("teardown %s: %w", s, err)
		}
	}
	for _, b := range []string{n.ConsentBucket(), n.LocksBucket(), n.CRMRefsBucket(), n.CampaignsBucket(), n.DashboardBucket(), n.DigestBucket(), n.HealthBucket(), n.HistoryBucket()} {
		if err := js.DeleteKeyValue(ctx, b); err != nil && first == nil && !isNotFound(err) {
			first = fmt.Errorf("teardown %s: %w", b, err)
		}
	}
	return first
}

// PurgeMember removes every event and dead letter a member sent: the event-log half of an
// erasure. It returns how many messages were removed.
func PurgeMember(ctx context.Context, js jetstream.JetStream, n Names, member string) (uint64, error) {
	var purged uint64
	purge := func(stream, filter string) error {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return fmt.Errorf("purge %s: %w", stream, err)
		}
		n, err := PurgeSubject(ctx, js, s, filter)
		purged += n
		if err != nil {
			return fmt.Errorf("purge %s: %w", stream, err)
		}
		return nil
	}
	if err := purge(n.EventsStream(), n.MemberEventsFilter(member)); err != nil {
		return purged, err
	}
	for _, f := range n.MemberDLQFilters(member) {
		if err := purge(n.DLQStream(), f); err != nil {
			return purged, err
		}
	}
	return purged, nil
}
