//go:build cluster

package main

// Real servers for the cluster test (go test -tags=cluster -run Cluster ./cmd/relais/): a
// three-node JetStream cluster and a Redis Cluster of three masters with a replica each, all on
// loopback, started from the nats-server and redis-server binaries (NATS_SERVER_BIN,
// REDIS_SERVER_BIN, REDIS_CLI_BIN, or the PATH) so that one node can be SIGKILLed like a
// crashed machine. Every process dies with the test, and with the test binary if it is killed.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// clusterBins are the server binaries the test runs.
type clusterBins struct {
	nats, redis, redisCLI string
}

// findClusterBins finds the binaries; without them the test is skipped, except under CI,
// where a missing binary is a broken pipeline (.ci/run installs them).
func findClusterBins(t *testing.T) clusterBins {
	t.Helper()
	find := func(env, name string) string {
		if p := os.Getenv(env); p != "" {
			return p
		}
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found (set %s): .ci/run installs it", name, env)
			}
			t.Skipf("%s not found (set %s, or run .ci/run, which installs it)", name, env)
		}
		return p
	}
	b := clusterBins{
		nats:     find("NATS_SERVER_BIN", "nats-server"),
		redis:    find("REDIS_SERVER_BIN", "redis-server"),
		redisCLI: find("REDIS_CLI_BIN", "redis-cli"),
	}
	for _, v := range [][]string{{b.nats, "--version"}, {b.redis, "--version"}} {
		out, err := exec.Command(v[0], v[1]).CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", v[0], err, out)
		}
		t.Logf("%s: %s", v[0], strings.TrimSpace(string(out)))
	}
	return b
}

// clusterPorts picks n free loopback ports; with bus, port+10000 is free too (Redis Cluster's
// bus port). The listeners are held until all are chosen, so no port is picked twice.
func clusterPorts(t *testing.T, n int, bus bool) []int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no free loopback ports")
		}
		// Below the ephemeral range, bus port included (see freeAddr).
		p := 10000 + rand.IntN(ephemeralLow()-20001)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		if bus {
			lb, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+10000))
			if err != nil {
				l.Close()
				continue
			}
			held = append(held, lb)
		}
		held = append(held, l)
		ports = append(ports, p)
	}
	return ports
}

// serverProc is one server process; its output goes to a log file shown when the test fails.
type serverProc struct {
	name    string
	bin     string
	args    []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

func (p *serverProc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// The server dies with the test binary, even when a timeout kills it before cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); f.Close() }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// kill sends SIGKILL, as a crash or a pulled plug would end the process, and waits for it.
func (p *serverProc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

func (p *serverProc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// tail is the end of the process's log.
func (p *serverProc) tail(lines int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var all []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// A dead node's peers retry it every second: one line says it.
		if l := sc.Text(); len(all) == 0 || !strings.Contains(l, "Error trying to connect to route") || !strings.Contains(all[len(all)-1], "Error trying to connect to route") {
			all = append(all, l)
		}
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// dumpOnFailure logs the tail of each process's log when the test failed.
func dumpOnFailure(t *testing.T, procs []*serverProc) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range procs {
			t.Logf("--- %s log (tail) ---\n%s", p.name, p.tail(12))
		}
	})
}

// natsCluster is a JetStream cluster of named nodes.
type natsCluster struct {
	dir   string // each node's store under dir/<name>
	nodes []*serverProc
	urls  []string
	names []string
}

// startNATSCluster starts size nodes with JetStream clustering and waits until the cluster
// places a stream on every node.
func startNATSCluster(t *testing.T, bin string, size int) *natsCluster {
	t.Helper()
	dir := t.TempDir()
	ports := clusterPorts(t, 2*size, false)
	c := &natsCluster{dir: dir}
	var routes []string
	for i := range size {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[size+i]))
	}
	for i := range size {
		name := fmt.Sprintf("n%d", i+1)
		store := filepath.Join(dir, name)
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 4GB
}
cluster {
  name: relais-test
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, name, ports[i], store, ports[size+i], strings.Join(routes, ", "))
		confPath := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		p := &serverProc{name: "nats " + name, bin: bin, args: []string{"-c", confPath}, logPath: filepath.Join(dir, name+".log")}
		c.nodes = append(c.nodes, p)
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		c.names = append(c.names, name)
	}
	t.Cleanup(func() {
		for _, p := range c.nodes {
			p.kill()
		}
	})
	dumpOnFailure(t, c.nodes)
	for _, p := range c.nodes {
		p.start(t)
	}
	c.waitReady(t, size, time.Minute)
	return c
}

// URL is NATS_URL for the whole cluster.
func (c *natsCluster) URL() string { return strings.Join(c.urls, ",") }

// node returns the node of a server name.
func (c *natsCluster) node(name string) *serverProc {
	for i, n := range c.names {
		if n == name {
			return c.nodes[i]
		}
	}
	return nil
}

