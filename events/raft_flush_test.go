package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// On a single server (one replica) there is no Raft log: a request records nothing, and a
// flush appends no filler; it clears the requests it was given, not one made after it read
// them. The cluster case is TestClusterErasureReachesRaftLogs (cmd/relais, -tags=cluster).
func TestRaftFlushRequests(t *testing.T) {
	env := eventstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, ok, err := events.PendingRaftFlush(ctx, env.JS, env.Names); err != nil || ok {
		t.Fatalf("before any request: pending %v, err %v", ok, err)
	}
	// One replica: no Raft log, nothing recorded.
	if err := events.RequestRaftFlush(ctx, env.JS, env.Names); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := events.PendingRaftFlush(ctx, env.JS, env.Names); err != nil || ok {
		t.Fatalf("a request on one replica: pending %v, err %v; want none", ok, err)
	}
	// Requests recorded while the stream had three replicas, as RequestRaftFlush writes them.
	request := func() {
		t.Helper()
		if _, err := env.JS.Publish(ctx, "relaiswal."+env.Names.EventsStream()+".request", nil); err != nil {
			t.Fatal(err)
		}
	}
	request()
	request()
	req, ok, err := events.PendingRaftFlush(ctx, env.JS, env.Names)
	if err != nil || !ok {
		t.Fatalf("after two requests: pending %v, err %v", ok, err)
	}
	if req.Newest <= req.Oldest.Sequence || time.Since(req.Oldest.Time) > time.Minute {
		t.Fatalf("pending %+v: want the oldest request, just made, and a newer one", req)
	}
	request() // after the read
	rep, err := events.FlushRaftLogs(ctx, env.JS, env.Conn, env.Names, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Streams) != 0 || rep.Bytes != 0 {
		t.Errorf("flush on one replica: %+v, want nothing appended", rep)
	}
	late, ok, err := events.PendingRaftFlush(ctx, env.JS, env.Names)
	if err != nil || !ok || late.Oldest.Sequence <= req.Newest {
		t.Fatalf("after the flush: pending %v %+v, err %v; want only the request made after the read", ok, late, err)
	}
	if _, err := events.FlushRaftLogs(ctx, env.JS, env.Conn, env.Names, late); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := events.PendingRaftFlush(ctx, env.JS, env.Names); err != nil || ok {
		t.Fatalf("after the second flush: pending %v, err %v", ok, err)
	}
	if n := env.StreamMsgs(t, env.Names.EventsStream()); n != 0 {
		t.Errorf("the events stream holds %d messages after the flushes, want none", n)
	}
}
