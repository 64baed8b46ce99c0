//go:build failure || cluster

// The cluster test (cluster_test.go) shares these helpers but not the ones picking NATS_URL,
// REDIS_URL or embedded servers.
//
//lint:file-ignore U1000 built with -tags=cluster too, which uses only some of the helpers

package main

// Helpers of the failure suite (go test -tags=failure ./cmd/relais/): each test gets its own
// namespaces (RELAIS_NAMESPACE) on one NATS and one Redis, reached over TCP so a child relais
// process shares them; state is read back through the bridge's Query and compared exactly.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/events/eventsim"
	"github.com/relais-bot/relais/events/eventstest"
)

// failRealRedis reports whether the suite runs against REDIS_URL; miniredis runs the bridge's
// Lua several times slower, so workloads shrink without it.
func failRealRedis() bool { return os.Getenv("REDIS_URL") != "" }

// failBackbone is the NATS server of a test: NATS_URL, or an embedded server on a loopback port
// that only this test uses.
type failBackbone struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newFailBackbone(t *testing.T) *failBackbone {
	t.Helper()
	url := os.Getenv("NATS_URL")
	if url == "" {
		srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		url = srv.URL()
	}
	return connectFailBackbone(t, url)
}

// connectFailBackbone opens a client that, like an adapter, reconnects for as long as it takes.
func connectFailBackbone(t *testing.T, url string) *failBackbone {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("relais-failure-test"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			t.Logf("test client: %v", err)
		}))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &failBackbone{url: url, nc: nc, js: js}
}

// failRedis is the test's Redis as a client and a URL another process can dial: REDIS_URL,
// or a miniredis on a loopback port.
func failRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	rdb, _ := bridgetest.Redis(t)
	if url := os.Getenv("REDIS_URL"); url != "" {
		return rdb, url
	}
	c, ok := rdb.(*redis.Client)
	if !ok {
		t.Fatalf("bridgetest.Redis returned %T", rdb)
	}
	return rdb, "redis://" + c.Options().Addr
}

// failProcessEnv is this process's environment without the settings a deployment sets, so a
// child relais sees only its deployment's.
func failProcessEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "RELAIS_") {
			out = append(out, kv)
		}
	}
	return out
}

// failDeployment is one relais deployment under test: its namespace on the shared servers, and
// the environment a relais process of it runs with.
type failDeployment struct {
	ns     string
	names  events.Names
	hasher events.Hasher
	pub    *events.Publisher
	env    map[string]string
}

// newFailDeployment creates the namespace's streams and removes them, and its Redis keys, at the
// end of the test. extra overrides or adds settings.
func newFailDeployment(t *testing.T, bb *failBackbone, rdb redis.UniversalClient, redisURL string, extra map[string]string) *failDeployment {
	t.Helper()
	ns := eventstest.UniquePrefix()
	names, err := events.NewNames(ns)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := events.NewHasher(eventstest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	d := &failDeployment{ns: ns, names: names, hasher: hasher, pub: events.NewPublisher(bb.js, names, hasher), env: map[string]string{
		"RELAIS_DATA_DIR":    t.TempDir(),
		"RELAIS_SECRET":      string(eventstest.Secret),
		"RELAIS_NAMESPACE":   ns,
		"RELAIS_SYNC_POLICY": "notice",
		"RELAIS_LOG_LEVEL":   "warn",
		"NATS_URL":           bb.url,
		"REDIS_URL":          redisURL,
	}}
	for k, v := range extra {
		d.env[k] = v
	}
	// The same limits relais run sets up with, so both sides agree on the stream config.
	limits := events.DefaultLimits()
	limits.Retention = d.config(t).Retention()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := events.Setup(ctx, bb.js, names, limits); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := events.Teardown(ctx, bb.js, names); err != nil {
			t.Logf("teardown %s: %v", ns, err)
		}
		if err := bridgetest.DeletePrefix(ctx, rdb, d.keyPrefix()); err != nil {
			t.Logf("redis cleanup %s: %v", ns, err)
		}
	})
	return d
}

// keyPrefix is where relais keeps this deployment's Redis keys (bridgeConfig).
func (d *failDeployment) keyPrefix() string { return namespaceKeyPrefix(d.ns) }

// environ is the deployment's settings as a process environment.
func (d *failDeployment) environ(extra ...string) []string {
	out := make([]string, 0, len(d.env)+len(extra))
	for k, v := range d.env {
		out = append(out, k+"="+v)
	}
	return append(out, extra...)
}

