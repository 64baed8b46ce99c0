package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrLockLost means another process took the lock, or it could not be renewed in time: the
// holder must stop what the lock guards (a second poller makes Telegram answer 409 to both;
// a second WhatsApp session replaces the first).
var ErrLockLost = errors.New("lock lost")

// LockLease is how long a holder may go without renewing before another process takes its
// lock over: a replica replaces a dead adapter within about this long.
const LockLease = 6 * time.Second

// LockRenew is how often a holder renews its lock, and half of it how often a waiter looks:
// three renewals per lease, so one lost renewal changes nothing.
const LockRenew = 2 * time.Second

// maxLease bounds what a holder's value may claim, so a damaged value cannot park a lock.
const maxLease = 5 * time.Minute

// The lease is not the bucket's TTL. The locks bucket's TTL (LockTTL) is a stream MaxAge:
// every renewal writes a new message, so the key lives on while renewed, but a dead holder's
// key disappears only a whole TTL later. A per-key TTL (KeyTTL) needs LimitMarkerTTL on the
// bucket, counts whole seconds, and nats.go's Update sends none, so the first renewal would
// drop it. So the lease is observed instead: a waiter remembers the key's revision and when it
// first saw it; a revision unchanged for a whole lease means a holder that stopped renewing,
// and the waiter takes the key by compare-and-swap on that very revision. No clock is
// compared across machines, and of several waiters one wins; a holder that renewed meanwhile
// makes the swap fail. The holder, for its part, gives up once it has not renewed for a
// lease minus a margin, counted from when it sent its last successful renewal, which is
// before any waiter can have seen it: the old holder stops before a new one starts. The
// bucket's TTL stays as what frees keys nobody looks at any more.

// lockHolder is the value of a lock key. It names no person: an instance is an operator's
// name for a process (RELAIS_INSTANCE) or a random one kept in its data dir.
type lockHolder struct {
	// Instance is the process identity: a restart of the same instance reclaims at once.
	Instance string `json:"instance,omitempty"`
	// Process is this run of it (host, pid, random), for operators and to tell runs apart.
	Process string `json:"process"`
	// LeaseMS is how long waiters give this holder without a renewal.
	LeaseMS int64 `json:"lease_ms"`
}

// parseHolder reads a lock value. Values of earlier versions are plain "host/pid/random"
// strings renewed every LockTTL/3 against the bucket's TTL: they are waited out for LockTTL.
func parseHolder(v []byte) lockHolder {
	var h lockHolder
	if err := json.Unmarshal(v, &h); err != nil || h.Process == "" {
		return lockHolder{Process: string(v), LeaseMS: LockTTL.Milliseconds()}
	}
	return h
}

func (h lockHolder) lease() time.Duration {
	return min(max(time.Duration(h.LeaseMS)*time.Millisecond, 0), maxLease)
}

// LockConfig configures a Lock. Zero values take the defaults noted.
type LockConfig struct {
	// Instance is this process's identity (RELAIS_INSTANCE). A process of the same instance
	// takes the lock at once, since it can only be this process restarted after a crash.
	// Empty: no identity, the lock is only ever taken free or from a dead holder.
	Instance string
	// Lease and Renew default to LockLease and LockRenew. Renew must leave room for two
	// renewals in a lease.
	Lease, Renew time.Duration
	Log          *slog.Logger
}

// Lock is a single-holder lock in the locks bucket: one active adapter per Telegram token and
// per WhatsApp session.
type Lock struct {
	kv           jetstream.KeyValue
	key          string
	me           lockHolder
	value        []byte
	lease, renew time.Duration
	log          *slog.Logger

	mu      sync.Mutex
	rev     uint64
	takenAt time.Time // when the write that took the lock was sent
	// displaced: a process of the same instance took the lock from this one while it was
	// alive. Two processes share one identity; if both reclaimed by identity they would take
	// it from each other forever, so this one now waits like any other process.
	displaced bool
}

// NewLock returns the lock key of the locks bucket kv.
func NewLock(kv jetstream.KeyValue, key string, cfg LockConfig) *Lock {
	if cfg.Lease <= 0 {
		cfg.Lease = LockLease
	}
	if cfg.Renew <= 0 {
		cfg.Renew = LockRenew
	}
	cfg.Renew = min(cfg.Renew, cfg.Lease/3)
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	me := lockHolder{
		Instance: cfg.Instance,
		Process:  host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b),
		LeaseMS:  cfg.Lease.Milliseconds(),
	}
	value, _ := json.Marshal(me) // strings and a number: cannot fail
	return &Lock{kv: kv, key: key, me: me, value: value, lease: cfg.Lease, renew: cfg.Renew, log: log.With("lock", key)}
}

