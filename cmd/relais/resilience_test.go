package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/events/eventstest"
)

// readyz is one answer of /readyz: its status, and what it says is waited for.
type readyz struct {
	code    int
	ready   bool
	waiting []string
	body    string
}

func getReadyz(addr string) (readyz, error) {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return readyz{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return readyz{}, err
	}
	var body struct {
		Ready   bool     `json:"ready"`
		Waiting []string `json:"waiting"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return readyz{}, err
	}
	return readyz{code: resp.StatusCode, ready: body.Ready, waiting: body.Waiting, body: string(raw)}, nil
}

// waitWaitingFor waits until /readyz answers 503 saying it waits for want, and returns
// that answer; it fails the test if relais exits or says so nowhere within the time.
func waitWaitingFor(t *testing.T, p *process, addr, want string, within time.Duration) readyz {
	t.Helper()
	deadline := time.Now().Add(within)
	var last readyz
	for time.Now().Before(deadline) {
		if r, err := getReadyz(addr); err == nil {
			last = r
			for _, w := range r.waiting {
				if strings.Contains(w, want) && r.code == http.StatusServiceUnavailable && !r.ready {
					return r
				}
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("relais exited while waiting for %q: %v\n%s", want, err, p.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("/readyz never said it waits for %q; last: %d %s\n%s", want, last.code, last.body, p.Logs())
	return last
}

// waitAnswered waits until the fake Bot API was asked to send something to chat.
func waitAnswered(t *testing.T, p *process, bot *tgtest.Server, chat int64, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, m := range bot.Sent() {
			if m.ChatID == chat {
				return m.Text
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no answer to chat %d within %s\n%s", chat, within, p.Logs())
	return ""
}

// checkNoPanic fails the test when the logs show a panic or a stack.
func checkNoPanic(t *testing.T, logs string) {
	t.Helper()
	for _, sign := range []string{"panic", "goroutine ", "nil pointer"} {
		if strings.Contains(logs, sign) {
			t.Fatalf("%q in the logs:\n%s", sign, logs)
		}
	}
}

// A relais started while its servers are not there yet waits for them, says so on /readyz,
// and once they come up answers what was asked meanwhile: nothing was lost, nothing
// panicked. The servers come up on the address relais was given, as after an outage.
func TestRunWaitsForItsServers(t *testing.T) {
	bin := buildRelais(t)
	tests := []struct {
		name string
		// env points relais at addr, where nothing listens yet.
		env func(addr string) []string
		// waitsFor is what /readyz must say before the server is up.
		waitsFor string
		// up starts the server on addr.
		up func(t *testing.T, addr string)
	}{{
		name:     "nats",
		env:      func(addr string) []string { return []string{"NATS_URL=nats://" + addr} },
		waitsFor: "nats: connecting",
		up: func(t *testing.T, addr string) {
			srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: addr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Shutdown)
		},
	}, {
		name:     "redis",
		env:      func(addr string) []string { return []string{"REDIS_URL=redis://" + addr} },
		waitsFor: "redis: connecting",
		up: func(t *testing.T, addr string) {
			m := miniredis.NewMiniRedis()
			if err := m.StartAddr(addr); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bot := tgtest.New(t)
			someone := tgtest.User{ID: 8101, FirstName: "Alice", LastName: "Durand"}
			bot.Text(tgtest.Private(someone), someone, "/aide")

			serverAddr, httpAddr := freeAddr(t), freeAddr(t)
			env := append(tc.env(serverAddr),
				"RELAIS_DATA_DIR="+t.TempDir(), "RELAIS_HTTP_ADDR="+httpAddr,
				"TELEGRAM_TOKEN="+bot.Token(), "TELEGRAM_API_ENDPOINT="+bot.Endpoint())
			p := startRelais(t, bin, env, "run")
			r := waitWaitingFor(t, p, httpAddr, tc.waitsFor, 30*time.Second)
			t.Logf("before %s is up, /readyz: %s", tc.name, strings.TrimSpace(r.body))

			tc.up(t, serverAddr)
			took := waitReady(t, p, httpAddr, 60*time.Second)
			t.Logf("ready %s after %s came up", took.Round(time.Millisecond), tc.name)
			if answer := waitAnswered(t, p, bot, someone.ID, 30*time.Second); answer == "" {
				t.Fatal("empty answer")
			}
			stopRelais(t, p)
			logs := p.Logs()
			checkNoPanic(t, logs)
			for _, personal := range []string{"Alice", "Durand"} {
				if strings.Contains(logs, personal) {
					t.Fatalf("personal data %q in the logs:\n%s", personal, logs)
				}
			}
		})
	}
}

// Stopped while it waits for a server that never comes, relais exits 0 without a panic:
// the runtime it was opening is closed half-open.
func TestRunStopsCleanlyWhileWaiting(t *testing.T) {
	bin := buildRelais(t)
	tests := []struct {
		name     string
		env      func(addr string) []string
		waitsFor string
		signal   syscall.Signal
	}{
		{"nats, SIGTERM", func(a string) []string { return []string{"NATS_URL=nats://" + a} }, "nats: connecting (attempt", syscall.SIGTERM},
		{"redis, SIGINT", func(a string) []string { return []string{"REDIS_URL=redis://" + a} }, "redis: connecting (attempt", syscall.SIGINT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			httpAddr := freeAddr(t)
			env := append(tc.env(freeAddr(t)), "RELAIS_DATA_DIR="+t.TempDir(), "RELAIS_HTTP_ADDR="+httpAddr)
			p := startRelais(t, bin, env, "run")
			waitWaitingFor(t, p, httpAddr, tc.waitsFor, 30*time.Second)
			if err := p.cmd.Process.Signal(tc.signal); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-p.done:
				if err != nil {
					t.Fatalf("exit: %v\n%s", err, p.Logs())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no exit 30s after %s\n%s", tc.signal, p.Logs())
			}
			logs := p.Logs()
			checkNoPanic(t, logs)
			if !strings.Contains(logs, `"msg":"waiting: `+strings.TrimSuffix(tc.waitsFor, " (attempt")) {
				t.Errorf("the wait is not logged:\n%s", logs)
			}
			for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
				if !strings.HasPrefix(l, "{") {
					t.Errorf("a line that is not a log record: %q", l)
				}
			}
		})
	}
}

