package events_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/events/eventstest"
)

// everyStream lists what Setup creates: the streams, and the buckets' streams.
func everyStream(n events.Names) []string {
	return []string{
		n.EventsStream(), n.CRMStream(), n.DLQStream(), n.RepliesStream(),
		"KV_" + n.ConsentBucket(), "KV_" + n.LocksBucket(), "KV_" + n.CRMRefsBucket(),
	}
}

// waitReplicas waits until every stream Setup made is configured with want replicas and,
// on a cluster, has a leader and want-1 current followers, and fails the test with what it
// last saw when that does not happen within 30 s.
func waitReplicas(t *testing.T, js jetstream.JetStream, n events.Names, want int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range everyStream(n) {
		for {
			seen, ok := replicated(ctx, js, name, want)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s, want %d replicas", name, seen, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func replicated(ctx context.Context, js jetstream.JetStream, name string, want int) (string, bool) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return err.Error(), false
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err.Error(), false
	}
	if info.Config.Replicas != want {
		return fmt.Sprintf("configured with %d replicas", info.Config.Replicas), false
	}
	if info.Cluster == nil || info.Cluster.Name == "" {
		return "a single server", want == 1
	}
	current := 0
	for _, p := range info.Cluster.Replicas {
		if p.Current {
			current++
		}
	}
	if info.Cluster.Leader == "" || len(info.Cluster.Replicas) != want-1 || current != want-1 {
		return fmt.Sprintf("leader %q, %d followers of which %d current", info.Cluster.Leader, len(info.Cluster.Replicas), current), false
	}
	return "", true
}

func startCluster(t *testing.T, size int) (*embedded.Cluster, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	c, err := embedded.StartCluster(embedded.ClusterOptions{Dir: t.TempDir(), Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return c, nc, js
}

// On a three-server cluster the default is three replicas, and a start with it brings every
// stream and bucket an earlier single-replica deployment made up to three; the contact
// change read goes to the stream leader.
func TestSetupReplicatesOnCluster(t *testing.T) {
	_, nc, js := startCluster(t, 3)
	if got := events.ClusterReplicas(nc); got != 3 {
		t.Fatalf("default replicas on a 3-server cluster: %d, want 3", got)
	}
	names, err := events.NewNames(eventstest.UniquePrefix())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := events.DefaultLimits()

	steps := []struct {
		name   string
		limits func(events.Limits) events.Limits
		want   int
	}{
		{"an earlier deployment with one replica", func(l events.Limits) events.Limits { l.Replicas = 1; return l }, 1},
		{"the default scales up", func(l events.Limits) events.Limits {
			l.Replicas, l.ReplicasGuessed = events.ClusterReplicas(nc), true
			return l
		}, 3},
		{"a guess of one while a server is away keeps three", func(l events.Limits) events.Limits {
			l.Replicas, l.ReplicasGuessed = 1, true
			return l
		}, 3},
		{"the operator's choice scales down", func(l events.Limits) events.Limits { l.Replicas = 2; return l }, 2},
	}
	for _, st := range steps {
		if err := events.Setup(ctx, js, names, st.limits(base)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		waitReplicas(t, js, names, st.want)
	}

	crm, err := js.Stream(ctx, names.CRMStream())
	if err != nil {
		t.Fatal(err)
	}
	if crm.CachedInfo().Config.AllowDirect {
		t.Error("RELAIS_CRM allows direct gets: the last contact change could be read from a stale replica")
	}
	h, err := events.NewHasher(eventstest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(js, names, h)
	change := func(id string) events.ContactChange {
		return events.ContactChange{V: events.Version, ID: id, Member: "m1", ExternalID: events.ExternalID("m1"), Op: events.OpUpsert, At: time.Now().UTC()}
	}
	if err := pub.ContactChange(ctx, change("c1")); err != nil {
		t.Fatal(err)
	}
	got, seq, found, err := pub.LastContactChangeSeq(ctx, "m1")
	if err != nil || !found || got.ID != "c1" {
		t.Fatalf("last contact change on three replicas: %+v found=%v err=%v", got, found, err)
	}
	// A replicated stream refuses a conditional publish with a code of its own: it must
	// still read as "the last change moved".
	err = pub.ContactChange(ctx, change("c2"), jetstream.WithExpectLastSequencePerSubject(seq-1))
	if !events.IsWrongLastSequence(err) {
		t.Fatalf("conditional publish on a stale sequence: %v, want a wrong-last-sequence error", err)
	}
}

// A cluster smaller than the guess: Setup places what it can instead of failing, and a
// count the operator chose that cannot be placed is an error, not a silent downgrade.
func TestSetupLowersAGuessTheClusterCannotPlace(t *testing.T) {
	_, _, js := startCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tests := []struct {
		name    string
		guessed bool
		wantErr bool
		want    int
	}{
		{"guessed three on two servers", true, false, 2},
		{"chosen three on two servers", false, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names, err := events.NewNames(eventstest.UniquePrefix())
			if err != nil {
				t.Fatal(err)
			}
			l := events.DefaultLimits()
			l.Replicas, l.ReplicasGuessed = 3, tc.guessed
			err = events.Setup(ctx, js, names, l)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Setup: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			waitReplicas(t, js, names, tc.want)
		})
	}
}

// On a single server a guessed count above one settles on one, and the streams are
// usable; a chosen one above one is refused with the server's reason. The test owns its
// server: nats-server before 2.10 accepts more replicas than it has, silently.
func TestSetupReplicasOnASingleServer(t *testing.T) {
	srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if got := events.ClusterReplicas(nc); got != 1 {
		t.Errorf("default replicas on the embedded server: %d, want 1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := events.DefaultNames()
	l := events.DefaultLimits()
	l.Replicas, l.ReplicasGuessed = 3, true
	if err := events.Setup(ctx, js, names, l); err != nil {
		t.Fatalf("guessed 3 on one server: %v", err)
	}
	waitReplicas(t, js, names, 1)
	l.ReplicasGuessed = false
	if err := events.Setup(ctx, js, names, l); err == nil {
		t.Error("3 chosen replicas accepted on a single server")
	}
}

// RELAIS_CRM with one replica allows direct gets, whatever an earlier version set (it turned
// them off everywhere), so the bridge reads many members' last changes in one request.
func TestSetupAllowsDirectGetsOnSingleReplicaCRM(t *testing.T) {
	env := eventstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := env.JS.Stream(ctx, env.Names.CRMStream())
	if err != nil {
		t.Fatal(err)
	}
	old := s.CachedInfo().Config
	if old.Replicas > 1 {
		t.Skip("the test server runs RELAIS_CRM replicated")
	}
	old.AllowDirect = false
	if _, err := env.JS.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	if s, err = env.JS.Stream(ctx, env.Names.CRMStream()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Pub.LastContactChanges(ctx, s, []string{"m"}); !errors.Is(err, events.ErrNoBatchRead) {
		t.Fatalf("batch read without direct gets: %v, want ErrNoBatchRead", err)
	}
	if err := events.Setup(ctx, env.JS, env.Names, env.Limits); err != nil {
		t.Fatal(err)
	}
	if s, err = env.JS.Stream(ctx, env.Names.CRMStream()); err != nil {
		t.Fatal(err)
	}
	if !s.CachedInfo().Config.AllowDirect {
		t.Fatal("single-replica RELAIS_CRM does not allow direct gets after Setup")
	}
}
