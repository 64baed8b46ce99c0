package digest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// The weekly digest is sent once per organiser and week whatever the replicas, and never
// lost: a replica takes a short lease on it, builds it, checks the lease is still its own,
// publishes it, and only then records it sent. A failure (the platform not saying, NATS
// refusing the publish) releases the lease and is retried later that week; a replica that
// dies holding the lease leaves it to expire, and whoever finds it stale takes over.
const (
	// digestLease is how long a claim holds off the other replicas: longer than building a
	// digest takes, short enough that a replica killed mid-way delays it little.
	digestLease = 2 * time.Minute
	// digestRetryFirst and digestRetryMax bound the backoff between attempts of one digest.
	digestRetryFirst = 15 * time.Second
	digestRetryMax   = 30 * time.Minute
	// digestPatience is how long a digest waits for a scope the platform cannot complete;
	// past it, or near the week's end, it goes out saying which groups are missing rather
	// than not at all.
	digestPatience = 6 * time.Hour
	digestLastCall = time.Hour
)

// ErrScopeIncomplete is a digest put off because the platform did not answer for a group.
var ErrScopeIncomplete = errors.New("digest: scope incomplete, retried later")

// Recipient is one organiser or admin as the weekly digest reaches them.
type Recipient struct {
	Platform events.Platform
	ID       string // the allowlist entry: Telegram user id, WhatsApp phone
	Chat     string // where to write to them privately
	ScopeID  string // how the platform's membership check knows them
	Phone    string // WhatsApp: their phone, E.164
	Admin    bool
}

// Builder writes one recipient's digest of a week; send is false when their scope holds
// nothing to report. While patient, an incomplete scope is ErrScopeIncomplete.
type Builder interface {
	BuildWeekly(ctx context.Context, r Recipient, who, week string, now time.Time, patient bool) (reply events.Reply, send bool, err error)
}

// Weekly sends the weekly digests: it owns the leases and "sent" records in the digest
// bucket and what this process remembers of the week.
type Weekly struct {
	// Recipients lists organisers and admins once each, in a stable order.
	Recipients func() []Recipient
	Build      Builder
	// Send publishes a digest.
	Send func(ctx context.Context, r events.Reply) error
	// Rebuilding says whether the bridge's state is being rebuilt: a digest then waits.
	Rebuilding func() bool
	Now        func() time.Time
	Log        *slog.Logger

	mem memory
}

// memory is what one process remembers of the week's digests: the ones known sent
// (not asked about again every minute) and the ones to retry, when.
type memory struct {
	mu    sync.Mutex
	week  string
	done  map[string]bool
	retry map[string]digestRetry
}

type digestRetry struct {
	attempts int
	next     time.Time
	since    time.Time // first failure: how long the digest has been put off
}

// forWeek forgets last week's digests once a tick is about a new one. Callers hold mu.
func (m *memory) forWeek(week string) {
	if m.week != week || m.done == nil {
		m.week, m.done, m.retry = week, map[string]bool{}, map[string]digestRetry{}
	}
}

// failed records a failed attempt and returns when to try again.
func (m *memory) failed(key string, now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.retry[key]
	if r.attempts == 0 {
		r.since = now
	}
	r.attempts++
	r.next = now.Add(min(digestRetryFirst<<min(r.attempts-1, 16), digestRetryMax))
	m.retry[key] = r
	return r.next
}

// nextRetry is the earliest retry waiting, zero when none.
func (m *memory) nextRetry() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, r := range m.retry {
		if next.IsZero() || r.next.Before(next) {
			next = r.next
		}
	}
	return next
}

// Tick sends the week's digest to every organiser whose digest is due and was not sent
// yet, by this replica or another. It returns how many this call sent.
func (w *Weekly) Tick(ctx context.Context, kv jetstream.KeyValue, s Schedule, now time.Time) (int, error) {
	slot, due := s.Due(now)
	if !due || w.Rebuilding() {
		return 0, nil // a state being rebuilt would give an empty or partial digest, sent for good
	}
	week := ISOWeek(slot)
	weekEnd := time.Date(slot.Year(), slot.Month(), slot.Day()-(int(slot.Weekday())+6)%7+7, 0, 0, 0, 0, slot.Location())
	w.mem.mu.Lock()
	w.mem.forWeek(week)
	w.mem.mu.Unlock()
	// The tick's clock: now, moved on by the time the tick itself takes, so a lease taken
	// for the last organiser of a long tick is as long as the first one's.
	start := time.Now()
	clock := func() time.Time { return now.Add(time.Since(start)) }
	sent := 0
	var first error
	for _, o := range w.Recipients() {
		now := clock()
		sum := sha256.Sum256([]byte(string(o.Platform) + ":" + o.ID))
		who := hex.EncodeToString(sum[:12])
		key := who + "." + strings.ReplaceAll(week, "-", "")
		w.mem.mu.Lock()
		done, retry := w.mem.done[key], w.mem.retry[key]
		w.mem.mu.Unlock()
		if done || now.Before(retry.next) {
			continue
		}
		// An incomplete scope waits for the platform until patience runs out or the week does.
		patient := retry.attempts == 0 || (now.Sub(retry.since) < digestPatience && weekEnd.Sub(now) > digestLastCall)
		did, err := w.once(ctx, kv, o, who, key, week, clock, patient)
		switch {
		case err != nil:
			next := w.mem.failed(key, now)
			if !errors.Is(err, ErrScopeIncomplete) {
				first = cmp.Or(first, err)
			}
			w.Log.Info("weekly digest put off", "retry_at", next.UTC().Format(time.RFC3339), "err", err.Error())
		case did:
			sent++
		}
	}
	if sent > 0 {
		w.Log.Info("weekly digests sent", "week", week, "count", sent)
	}
	return sent, first
}

