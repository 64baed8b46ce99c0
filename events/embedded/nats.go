// Package embedded runs a nats-server with JetStream inside the relais process, for a
// machine with nothing installed and for tests without a NATS_URL.
package embedded

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATS is a running in-process server.
type NATS struct {
	srv  *server.Server
	lock *os.File // held while it runs, with Options.Exclusive
}

// Options choose where the server keeps its store and whether it listens on TCP.
type Options struct {
	Dir string // JetStream file store
	// Listen is "host:port" for a TCP listener ("127.0.0.1:0" for a free port); empty means
	// in-process connections only.
	Listen string
	// Exclusive locks the store for this process (a lock file beside it): relais run and
	// relais import on the same data dir must not both write it. Another process holding
	// it is ErrInUse.
	Exclusive bool
}

// StartNATS starts the server and waits until it accepts connections.
func StartNATS(o Options) (*NATS, error) {
	// The server finds an unusable store only after its start, and then never becomes
	// ready: a clear error now beats "not ready" in ten seconds.
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: store: %w", err)
	}
	var lock *os.File
	if o.Exclusive {
		var err error
		if lock, err = lockDir(o.Dir); err != nil {
			return nil, err
		}
	}
	opts := &server.Options{
		ServerName: "relais-embedded",
		JetStream:  true,
		StoreDir:   o.Dir,
		NoSigs:     true,
		NoLog:      true,
		DontListen: o.Listen == "",
		MaxPayload: 1 << 20,
	}
	if o.Listen != "" {
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		unlock(lock)
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		unlock(lock)
		return nil, fmt.Errorf("embedded nats: not ready after 10s")
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		unlock(lock)
		return nil, fmt.Errorf("embedded nats: jetstream did not start (store %s)", o.Dir)
	}
	return &NATS{srv: srv, lock: lock}, nil
}

// Connect opens a client connection to the server (in-process when it does not listen).
func (n *NATS) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(n.srv), nats.Name("relais")}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded nats connect: %w", err)
	}
	return nc, nil
}

// URL is the server's client URL, empty when it does not listen.
func (n *NATS) URL() string {
	if n.srv.Addr() == nil {
		return ""
	}
	return n.srv.ClientURL()
}

// Shutdown stops the server and waits until its store is closed.
func (n *NATS) Shutdown() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	unlock(n.lock)
	n.lock = nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("embedded nats: listen %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("embedded nats: listen %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}
