package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination several goroutines write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitingNow is what /readyz would list as waited for.
func waitingNow(h *health) []string {
	_, waiting, _ := h.status(context.Background())
	return waiting
}

// A start-up step is retried while it fails for a reason that may pass, with /readyz saying
// what is waited for and the last reason; a reason no retry can fix, or a shutdown, ends it.
func TestHealthRetry(t *testing.T) {
	base, ceiling := retryBase, retryMax
	retryBase, retryMax = time.Millisecond, 4*time.Millisecond
	t.Cleanup(func() { retryBase, retryMax = base, ceiling })
	transient := errors.New("connection refused")
	tests := []struct {
		name string
		// fail says how attempt n (1-based) fails; nil succeeds.
		fail     func(n int) error
		attempts int
		wantErr  error
		// seen is what /readyz listed during the last attempt.
		seen string
	}{
		{"succeeds at once", func(int) error { return nil }, 1, nil, "nats: connecting"},
		{"succeeds at the fourth attempt", func(n int) error {
			if n < 4 {
				return transient
			}
			return nil
		}, 4, nil, "nats: connecting (attempt 3): connection refused"},
		{"configuration error", func(int) error { return &ConfigError{Var: "NATS_URL", Want: "x"} }, 1, &ConfigError{}, "nats: connecting"},
		{"local failure", func(n int) error {
			if n < 2 {
				return transient
			}
			return fatalError{errors.New("disk")}
		}, 2, fatalError{}, "nats: connecting (attempt 1): connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHealth()
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			n := 0
			var seen []string
			err := h.retry(context.Background(), log, "nats", "connecting", func(context.Context) error {
				n++
				seen = waitingNow(h)
				return tc.fail(n)
			})
			if n != tc.attempts {
				t.Errorf("%d attempts, want %d", n, tc.attempts)
			}
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Errorf("err %v", err)
				}
			case *ConfigError:
				if !errors.As(err, &want) {
					t.Errorf("err %v, want a configuration error", err)
				}
			case fatalError:
				if !errors.As(err, &want) {
					t.Errorf("err %v, want a fatal error", err)
				}
			}
			if len(seen) != 1 || seen[0] != tc.seen {
				t.Errorf("/readyz listed %q during the last attempt, want %q", seen, tc.seen)
			}
			if w := waitingNow(h); len(w) != 0 {
				t.Errorf("still waiting for %q after the step ended", w)
			}
			if tc.attempts > 1 && !strings.Contains(logs.String(), "waiting: nats: connecting") {
				t.Errorf("retries not logged:\n%s", logs.String())
			}
		})
	}

	t.Run("shutdown", func(t *testing.T) {
		h := newHealth()
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := h.retry(ctx, slog.New(slog.DiscardHandler), "redis", "connecting", func(context.Context) error {
			if n++; n == 3 {
				cancel()
			}
			return transient
		})
		if !errors.Is(err, context.Canceled) || n != 3 {
			t.Fatalf("after %d attempts: %v, want context.Canceled after 3", n, err)
		}
		if w := waitingNow(h); len(w) != 0 {
			t.Errorf("still waiting for %q after the shutdown", w)
		}
	})
}

// A task that fails, returns early or panics is run again with backoff, logged, and shown
// on /readyz until it has run for a while; a shutdown ends it, however it was doing.
func TestSuperviseRestartsFailedTasks(t *testing.T) {
	failures := []func() error{
		func() error { return errors.New("consumer: nats: timeout") },
		func() error { panic("boom") },
		func() error { return nil },
	}
	tests := []struct {
		name        string
		stableAfter time.Duration
		// want is what /readyz lists once the task runs again for good ("" : nothing).
		want string
	}{
		{"restart shown while recent", time.Hour, "bridge: restarting (attempt 3): stopped on its own"},
		{"restart forgotten once stable", time.Millisecond, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			in := &instance{
				rt:  &runtime{health: newHealth()},
				log: slog.New(slog.NewJSONHandler(&logs, nil)),
				// Fast restarts: the test counts them, it does not time them.
				restartBase: time.Millisecond, restartMax: 4 * time.Millisecond, stableAfter: tc.stableAfter,
			}
			running := make(chan struct{})
			runs := 0
			task := task{name: "bridge", run: func(ctx context.Context) error {
				runs++
				if runs <= len(failures) {
					return failures[runs-1]()
				}
				close(running)
				<-ctx.Done()
				return nil
			}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				in.supervise(ctx, task)
			}()
			select {
			case <-running:
			case <-time.After(30 * time.Second):
				t.Fatalf("the task did not run again after its failures\n%s", logs.String())
			}
			deadline := time.Now().Add(30 * time.Second)
			var got string
			for {
				got = strings.Join(waitingNow(in.rt.health), "|")
				if got == tc.want || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if got != tc.want {
				t.Errorf("/readyz waits for %q, want %q", got, tc.want)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("supervise did not return after the shutdown")
			}
			if runs != len(failures)+1 {
				t.Errorf("%d runs, want %d", runs, len(failures)+1)
			}
			l := logs.String()
			for i, want := range []string{"consumer: nats: timeout", "panic: boom", "stopped on its own"} {
				line := fmt.Sprintf(`"attempt":%d`, i+1)
				if !strings.Contains(l, want) || !strings.Contains(l, line) {
					t.Errorf("failure %d (%s) not logged with its attempt:\n%s", i+1, want, l)
				}
			}
			if strings.Count(l, `"msg":"role failed; restarting it"`) != len(failures) {
				t.Errorf("want %d restarts logged:\n%s", len(failures), l)
			}
		})
	}
}

// Closing a runtime that is nil, half-open or closed already does nothing, instead of the
// nil pointer a restart without NATS used to hit.
func TestRuntimeCloseIsSafe(t *testing.T) {
	var nilRT *runtime
	nilRT.Close()
	(&runtime{}).Close()
	closed := 0
	rt := &runtime{closers: &closers{}}
	rt.addCloser(func() { closed++ })
	rt.Close()
	rt.Close()
	if closed != 1 {
		t.Fatalf("closed %d times, want 1", closed)
	}
}