// Acquire waits until the lock is this process's and takes it: free, held by an earlier run
// of this instance, or held by a process that stopped renewing for its lease. waiting is
// called once if it has to wait.
func (l *Lock) Acquire(ctx context.Context, waiting func()) error {
	var (
		told    bool
		seenRev uint64
		seenAt  time.Time
	)
	for {
		sent := time.Now()
		e, err := l.kv.Get(ctx, l.key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			rev, err := l.kv.Create(ctx, l.key, l.value)
			if err == nil {
				l.took(rev, sent, "free", lockHolder{})
				return nil
			}
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // another process created it first: look at who
			}
		case err != nil:
			// NATS unreachable: the lock is not ours yet; look again shortly.
		default:
			h := parseHolder(e.Value())
			how := ""
			switch {
			case bytes.Equal(e.Value(), l.value):
				how = "kept" // still ours: an earlier Keep of this process lost touch
			case l.me.Instance != "" && h.Instance == l.me.Instance && !l.isDisplaced():
				how = "reclaimed"
			default:
				if e.Revision() != seenRev {
					seenRev, seenAt = e.Revision(), time.Now()
				} else if time.Since(seenAt) >= max(l.lease, h.lease()) {
					how = "taken over"
				}
			}
			if how != "" {
				rev, err := l.kv.Update(ctx, l.key, l.value, e.Revision())
				if err == nil {
					l.took(rev, sent, how, h)
					return nil
				}
				if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
					continue // renewed or taken meanwhile: look again
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.renew / 2):
		}
	}
}

func (l *Lock) took(rev uint64, sent time.Time, how string, from lockHolder) {
	l.mu.Lock()
	l.rev, l.takenAt = rev, sent
	l.mu.Unlock()
	attrs := []any{"how", how, "instance", l.me.Instance}
	if from.Process != "" {
		attrs = append(attrs, "from_instance", from.Instance, "from_process", from.Process)
	}
	if how == "free" || how == "kept" {
		l.log.Debug("lock taken", attrs...)
	} else {
		l.log.Info("lock taken", attrs...)
	}
}

func (l *Lock) isDisplaced() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.displaced
}

// Keep renews the lock until ctx is done (nil) or the lock is lost (ErrLockLost): someone
// else wrote the key, or renewing failed until the lease, less a margin, ran out. It then
// returns before any other process can take the lock over.
func (l *Lock) Keep(ctx context.Context) error {
	l.mu.Lock()
	okAt := l.takenAt
	l.mu.Unlock()
	wait := l.renew
	for {
		// The margin leaves the caller time to stop what the lock guards.
		deadline := okAt.Add(l.lease - l.renew/2)
		timer := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		sent := time.Now()
		if !sent.Before(deadline) {
			return fmt.Errorf("%w: not renewed for %s", ErrLockLost, sent.Sub(okAt).Round(time.Millisecond))
		}
		rctx, cancel := context.WithTimeout(ctx, min(l.renew/2, deadline.Sub(sent)))
		l.mu.Lock()
		rev := l.rev
		l.mu.Unlock()
		next, err := l.kv.Update(rctx, l.key, l.value, rev)
		cancel()
		switch {
		case err == nil:
			l.mu.Lock()
			l.rev = next
			l.mu.Unlock()
			okAt, wait = sent, l.renew
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
			l.noteTaker(ctx)
			return fmt.Errorf("%w: %w", ErrLockLost, err)
		default:
			wait = l.renew / 4 // NATS hiccup: try again soon, the deadline still holds
		}
	}
}

// noteTaker looks at who took the lock. A process of this same instance means two processes
// share one identity: said once, loudly, and this one stops reclaiming by identity.
func (l *Lock) noteTaker(ctx context.Context) {
	e, err := l.kv.Get(ctx, l.key)
	if err != nil {
		return
	}
	l.noteHolder(e.Value())
}

func (l *Lock) noteHolder(value []byte) {
	h := parseHolder(value)
	if l.me.Instance == "" || h.Instance != l.me.Instance || h.Process == l.me.Process {
		return
	}
	l.mu.Lock()
	first := !l.displaced
	l.displaced = true
	l.mu.Unlock()
	if first {
		l.log.Error("another process runs with this same instance identity and took the lock: give each process its own RELAIS_INSTANCE (or data dir)",
			"instance", l.me.Instance, "other_process", h.Process)
	}
}

// Held reports whether the lock is still this process's, as the bucket says now. A holder
// that finds it is not (Telegram's 409 told it another poller runs) is treated as after a
// lost Keep: displaced by a process of its own instance, it stops reclaiming by identity.
func (l *Lock) Held(ctx context.Context) (bool, error) {
	e, err := l.kv.Get(ctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if bytes.Equal(e.Value(), l.value) {
		return true, nil
	}
	l.noteHolder(e.Value())
	return false, nil
}

// Release frees the lock if it is still ours.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	rev := l.rev
	l.rev = 0
	l.mu.Unlock()
	if rev == 0 {
		return nil
	}
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev)); err != nil {
		return fmt.Errorf("lock release: %w", err)
	}
	return nil
}