// once sends one organiser's digest unless it was sent or another replica holds it.
// did says whether this call sent it; an error means it is still to send.
func (w *Weekly) once(ctx context.Context, kv jetstream.KeyValue, o Recipient, who, key, week string, clock func() time.Time, patient bool) (did bool, err error) {
	sentKey, leaseKey := "sent."+key, "lease."+key
	now := clock()
	markDone := func() {
		w.mem.mu.Lock()
		defer w.mem.mu.Unlock()
		w.mem.done[key] = true
		delete(w.mem.retry, key)
	}
	if sent, err := digestSent(ctx, kv, sentKey); err != nil || sent {
		if sent {
			markDone()
		}
		return false, err
	}
	rev, ok, err := claimDigest(ctx, kv, leaseKey, now)
	if err != nil || !ok {
		return false, err // a live lease: another replica is on it
	}
	release := func() {
		if err := kv.Delete(ctx, leaseKey, jetstream.LastRevision(rev)); err != nil && ctx.Err() == nil {
			w.Log.Warn("digest lease not released: it expires", "err", err.Error())
		}
	}
	// Sent between our first look and our claim, by the replica whose lease we replaced.
	if sent, err := digestSent(ctx, kv, sentKey); err != nil || sent {
		release()
		if sent {
			markDone()
		}
		return false, err
	}
	r, send, err := w.Build.BuildWeekly(ctx, o, who, week, now, patient)
	if err != nil {
		release()
		return false, err
	}
	if send {
		// Still ours? A replica that found our lease stale may be sending it: then we do not.
		if rev, err = kv.Update(ctx, leaseKey, leaseValue(clock()), rev); err != nil {
			return false, fmt.Errorf("digest: lease lost before sending: %w", err)
		}
		if err := w.Send(ctx, r); err != nil {
			release()
			return false, err
		}
	}
	if _, err := kv.Put(ctx, sentKey, []byte(clock().UTC().Format(time.RFC3339))); err != nil {
		// Published but not recorded: this process will not send it again; the lease, left
		// to expire, and the replies' duplicate window keep the others from it.
		markDone()
		return send, fmt.Errorf("digest: record sent: %w", err)
	}
	markDone()
	release()
	return send, nil
}

func digestSent(ctx context.Context, kv jetstream.KeyValue, key string) (bool, error) {
	_, err := kv.Get(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("digest: %w", err)
}

func leaseValue(now time.Time) []byte {
	return []byte(now.Add(digestLease).UTC().Format(time.RFC3339Nano))
}

// claimDigest takes the lease on one digest: free, or stale (its holder died or gave up).
// ok is false when another replica holds it.
func claimDigest(ctx context.Context, kv jetstream.KeyValue, key string, now time.Time) (rev uint64, ok bool, err error) {
	rev, err = kv.Create(ctx, key, leaseValue(now))
	if err == nil {
		return rev, true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return 0, false, fmt.Errorf("digest: claim: %w", err)
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil // released meanwhile: the next tick claims it
	}
	if err != nil {
		return 0, false, fmt.Errorf("digest: claim: %w", err)
	}
	if until, perr := time.Parse(time.RFC3339Nano, string(e.Value())); perr == nil && now.Before(until) {
		return 0, false, nil
	}
	rev, err = kv.Update(ctx, key, leaseValue(now), e.Revision())
	if err != nil {
		return 0, false, nil // another replica took it over first
	}
	return rev, true, nil
}

// Run checks every minute whether the weekly digest is due, sooner when a digest put
// off is to be retried, until ctx ends.
func (w *Weekly) Run(ctx context.Context, kv jetstream.KeyValue, s Schedule) error {
	if s.Off {
		<-ctx.Done()
		return nil
	}
	for {
		if _, err := w.Tick(ctx, kv, s, w.Now()); err != nil && ctx.Err() == nil {
			w.Log.Warn("weekly digest", "err", err.Error())
		}
		wait := time.Minute
		if w.Rebuilding() {
			wait = 5 * time.Second // sent as soon as the state is whole again
		}
		if next := w.mem.nextRetry(); !next.IsZero() {
			wait = min(wait, max(time.Second, next.Sub(w.Now())))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
