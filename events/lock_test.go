package events_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// Short leases keep the tests quick; the proportions are production's (renew = lease / 3).
const (
	testLease = 600 * time.Millisecond
	testRenew = 200 * time.Millisecond
)

func locksBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	env := eventstest.New(t)
	kv, err := env.JS.KeyValue(context.Background(), env.Names.LocksBucket())
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func newTestLock(kv jetstream.KeyValue, instance string) *events.Lock {
	return events.NewLock(kv, "telegram-1", events.LockConfig{Instance: instance, Lease: testLease, Renew: testRenew})
}

// acquireWithin takes l or fails the test after d.
func acquireWithin(t *testing.T, l *events.Lock, d time.Duration) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	if err := l.Acquire(ctx, nil); err != nil {
		t.Fatalf("Acquire: %v after %s", err, time.Since(start))
	}
	return time.Since(start)
}

// stillWaiting checks that l cannot take the lock for d.
func stillWaiting(t *testing.T, l *events.Lock, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	waited := false
	if err := l.Acquire(ctx, func() { waited = true }); !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Fatalf("Acquire while held: err=%v waited=%v, want it to wait", err, waited)
	}
}

// keep runs l.Keep in the background; stop ends it and returns its error.
func keep(l *events.Lock) (stop func() error, lost <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- l.Keep(ctx) }()
	return func() error { cancel(); return <-ch }, ch
}

// TestLockReleaseHandsOver: a released lock is free at once for anyone.
func TestLockReleaseHandsOver(t *testing.T) {
	kv := locksBucket(t)
	first, second := newTestLock(kv, "a"), newTestLock(kv, "b")
	acquireWithin(t, first, time.Second)
	stop, _ := keep(first)
	stillWaiting(t, second, 2*testLease)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := acquireWithin(t, second, time.Second); took > testLease {
		t.Errorf("took %s to take a released lock", took)
	}
}

// TestLockSameInstanceReclaimsAtOnce: a process killed without releasing leaves its lock; the
// same instance restarted takes it back without waiting for the lease.
func TestLockSameInstanceReclaimsAtOnce(t *testing.T) {
	kv := locksBucket(t)
	crashed := newTestLock(kv, "relais-1")
	acquireWithin(t, crashed, time.Second)
	// crashed never renews nor releases: as after a SIGKILL.
	restarted := newTestLock(kv, "relais-1")
	took := acquireWithin(t, restarted, time.Second)
	t.Logf("same instance reclaimed in %s (lease %s)", took, testLease)
	if took >= testLease/2 {
		t.Errorf("same instance waited %s for its own lock", took)
	}
	if ok, err := restarted.Held(context.Background()); !ok || err != nil {
		t.Fatalf("Held = %v, %v after reclaiming", ok, err)
	}
}

// TestLockTakeOverAfterLease: another instance takes a dead holder's lock once the lease has
// passed without a renewal, and not before.
func TestLockTakeOverAfterLease(t *testing.T) {
	kv := locksBucket(t)
	dead := newTestLock(kv, "relais-1")
	acquireWithin(t, dead, time.Second)
	other := newTestLock(kv, "relais-2")
	took := acquireWithin(t, other, 10*testLease)
	t.Logf("other instance took over in %s (lease %s)", took, testLease)
	if took < testLease {
		t.Errorf("took over after %s, before the lease of %s", took, testLease)
	}
	if took > testLease+4*testRenew {
		t.Errorf("took over after %s, far beyond the lease of %s", took, testLease)
	}
}

// TestLockRenewalKeepsIt: while the holder renews, no other instance gets the lock, for many
// leases; when it stops renewing, the other gets it.
func TestLockRenewalKeepsIt(t *testing.T) {
	kv := locksBucket(t)
	holder := newTestLock(kv, "relais-1")
	acquireWithin(t, holder, time.Second)
	stop, _ := keep(holder)
	other := newTestLock(kv, "relais-2")
	stillWaiting(t, other, 5*testLease)
	if err := stop(); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	acquireWithin(t, other, 10*testLease)
	if ok, _ := holder.Held(context.Background()); ok {
		t.Fatal("the first holder still holds the lock the second took")
	}
}

