// Package eventstest gives each test its own relais event backbone: the real NATS server
// named by NATS_URL when set, an embedded one otherwise, with stream and subject names no
// other test shares.
package eventstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
)

// Env is one test's backbone.
type Env struct {
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Names  events.Names
	Hasher events.Hasher
	Pub    *events.Publisher
	Limits events.Limits
	// URL reaches the same server from another connection or process.
	URL string
	// Server is the embedded server, nil when NATS_URL is used.
	Server *embedded.NATS
}

// Secret is the fixed test key, so hashes are stable across a test's processes.
var Secret = []byte("relais-test-secret-0123456789abcdef")

// New starts (or connects to) NATS, creates the test's streams and removes them at the end.
func New(t testing.TB) *Env {
	t.Helper()
	env := &Env{Limits: events.Limits{Retention: 90 * 24 * time.Hour, Duplicates: time.Hour}}
	env.URL = os.Getenv("NATS_URL")
	if env.URL == "" {
		srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatalf("eventstest: %v", err)
		}
		t.Cleanup(srv.Shutdown)
		env.Server, env.URL = srv, srv.URL()
	}
	nc, err := nats.Connect(env.URL, nats.Name("relais-test"))
	if err != nil {
		t.Fatalf("eventstest: connect %s: %v", env.URL, err)
	}
	env.setup(t, nc)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := events.Teardown(ctx, env.JS, env.Names); err != nil {
			t.Logf("eventstest: %v", err)
		}
		nc.Close()
	})
	return env
}

// setup gives env its connection, names, hasher and publisher, and creates its streams.
func (env *Env) setup(t testing.TB, nc *nats.Conn) {
	t.Helper()
	env.Conn = nc
	var err error
	if env.JS, err = jetstream.New(nc); err != nil {
		t.Fatalf("eventstest: jetstream: %v", err)
	}
	if env.Names, err = events.NewNames(UniquePrefix()); err != nil {
		t.Fatalf("eventstest: %v", err)
	}
	if env.Hasher, err = events.NewHasher(Secret); err != nil {
		t.Fatalf("eventstest: %v", err)
	}
	env.Pub = events.NewPublisher(env.JS, env.Names, env.Hasher)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := events.Setup(ctx, env.JS, env.Names, env.Limits); err != nil {
		t.Fatalf("eventstest: %v", err)
	}
}

// Disk is an Env on an embedded NATS whose file store, under Dir, the test reads byte for
// byte: it never uses NATS_URL, since the point is to look at the files.
type Disk struct {
	*Env
	Dir  string
	once sync.Once
}

// OnDisk starts an embedded NATS with its store in a fresh directory and sets up the test's
// streams with l (zero: New's limits).
func OnDisk(t testing.TB, l events.Limits) *Disk {
	t.Helper()
	d := &Disk{Env: &Env{Limits: l}, Dir: t.TempDir()}
	if d.Limits.Retention == 0 {
		d.Limits = events.Limits{Retention: 90 * 24 * time.Hour, Duplicates: time.Hour}
	}
	srv, err := embedded.StartNATS(embedded.Options{Dir: d.Dir})
	if err != nil {
		t.Fatalf("eventstest: %v", err)
	}
	d.Server = srv
	t.Cleanup(d.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatalf("eventstest: %v", err)
	}
	d.setup(t, nc)
	return d
}

// Shutdown closes the connection and stops the server, which waits until its store is
// closed: every write is then in the files. Calling it again does nothing.
func (d *Disk) Shutdown() {
	d.once.Do(func() {
		if d.Conn != nil {
			d.Conn.Close()
		}
		d.Server.Shutdown()
	})
}

// UniquePrefix returns a fresh prefix for stream, subject and key names.
func UniquePrefix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "T" + hex.EncodeToString(b)
}

// StreamMsgs returns how many messages a stream holds now.
func (e *Env) StreamMsgs(t testing.TB, stream string) uint64 {
	t.Helper()
	s, err := e.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("eventstest: stream %s: %v", stream, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("eventstest: stream %s info: %v", stream, err)
	}
	return info.State.Msgs
}
