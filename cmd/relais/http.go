package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relais-bot/relais/events"
)

// health collects readiness checks; the process is ready when every check passes and
// nothing is being waited for.
type health struct {
	mu     sync.Mutex
	checks map[string]func(context.Context) error
	// waits says, per part (nats, redis, a role), what it is waiting for: a server that is
	// unreachable or failing over, a role restarting.
	waits map[string]string
	ready bool // set once every role has started
}

func newHealth() *health {
	return &health{checks: map[string]func(context.Context) error{}, waits: map[string]string{}}
}

func (h *health) add(name string, check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

func (h *health) setReady(v bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = v
}

// wait records what a part is waiting for; /readyz shows it until done.
func (h *health) wait(part, status string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waits[part] = status
}

// doneIf is done when the part still waits for status, and not for something newer.
func (h *health) doneIf(part, status string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waits[part] == status {
		delete(h.waits, part)
	}
}

// status runs every check; it never reports details that could hold personal data.
func (h *health) status(ctx context.Context) (bool, []string, map[string]string) {
	h.mu.Lock()
	ready := h.ready
	checks := make(map[string]func(context.Context) error, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	waiting := make([]string, 0, len(h.waits))
	for _, w := range h.waits {
		waiting = append(waiting, w)
	}
	h.mu.Unlock()
	sort.Strings(waiting)
	out := map[string]string{}
	ok := ready && len(waiting) == 0
	if !ready {
		out["roles"] = "starting"
	}
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := checks[n](cctx)
		cancel()
		if err != nil {
			ok = false
			out[n] = err.Error()
		} else {
			out[n] = "ok"
		}
	}
	return ok, waiting, out
}

// retry runs step until it succeeds, waiting longer after each failure (up to maxWait),
// while /readyz says what part waits for. It gives up only when ctx ends or step fails in a
// way no retry can fix (see permanent).
func (h *health) retry(ctx context.Context, log *slog.Logger, part, what string, step func(context.Context) error) error {
	status := part + ": " + what
	h.wait(part, status)
	defer func() { h.doneIf(part, status) }()
	for attempt := uint64(1); ; attempt++ {
		err := step(ctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %s: %w", part, what, ctx.Err())
		case permanent(err):
			return err
		}
		d := events.Backoff(attempt, retryBase, retryMax)
		status = fmt.Sprintf("%s: %s (attempt %d): %s", part, what, attempt, err.Error())
		h.wait(part, status)
		log.Warn("waiting: "+part+": "+what, "attempt", attempt, "retry_in", d.Round(time.Millisecond).String(), "err", err.Error())
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %s: %w", part, what, ctx.Err())
		case <-t.C:
		}
	}
}

// Start-up steps are retried after retryBase, doubling up to retryMax: a server back after an
// outage is seen within retryMax.
var (
	retryBase = 250 * time.Millisecond
	retryMax  = 15 * time.Second
)

// permanent says err is the operator's to fix: retrying cannot help.
func permanent(err error) bool {
	var ce *ConfigError
	var ue usageError
	var fe fatalError
	return errors.As(err, &ce) || errors.As(err, &ue) || errors.As(err, &fe)
}

// fatalError is a start-up failure of something local (a file, a port) that retrying will
// not fix.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

// newHTTPHandler serves /healthz (alive), /readyz (every check passes, nothing waited for)
// and /metrics; roles mount extra routes (the Telegram webhook) once they are built.
func newHTTPHandler(h *health, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, waiting, detail := h.status(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		body := map[string]any{"ready": ok, "checks": detail}
		if len(waiting) > 0 {
			body["waiting"] = waiting
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// handle mounts a route; a pattern the mux refuses is an error, not a panic.
func handle(mux *http.ServeMux, pattern string, handler http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("route %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, handler)
	return nil
}

// serveHTTP listens on addr until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, addr string, handler http.Handler) (net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), done, nil
}
