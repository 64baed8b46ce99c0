package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// health collects readiness checks; the process is ready when every check passes.
type health struct {
	mu     sync.Mutex
	checks map[string]func(context.Context) error
	ready  bool // set once every role has started
}

func newHealth() *health { return &health{checks: map[string]func(context.Context) error{}} }

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

// status runs every check; it never reports details that could hold personal data.
func (h *health) status(ctx context.Context) (bool, map[string]string) {
	h.mu.Lock()
	ready := h.ready
	checks := make(map[string]func(context.Context) error, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	h.mu.Unlock()
	out := map[string]string{}
	ok := ready
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
	return ok, out
}

// newHTTPHandler serves /healthz (alive), /readyz (every check passes) and /metrics; extra
// routes (the Telegram webhook) are mounted by the roles.
func newHTTPHandler(h *health, reg *prometheus.Registry, extra map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, detail := h.status(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ok, "checks": detail})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	for path, handler := range extra {
		mux.Handle(path, handler)
	}
	return mux
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
