package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// measureRSS measures the bridge's memory the way an operator sees it: a separate
// `relais run --roles=bridge` process (this binary) on the bench's servers and namespace, fed
// the workload up to each checkpoint; once its consumer has drained, its VmRSS and VmHWM are
// read from /proc and its Go heap from its own /metrics. The bench process, which holds the
// workload (and the embedded servers), is not measured.
func measureRSS(ctx context.Context, env *Env, o Options, say func(string, ...any)) (*benchRSS, error) {
	names, pub, err := env.setup(ctx, "S")
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench rss: %w", err)
	}
	addr, err := benchFreeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(env.dataDir, "rss")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bench rss: %w", err)
	}
	// A clean environment: nothing of the operator's .env or variables (a CRM token, another
	// namespace) reaches the child.
	cmd := exec.Command(exe, "run", "--roles=bridge", "--env-file", filepath.Join(dir, "none.env"))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"RELAIS_DATA_DIR=" + dir, "RELAIS_SECRET=" + env.secret, "RELAIS_NAMESPACE=" + env.run + "S",
		"RELAIS_HTTP_ADDR=" + addr, "RELAIS_SYNC_POLICY=notice", "RELAIS_LOG_LEVEL=warn",
		"RELAIS_LEADER_MIN_PEOPLE=" + strconv.Itoa(o.LeaderMinPeople),
		"NATS_URL=" + env.natsURL, "REDIS_URL=" + env.redisURL,
	}
	logs := &benchTail{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench rss: start bridge: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return <-exited
		}
	}
	defer func() { _ = stop() }()
	childCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	go func() {
		select {
		case err := <-exited:
			exited <- err // for stop
			fail(fmt.Errorf("bench rss: bridge process exited (%v): %s", err, logs.String()))
		case <-childCtx.Done():
		}
	}()
	if err := benchWaitReady(childCtx, "http://"+addr+"/readyz"); err != nil {
		return nil, err
	}

	w := o.workload(o.RSSEvents[len(o.RSSEvents)-1])
	out := &benchRSS{Method: "child process `relais run --roles=bridge`: /proc/<pid>/status VmRSS and VmHWM, Go heap from its /metrics"}
	done := 0
	for _, n := range o.RSSEvents {
		n = min(n, len(w.Events))
		start := time.Now()
		if err := benchPublish(childCtx, env.js, pub, w.Events[done:n]); err != nil {
			return nil, err
		}
		if err := benchWaitDrained(childCtx, env.js, names.EventsStream(), names.BridgeConsumer(), nil); err != nil {
			return nil, err
		}
		p := rssPoint{Events: n, EventsPerS: benchPerSecond(n-done, time.Since(start))}
		done = n
		if p.RSSBytes, p.PeakBytes, err = benchProcMemory(cmd.Process.Pid); err != nil {
			return nil, err
		}
		if p.HeapBytes, err = benchScrapeGauge(childCtx, "http://"+addr+"/metrics", "go_memstats_heap_inuse_bytes"); err != nil {
			return nil, err
		}
		if keys, err := benchScanKeys(ctx, env.rdb, env.keyPrefix("S")+"*"); err == nil {
			p.RedisKeys = int64(len(keys))
		}
		say("   %d events: RSS %s, Go heap %s", n, benchMiB(p.RSSBytes), benchMiB(p.HeapBytes))
		out.Points = append(out.Points, p)
	}
	fail(nil) // the child's exit from here on is ours
	if err := stop(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return nil, fmt.Errorf("bench rss: stop bridge: %w", err)
		}
	}
	first, last := out.Points[0], out.Points[len(out.Points)-1]
	out.Growth = rssGrowth{RSSBytes: last.RSSBytes - first.RSSBytes, HeapBytes: last.HeapBytes - first.HeapBytes}
	if d := last.Events - first.Events; d > 0 {
		out.Growth.RSSBytesPer100k = float64(out.Growth.RSSBytes) / float64(d) * 100000
	}
	return out, nil
}

func benchFreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench rss: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func benchWaitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("bench rss: bridge not ready after a minute")
}

// benchProcMemory reads a process's resident set and its peak from /proc (Linux).
func benchProcMemory(pid int) (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bench rss: needs Linux /proc: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bench rss: %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak, sc.Err()
}

// benchScrapeGauge reads one unlabelled metric from a Prometheus text exposition.
func benchScrapeGauge(ctx context.Context, url, metric string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench rss: metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), metric+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("bench rss: %s: %w", metric, err)
			}
			return int64(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("bench rss: metrics: %w", err)
	}
	return 0, fmt.Errorf("bench rss: no %s in /metrics", metric)
}

// benchTail keeps the last max bytes written: the child's logs, shown if it dies.
type benchTail struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *benchTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *benchTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(t.buf.String())
}