// TestLockCASOneWinner: many processes waiting on a dead holder's lock: exactly one takes it,
// and the rest keep waiting while the winner renews.
func TestLockCASOneWinner(t *testing.T) {
	kv := locksBucket(t)
	dead := newTestLock(kv, "dead")
	acquireWithin(t, dead, time.Second)
	const waiters = 6
	var (
		wins atomic.Int32
		wg   sync.WaitGroup
		mu   sync.Mutex
		stop []func() error
	)
	ctx, cancel := context.WithTimeout(context.Background(), 8*testLease)
	defer cancel()
	for i := range waiters {
		l := newTestLock(kv, string(rune('a'+i)))
		wg.Go(func() {
			if l.Acquire(ctx, nil) == nil {
				wins.Add(1)
				s, _ := keep(l)
				mu.Lock()
				stop = append(stop, s)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, s := range stop {
		if err := s(); err != nil {
			t.Errorf("winner lost its lock: %v", err)
		}
	}
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d processes took the lock, want exactly 1", got)
	}
}

// TestLockSameInstanceTwiceNoPingPong: two live processes misconfigured with one identity do
// not take the lock from each other forever: the displaced one says so and waits.
func TestLockSameInstanceTwiceNoPingPong(t *testing.T) {
	kv := locksBucket(t)
	a := newTestLock(kv, "same")
	acquireWithin(t, a, time.Second)
	_, aLost := keep(a)
	b := newTestLock(kv, "same")
	acquireWithin(t, b, time.Second) // b cannot tell a is alive: it reclaims
	stopB, bLost := keep(b)
	select {
	case err := <-aLost:
		if !errors.Is(err, events.ErrLockLost) {
			t.Fatalf("a's Keep: %v, want ErrLockLost", err)
		}
	case <-time.After(5 * testRenew):
		t.Fatal("a did not notice b took the lock")
	}
	stillWaiting(t, a, 4*testLease) // a no longer reclaims by identity
	select {
	case err := <-bLost:
		t.Fatalf("b lost the lock: %v", err)
	default:
	}
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
}

// failingUpdates is a bucket whose renewals fail after a point, as when the holder loses
// NATS while a replica still reaches it.
type failingUpdates struct {
	jetstream.KeyValue
	fail atomic.Bool
}

func (f *failingUpdates) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if f.fail.Load() {
		return 0, errors.New("nats: timeout")
	}
	return f.KeyValue.Update(ctx, key, value, rev)
}

// TestLockHolderStopsBeforeTakeOver: a holder that cannot renew gives up before another
// process can take its lock: never two holders at once.
func TestLockHolderStopsBeforeTakeOver(t *testing.T) {
	kv := locksBucket(t)
	cut := &failingUpdates{KeyValue: kv}
	holder := events.NewLock(cut, "telegram-1", events.LockConfig{Instance: "relais-1", Lease: testLease, Renew: testRenew})
	acquireWithin(t, holder, time.Second)
	_, lost := keep(holder)
	time.Sleep(2 * testRenew) // a few good renewals
	cut.fail.Store(true)
	var gaveUp time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := <-lost; !errors.Is(err, events.ErrLockLost) {
			t.Errorf("Keep: %v, want ErrLockLost", err)
		}
		gaveUp = time.Now()
	}()
	other := newTestLock(kv, "relais-2")
	acquireWithin(t, other, 10*testLease)
	tookAt := time.Now()
	<-done
	t.Logf("holder gave up %s before the takeover", tookAt.Sub(gaveUp))
	if !gaveUp.Before(tookAt) {
		t.Fatalf("holder gave up at %s, after the other took the lock at %s", gaveUp.Format(time.StampMilli), tookAt.Format(time.StampMilli))
	}
}

// TestLockTakenByIntruder: someone else writing the key makes the holder give up.
func TestLockTakenByIntruder(t *testing.T) {
	kv := locksBucket(t)
	holder := newTestLock(kv, "relais-1")
	acquireWithin(t, holder, time.Second)
	if _, err := kv.Put(context.Background(), "telegram-1", []byte("intruder")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := holder.Keep(ctx); !errors.Is(err, events.ErrLockLost) {
		t.Fatalf("Keep after the key was taken: %v, want events.ErrLockLost", err)
	}
}