// Every start-up failure that waiting cannot fix ends relais with a one-line reason and the
// exit code its kind calls for (2: the configuration; 1: something on this machine), and no
// panic.
func TestRunStartupErrorsExit(t *testing.T) {
	bin := buildRelais(t)
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// dataDirWith is a data dir where name is a directory where relais expects a file, or
	// the reverse.
	dataDirWith := func(name string, asDir bool) string {
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		if asDir {
			err = os.Mkdir(path, 0o700)
		} else {
			err = os.WriteFile(path, []byte("x"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name string
		env  []string
		code int
		want string
	}{
		{"bad NATS_URL scheme", []string{"NATS_URL=http://127.0.0.1:4222"}, exitUsage, "NATS_URL"},
		{"bad REDIS_URL database", []string{"REDIS_URL=redis://127.0.0.1:6379/notadb"}, exitUsage, "REDIS_URL"},
		{"bad REDIS_URL port", []string{"REDIS_URL=redis://127.0.0.1:port/0"}, exitUsage, "REDIS_URL"},
		{"replicas on the embedded server", []string{"RELAIS_NATS_REPLICAS=3"}, exitUsage, "RELAIS_NATS_REPLICAS"},
		{"webhook path the mux refuses", []string{"TELEGRAM_WEBHOOK_URL=https://bot.example.org/{x", "TELEGRAM_WEBHOOK_SECRET=s"}, exitUsage, "TELEGRAM_WEBHOOK_URL"},
		{"data dir under a file", []string{"RELAIS_DATA_DIR=" + filepath.Join(file, "data")}, exitFailure, "data dir"},
		{"secret is a directory", []string{"RELAIS_DATA_DIR=" + dataDirWith("secret", true)}, exitFailure, "secret"},
		{"embedded NATS store is a file", []string{"RELAIS_DATA_DIR=" + dataDirWith("nats", false)}, exitFailure, "embedded nats"},
		{"local CRM is a directory", []string{"RELAIS_DATA_DIR=" + dataDirWith("crm.db", true)}, exitFailure, "crm local"},
		{"whatsapp not paired", []string{"WHATSAPP_ENABLED=true"}, exitFailure, "not paired"},
		{"HTTP address taken", []string{"RELAIS_HTTP_ADDR=" + busy.Addr().String()}, exitFailure, "http listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + freeAddr(t)}
			p := startRelais(t, bin, append(env, tc.env...), "run")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			select {
			case err := <-p.done:
				var ee *exec.ExitError
				if !asExit(err, &ee) || ee.ExitCode() != tc.code {
					t.Fatalf("exit: %v, want code %d\n%s", err, tc.code, p.Logs())
				}
			case <-ctx.Done():
				t.Fatalf("relais did not exit\n%s", p.Logs())
			}
			logs := p.Logs()
			checkNoPanic(t, logs)
			// Logs are JSON lines; the reason is the one plain line, and the last.
			var plain []string
			for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
				if !strings.HasPrefix(l, "{") {
					plain = append(plain, l)
				}
			}
			if len(plain) != 1 || !strings.HasPrefix(plain[0], "relais: ") || !strings.Contains(plain[0], tc.want) {
				t.Fatalf("want one line \"relais: ...%s...\", got %q", tc.want, plain)
			}
			if !strings.HasSuffix(strings.TrimSpace(logs), plain[0]) {
				t.Fatalf("the reason is not the last line:\n%s", logs)
			}
		})
	}
}

// relais run on a three-server cluster replicates every stream and bucket three times
// without being told (given one server's address, it learns the others), or as many times
// as RELAIS_NATS_REPLICAS says.
func TestRunReplicatesOnACluster(t *testing.T) {
	bin := buildRelais(t)
	cluster, err := embedded.StartCluster(embedded.ClusterOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Shutdown)
	nc, err := nats.Connect(cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	one := strings.Split(cluster.URL(), ",")[0]
	// relais guesses the replicas from the servers the one it connects to advertises: wait
	// until that server advertises the whole cluster (its routes and their gossip settle a
	// moment after the servers are up; seen in CI as "2 replicas, want 3").
	deadline := time.Now().Add(30 * time.Second)
	for {
		probe, err := nats.Connect(one)
		if err != nil {
			t.Fatal(err)
		}
		n := events.ClusterReplicas(probe)
		probe.Close()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s advertises a cluster of %d servers, want 3", one, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tests := []struct {
		name string
		env  []string
		want int
	}{
		{"default, one address", []string{"NATS_URL=" + one}, 3},
		{"chosen", []string{"NATS_URL=" + cluster.URL(), "RELAIS_NATS_REPLICAS=2"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The advertised servers can still change after the wait above (CI under load saw
			// "2 replicas, want 3" again; the routes' gossip is the likely cause). A guess too
			// low only costs redundancy, as the README says; the test wants relais to have
			// learnt the whole cluster from one address at least once in three fresh starts.
			var problems []string
			var p *process
			for range 3 {
				if p, problems = runAndReadReplicas(t, bin, js, tc.env, tc.want); len(problems) == 0 {
					break
				}
				t.Logf("retrying: %v", problems)
			}
			for _, pr := range problems {
				t.Error(pr)
			}
			if !strings.Contains(p.Logs(), fmt.Sprintf(`"replicas":%d`, tc.want)) {
				t.Errorf("the replicas are not logged:\n%s", p.Logs())
			}
		})
	}
}

// runAndReadReplicas starts relais (crm role) in a fresh namespace with env, stops it once
// ready, and returns what differs from want in the replicas of its streams and buckets.
func runAndReadReplicas(t *testing.T, bin string, js jetstream.JetStream, env []string, want int) (*process, []string) {
	t.Helper()
	ns := eventstest.UniquePrefix()
	names, err := events.NewNames(ns)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	env = append([]string{"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + addr, "RELAIS_NAMESPACE=" + ns}, env...)
	p := startRelais(t, bin, env, "run", "--roles=crm")
	waitReady(t, p, addr, 60*time.Second)
	stopRelais(t, p)
	var problems []string
	for _, name := range []string{names.EventsStream(), names.CRMStream(), names.DLQStream(), names.RepliesStream(),
		"KV_" + names.ConsentBucket(), "KV_" + names.LocksBucket(), "KV_" + names.CRMRefsBucket()} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := s.CachedInfo().Config.Replicas; got != want {
			problems = append(problems, fmt.Sprintf("%s has %d replicas, want %d", name, got, want))
		}
	}
	return p, problems
}
