package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildRelais compiles the real binary once per test run.
// buildRelais returns the relais binary, built once for the whole test run: linking it
// takes seconds, and every test of the binary used to link its own.
func buildRelais(t *testing.T) string {
	t.Helper()
	testBinary.once.Do(func() {
		bin := filepath.Join(testBinary.dir, "relais")
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			testBinary.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		testBinary.path = bin
	})
	if testBinary.err != nil {
		t.Fatal(testBinary.err)
	}
	return testBinary.path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	low := ephemeralLow()
	for range 1000 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(low-10000)))
		if err != nil {
			continue
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return ""
}

// ephemeralLow is where the kernel starts picking ports for outgoing connections. A port
// picked below it cannot be taken by a client socket between the moment a test picks it and
// the moment a server binds it (seen in the cluster test: "address already in use").
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 30000 {
				return n
			}
		}
	}
	return 32768
}

// process is a started relais whose stderr is captured.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

// embeddedEnv is the test process's environment without the servers CI points tests at
// (NATS_URL, REDIS_URL) nor any RELAIS_ setting, then env: relais on embedded servers, as on a
// machine with nothing installed.
func embeddedEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "RELAIS_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

func startRelais(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = embeddedEnv(env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

func (p *process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func waitReady(t *testing.T, p *process, addr string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"ready":true`) {
				return time.Since(start)
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("relais exited before ready: %v\n%s", err, p.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("not ready within %s\n%s", within, p.Logs())
	return 0
}

func stopRelais(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, p.Logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30s after SIGINT\n%s", p.Logs())
	}
}

func TestRunReadyStopAndRestart(t *testing.T) {
	bin := buildRelais(t)
	dataDir := t.TempDir()
	var secretBefore []byte
	for i := range 2 {
		addr := freeAddr(t)
		p := startRelais(t, bin, []string{"RELAIS_DATA_DIR=" + dataDir, "RELAIS_HTTP_ADDR=" + addr}, "run")
		took := waitReady(t, p, addr, 10*time.Second)
		t.Logf("start %d: ready in %s", i+1, took.Round(time.Millisecond))
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "go_goroutines") {
			t.Fatalf("metrics lack go_goroutines")
		}
		stopRelais(t, p)
		secret, err := os.ReadFile(filepath.Join(dataDir, "secret"))
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := os.Stat(filepath.Join(dataDir, "secret")); info.Mode().Perm() != 0o600 {
			t.Fatalf("secret mode %v, want 0600", info.Mode().Perm())
		}
		if i == 1 && string(secret) != string(secretBefore) {
			t.Fatal("the second start generated a new secret")
		}
		secretBefore = secret
		if strings.Contains(p.Logs(), strings.TrimSpace(string(secret))) {
			t.Fatal("the secret appears in the logs")
		}
		if strings.Contains(p.Logs(), `"level":"ERROR"`) {
			t.Fatalf("errors logged:\n%s", p.Logs())
		}
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	bin := buildRelais(t)
	p := startRelais(t, bin, []string{"RELAIS_ACTIVE_MIN_DAYS=abc"}, "run")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if !asExit(err, &ee) || ee.ExitCode() != exitUsage {
			t.Fatalf("exit: %v, want code 2", err)
		}
	case <-ctx.Done():
		t.Fatal("relais did not exit on a bad config")
	}
	if got := strings.TrimSpace(p.Logs()); !strings.Contains(got, "RELAIS_ACTIVE_MIN_DAYS") || strings.Count(got, "\n") != 0 {
		t.Fatalf("want one line naming the variable, got %q", got)
	}
}

func asExit(err error, target **exec.ExitError) bool { return errors.As(err, target) }