// waitReady waits until a stream with replicas on size nodes can be created: the meta
// leader is elected and knows every peer.
func (c *natsCluster) waitReady(t *testing.T, replicas int, within time.Duration) {
	t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "CLUSTER_PROBE", Subjects: []string{"cluster.probe"},
			Storage: jetstream.MemoryStorage, Replicas: replicas})
		if err == nil {
			err = js.DeleteStream(ctx, "CLUSTER_PROBE")
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats cluster not ready within %s: %v", within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// redisCluster is a Redis Cluster: masters and their replicas, created by redis-cli.
type redisCluster struct {
	dir   string // each node's files under dir/r<i>
	nodes []*serverProc
	addrs []string
}

// startRedisCluster starts masters*(1+replicas) nodes, creates the cluster with redis-cli
// --cluster create, and waits until every slot is served and every replica is in sync.
func startRedisCluster(t *testing.T, bins clusterBins, masters, replicas int) *redisCluster {
	t.Helper()
	dir := t.TempDir()
	n := masters * (1 + replicas)
	ports := clusterPorts(t, n, true)
	c := &redisCluster{dir: dir}
	for i, port := range ports {
		nodeDir := filepath.Join(dir, fmt.Sprintf("r%d", i+1))
		if err := os.MkdirAll(nodeDir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := &serverProc{name: fmt.Sprintf("redis r%d :%d", i+1, port), bin: bins.redis, logPath: filepath.Join(dir, fmt.Sprintf("r%d.log", i+1)), args: []string{
			"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--protected-mode", "no", "--daemonize", "no",
			"--dir", nodeDir, "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			// A dead master's replica takes over after about this long.
			"--cluster-node-timeout", "3000",
		}}
		c.nodes = append(c.nodes, p)
		c.addrs = append(c.addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	t.Cleanup(func() {
		for _, p := range c.nodes {
			p.kill()
		}
	})
	dumpOnFailure(t, c.nodes)
	for _, p := range c.nodes {
		p.start(t)
	}
	for _, a := range c.addrs {
		waitRedisPing(t, a, 20*time.Second)
	}
	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bins.redisCLI, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitHealthy(t, c.addrs, time.Minute)
	return c
}

// URL is REDIS_URL for the cluster: the first node, the others as addr= (cmd/relais/redis.go).
func (c *redisCluster) URL() string {
	var q []string
	for _, a := range c.addrs[1:] {
		q = append(q, "addr="+a)
	}
	return "redis://" + c.addrs[0] + "?" + strings.Join(q, "&")
}

// liveURL is like URL with only the nodes still running.
func (c *redisCluster) liveURL() string {
	live := c.live()
	var q []string
	for _, a := range live[1:] {
		q = append(q, "addr="+a)
	}
	return "redis://" + live[0] + "?" + strings.Join(q, "&")
}

func (c *redisCluster) node(addr string) *serverProc {
	for i, a := range c.addrs {
		if a == addr {
			return c.nodes[i]
		}
	}
	return nil
}

func waitRedisPing(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis %s: no answer within %s: %v", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitHealthy waits until every listed node says the cluster is ok and every replica among
// them has its link to its master up and synced.
func (c *redisCluster) waitHealthy(t *testing.T, addrs []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		if last = redisClusterHealthy(addrs); last == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("redis cluster not healthy within %s: %v", within, last)
}

func redisClusterHealthy(addrs []string) error {
	for _, a := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: a})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := rdb.ClusterInfo(ctx).Result()
		var repl string
		if err == nil {
			repl, err = rdb.Info(ctx, "replication").Result()
		}
		cancel()
		rdb.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster state not ok", a)
		}
		if strings.Contains(repl, "role:slave") &&
			(!strings.Contains(repl, "master_link_status:up") || strings.Contains(repl, "master_sync_in_progress:1")) {
			return fmt.Errorf("%s: replica not in sync", a)
		}
	}
	return nil
}

// slotOwner returns the address of the master serving slot, asking any live node in addrs.
func slotOwner(addrs []string, slot int64) (string, error) {
	var last error
	for _, a := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: a})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		shards, err := rdb.ClusterShards(ctx).Result()
		cancel()
		rdb.Close()
		if err != nil {
			last = err
			continue
		}
		for _, s := range shards {
			for _, r := range s.Slots {
				if r.Start > slot || slot > r.End {
					continue
				}
				for _, n := range s.Nodes {
					if n.Role == "master" && n.Health == "online" {
						return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10)), nil
					}
				}
			}
		}
		last = fmt.Errorf("%s: slot %d not served", a, slot)
	}
	if last == nil {
		last = errors.New("no node to ask")
	}
	return "", last
}

// live is the addresses of the nodes still running.
func (c *redisCluster) live() []string {
	var out []string
	for i, p := range c.nodes {
		if p.running() {
			out = append(out, c.addrs[i])
		}
	}
	return out
}