// config parses the deployment's settings the way relais run does.
func (d *failDeployment) config(t *testing.T) Config {
	t.Helper()
	cfg, err := LoadConfig(func(k string) (string, bool) { v, ok := d.env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// failInProcess is a runtime and a bridge wired exactly as relais run wires them; the
// runtime closes with the test.
type failInProcess struct {
	rt     *runtime
	bridge *bridge.Bridge
	run    func(context.Context) error
}

func (d *failDeployment) inProcessBridge(t *testing.T) *failInProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := openRuntime(ctx, d.config(t), failLogger(t), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	b, tasks, err := bridgeRole(ctx, rt, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &failInProcess{rt: rt, bridge: b, run: tasks[0].run}
}

// failLogger sends warnings and errors to the test log (they carry tokens, never personal
// data), so a failure shows what relais complained about.
func failLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(failLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type failLogWriter struct{ t *testing.T }

func (w failLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("relais: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// failPublishStats are what publishing cost.
type failPublishStats struct {
	published, duplicates, retries int
	took                           time.Duration
}

// failPublish stores evs in the deployment's events stream as an adapter does: async with
// Nats-Msg-Id, and any message whose publish failed is retried (same id) until stored.
func failPublish(ctx context.Context, js jetstream.JetStream, pub *events.Publisher, evs []events.Event) (failPublishStats, error) {
	var st failPublishStats
	start := time.Now()
	const window = 2000
	pending := make([]jetstream.PubAckFuture, 0, window)
	retry := func(m *nats.Msg) error {
		for {
			st.retries++
			ack, err := js.PublishMsg(ctx, m)
			if err == nil {
				if ack.Duplicate {
					st.duplicates++
				}
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("publish %s: %w", m.Header.Get(jetstream.MsgIDHeader), err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	flush := func() error {
		for _, f := range pending {
			select {
			case ack := <-f.Ok():
				if ack.Duplicate {
					st.duplicates++
				}
			case <-f.Err():
				if err := retry(f.Msg()); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pending = pending[:0]
		return nil
	}
	for _, e := range evs {
		m, err := pub.EventMsg(e)
		if err != nil {
			return st, err
		}
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			if err := retry(m); err != nil {
				return st, err
			}
		} else if pending = append(pending, f); len(pending) == window {
			if err := flush(); err != nil {
				return st, err
			}
		}
		st.published++
	}
	if err := flush(); err != nil {
		return st, err
	}
	st.took = time.Since(start)
	return st, nil
}

// failPublishOneByOne waits for each event's ack before the next, retrying through
// outages with the same id, as an adapter that must not advance its offset does.
func failPublishOneByOne(ctx context.Context, pub *events.Publisher, evs []events.Event, progress func(i int)) (failPublishStats, error) {
	var st failPublishStats
	start := time.Now()
	for i, e := range evs {
		for attempt := 0; ; attempt++ {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			dup, err := pub.Event(actx, e)
			cancel()
			if err == nil {
				if dup {
					st.duplicates++
				}
				break
			}
			st.retries++
			select {
			case <-ctx.Done():
				return st, fmt.Errorf("publish event %d: %w", i, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		st.published++
		if progress != nil {
			progress(i + 1)
		}
	}
	st.took = time.Since(start)
	return st, nil
}

// failWaitDrained waits until the bridge consumer was delivered every one of want stream
// messages and holds nothing pending or unacknowledged, and returns its info.
func failWaitDrained(t *testing.T, js jetstream.JetStream, stream, consumer string, want uint64, within time.Duration) *jetstream.ConsumerInfo {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	var last *jetstream.ConsumerInfo
	var lastErr error
	for time.Now().Before(deadline) {
		if cons, err := js.Consumer(ctx, stream, consumer); err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.Delivered.Stream >= want && info.NumPending == 0 && info.NumAckPending == 0 {
				return info
			}
			last, lastErr = info, err
		} else {
			lastErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("%s/%s not drained within %s: delivered %d of %d, pending %d, ack pending %d (err %v)",
			stream, consumer, within, last.Delivered.Stream, want, last.NumPending, last.NumAckPending, lastErr)
	}
	t.Fatalf("%s/%s not drained within %s: %v", stream, consumer, within, lastErr)
	return nil
}

// failStreamMsgs is how many messages a stream holds.
func failStreamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// failSnapshot is everything the read side shows about a deployment.
type failSnapshot struct {
	Groups  []bridge.GroupStats
	Members []bridge.MemberCard // every workload member relais knows, by token
	Top     []bridge.MemberCard
	Leaders []bridge.MemberCard
}

// failTakeSnapshot reads the state of every member of a workload through the bridge's Query.
func failTakeSnapshot(t *testing.T, q *bridge.Query, h events.Hasher, members int) failSnapshot {
	t.Helper()
	ctx := context.Background()
	var s failSnapshot
	var err error
	if s.Groups, err = q.Groups(ctx); err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, 0, members)
	for i := range members {
		tokens = append(tokens, h.Member(events.Telegram, eventsim.MemberID(i)))
	}
	slices.Sort(tokens)
	for _, tok := range tokens {
		c, ok, err := q.Member(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			s.Members = append(s.Members, c)
		}
	}
	if s.Top, err = q.TopActive(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if s.Leaders, err = q.Leaders(ctx, 20); err != nil {
		t.Fatal(err)
	}
	return s
}

// failDiffSnapshots reports every way got differs from want.
func failDiffSnapshots(t *testing.T, what string, want, got failSnapshot) {
	t.Helper()
	if reflect.DeepEqual(want, got) {
		return
	}
	if !reflect.DeepEqual(want.Groups, got.Groups) {
		t.Errorf("%s: groups differ:\nwant %+v\ngot  %+v", what, want.Groups, got.Groups)
	}
	if len(want.Members) != len(got.Members) {
		t.Errorf("%s: %d members, want %d", what, len(got.Members), len(want.Members))
	}
	differ := 0
	for i := range min(len(want.Members), len(got.Members)) {
		if !reflect.DeepEqual(want.Members[i], got.Members[i]) {
			if differ == 0 {
				t.Errorf("%s: member differs:\nwant %+v\ngot  %+v", what, want.Members[i], got.Members[i])
			}
			differ++
		}
	}
	if differ > 0 {
		t.Errorf("%s: %d member cards differ", what, differ)
	}
	if !reflect.DeepEqual(want.Top, got.Top) {
		t.Errorf("%s: most active differ", what)
	}
	if !reflect.DeepEqual(want.Leaders, got.Leaders) {
		t.Errorf("%s: leaders differ", what)
	}
}

// failCheckCounts compares each member's message count with the workload: every event counted
// exactly once (the workload spans less than the window, and holds only messages). Members
// who were only answered are known with no message.
func failCheckCounts(t *testing.T, what string, s failSnapshot, h events.Hasher, evs []events.Event) (total int) {
	t.Helper()
	want := map[string]int{}
	for _, e := range evs {
		want[h.Member(e.Platform, e.Sender.ID)]++
	}
	wrong, senders := 0, 0
	for _, c := range s.Members {
		total += c.Messages
		if want[c.Token] > 0 {
			senders++
		}
		if c.Messages != want[c.Token] {
			if wrong == 0 {
				t.Errorf("%s: member %s counted %d messages, sent %d", what, c.Token, c.Messages, want[c.Token])
			}
			wrong++
		}
	}
	if senders != len(want) {
		t.Errorf("%s: %d of %d senders known", what, senders, len(want))
	}
	if total != len(evs) {
		t.Errorf("%s: %d messages counted, %d published", what, total, len(evs))
	}
	return total
}

// failContactStates returns the contact change kept per member in RELAIS_CRM and the stream's
// last sequence (how many changes were ever published).
func failContactStates(t *testing.T, js jetstream.JetStream, names events.Names) (map[string]events.ContactChange, uint64) {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, names.CRMStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(names.CRMFilter()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]events.ContactChange{}
	for subj := range info.State.Subjects {
		raw, err := s.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			t.Fatal(err)
		}
		c, err := events.DecodeContactChange(raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		out[c.Member] = c
	}
	return out, info.State.LastSeq
}

// failDesiredContacts keeps what each change asks the CRM to hold. Its id, decision time and the
// tags it asks to drop depend on which intermediate states a run published (restarts and
// batch boundaries move them); LastActive rides along with the newest tag change, so it
// depends on batch timing too (DESIGN: a change is published only when tags or identity
// change).
func failDesiredContacts(cc map[string]events.ContactChange) map[string]events.ContactChange {
	out := make(map[string]events.ContactChange, len(cc))
	for m, c := range cc {
		c.ID, c.At, c.LastActive, c.RemoveTags = "", time.Time{}, time.Time{}, nil
		out[m] = c
	}
	return out
}

// failDiffContacts reports members whose desired CRM state differs.
func failDiffContacts(t *testing.T, what string, want, got map[string]events.ContactChange) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d contacts, want %d", what, len(got), len(want))
	}
	differ := 0
	for m, c := range want {
		if g, ok := got[m]; !ok || !reflect.DeepEqual(c, g) {
			if differ == 0 {
				t.Errorf("%s: contact %s:\nwant %+v\ngot  %+v", what, m, c, g)
			}
			differ++
		}
	}
	if differ > 0 {
		t.Errorf("%s: %d contacts differ", what, differ)
	}
}

// runUntilDrained runs an in-process bridge until its consumer has taken every one of want
// messages, then stops it the way SIGINT does.
func (p *failInProcess) runUntilDrained(t *testing.T, js jetstream.JetStream, names events.Names, want uint64, within time.Duration) (*jetstream.ConsumerInfo, time.Duration) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = p.run(ctx) })
	info := func() *jetstream.ConsumerInfo {
		defer func() { cancel(); wg.Wait() }()
		return failWaitDrained(t, js, names.EventsStream(), names.BridgeConsumer(), want, within)
	}()
	took := time.Since(start)
	if runErr != nil {
		t.Fatalf("bridge run: %v", runErr)
	}
	return info, took
}

// settle re-evaluates every member whose window slid, as the periodic sweep does, so two
// deployments are compared at the same clock.
func (p *failInProcess) settle(t *testing.T) {
	t.Helper()
	if err := p.bridge.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
}
