package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a JetStream cluster of in-process servers on loopback ports: what replication
// changes can be tested on one machine without containers.
type Cluster struct {
	servers []*server.Server
}

// ClusterOptions choose the cluster's size and where its servers keep their stores.
type ClusterOptions struct {
	// Dir holds one store directory per server.
	Dir string
	// Size is the number of servers, 3 when zero.
	Size int
	// Name is the cluster name, "relais-test" when empty.
	Name string
	// Ready bounds the wait for every server and for the JetStream meta leader, 30 s when zero.
	Ready time.Duration
}

// StartCluster starts o.Size servers routed to one another and waits until JetStream has a
// meta leader every server follows, so a stream with o.Size replicas can be created at once.
func StartCluster(o ClusterOptions) (*Cluster, error) {
	if o.Size == 0 {
		o.Size = 3
	}
	if o.Size < 1 || o.Size > 9 {
		return nil, fmt.Errorf("embedded cluster: size %d: want 1 to 9", o.Size)
	}
	if o.Name == "" {
		o.Name = "relais-test"
	}
	if o.Ready <= 0 {
		o.Ready = 30 * time.Second
	}
	// JetStream clustering needs every route configured up front, so the route ports are
	// chosen before any server starts.
	ports, err := freePorts(o.Size)
	if err != nil {
		return nil, fmt.Errorf("embedded cluster: %w", err)
	}
	routes := make([]*url.URL, len(ports))
	for i, p := range ports {
		routes[i] = &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))}
	}
	c := &Cluster{}
	for i := range o.Size {
		opts := &server.Options{
			ServerName: fmt.Sprintf("%s-%d", o.Name, i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   filepath.Join(o.Dir, strconv.Itoa(i+1)),
			NoSigs:     true,
			NoLog:      true,
			MaxPayload: 1 << 20,
			Cluster:    server.ClusterOpts{Name: o.Name, Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes,
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("embedded cluster: %w", err)
		}
		go srv.Start()
		c.servers = append(c.servers, srv)
	}
	deadline := time.Now().Add(o.Ready)
	for _, srv := range c.servers {
		if !srv.ReadyForConnections(time.Until(deadline)) {
			c.Shutdown()
			return nil, errors.New("embedded cluster: a server did not start in time")
		}
	}
	if err := c.waitMetaLeader(deadline); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// waitMetaLeader waits for exactly one meta leader that every other server follows.
func (c *Cluster) waitMetaLeader(deadline time.Time) error {
	for time.Now().Before(deadline) {
		leaders, current := 0, 0
		for _, srv := range c.servers {
			if srv.JetStreamIsLeader() {
				leaders++
			}
			if srv.JetStreamIsCurrent() {
				current++
			}
		}
		if leaders == 1 && current == len(c.servers) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("embedded cluster: no jetstream meta leader in time")
}

// URL lists every server's client URL, comma-separated, as NATS_URL takes them.
func (c *Cluster) URL() string {
	urls := make([]string, 0, len(c.servers))
	for _, srv := range c.servers {
		urls = append(urls, srv.ClientURL())
	}
	return strings.Join(urls, ",")
}

// Size is the number of servers.
func (c *Cluster) Size() int { return len(c.servers) }

// Shutdown stops every server and waits until their stores are closed.
func (c *Cluster) Shutdown() {
	for _, srv := range c.servers {
		srv.Shutdown()
	}
	for _, srv := range c.servers {
		srv.WaitForShutdown()
	}
}

// freePorts returns n loopback ports nothing listened on a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
