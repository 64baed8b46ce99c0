package events_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// TestLastContactChanges: one batch read gives each member's newest change with its stream
// sequence, leaves out members with none, and holds beyond the thousand members one request
// of the server may answer.
//
// It runs on the embedded server, which knows batch gets, and on the configured one, which may
// be older: only then may the read be refused (the bridge then reads member by member).
func TestLastContactChanges(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testLastContactChanges(t, eventstest.OnDisk(t, events.Limits{}).Env) })
	t.Run("configured", func(t *testing.T) { testLastContactChanges(t, eventstest.New(t)) })
}

func testLastContactChanges(t *testing.T, env *eventstest.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	publish := func(member, first string, last uint64) uint64 {
		t.Helper()
		m, err := env.Pub.ContactChangeMsg(events.ContactChange{V: events.Version, ID: "cc-" + member + "-" + first,
			Member: member, ExternalID: events.ExternalID(member), Op: events.OpUpsert, FirstName: first, At: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		ack, err := env.Pub.ReplaceContactChange(ctx, m, last)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	const n = 1203
	var members []string
	want := map[string]uint64{}
	for i := range n {
		m := fmt.Sprintf("m%04d", i)
		members = append(members, m)
		switch i % 3 {
		case 0: // no change kept
		case 1:
			want[m] = publish(m, "Premier", 0)
		case 2:
			want[m] = publish(m, "Second", publish(m, "Premier", 0))
		}
	}
	s, err := env.JS.Stream(ctx, env.Names.CRMStream())
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Pub.LastContactChanges(ctx, s, members)
	if errors.Is(err, events.ErrNoBatchRead) {
		// The bridge then reads member by member: only a server without batch gets may say so.
		if v := env.Conn.ConnectedServerVersion(); serverAtLeast(t, v, 2, 11) {
			t.Fatalf("nats-server %s refused a batch get: %v", v, err)
		}
		if _, err := env.Pub.LastContactChanges(ctx, s, members); !errors.Is(err, events.ErrNoBatchRead) {
			t.Fatalf("second batch read on an old server: %v, want ErrNoBatchRead at once", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d members with a change, want %d", len(got), len(want))
	}
	for m, seq := range want {
		raw, ok := got[m]
		if !ok {
			t.Fatalf("member %s missing", m)
		}
		if raw.Sequence != seq {
			t.Errorf("member %s: sequence %d, want %d", m, raw.Sequence, seq)
		}
		c, err := events.DecodeContactChange(raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		wantFirst := "Premier"
		if mustIndex(t, m)%3 == 2 {
			wantFirst = "Second"
		}
		if c.Member != m || c.FirstName != wantFirst {
			t.Errorf("member %s: change of %s named %q, want %q", m, c.Member, c.FirstName, wantFirst)
		}
	}
}

func mustIndex(t *testing.T, m string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(m, "m%04d", &i); err != nil {
		t.Fatal(err)
	}
	return i
}

// serverAtLeast says whether the server version v ("2.9.10") is at least major.minor.
func serverAtLeast(t *testing.T, v string, major, minor int) bool {
	t.Helper()
	var ma, mi int
	if _, err := fmt.Sscanf(v, "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("server version %q: %v", v, err)
	}
	return ma > major || (ma == major && mi >= minor)
}
