package whatsapp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// pairedDataDir returns a data dir whose store holds a device, as `relais whatsapp pair`
// leaves it, plus the fixture LID pairs. Nothing connects to WhatsApp.
func pairedDataDir(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	c, err := openStore(ctx, dir, "", nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer c.Close()
	dev := c.NewDevice()
	id := types.NewADJID(botPN.User, 0, 12)
	dev.ID, dev.LID = &id, botLID
	// A placeholder identity: the shapes the schema checks, never used to connect.
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := c.PutDevice(ctx, dev); err != nil {
		t.Fatalf("put device: %v", err)
	}
	for _, p := range [][2]types.JID{{aliceLID, alicePN}, {bobLID, bobPN}, {carolLID, carolPN}} {
		if err := c.LIDMap.PutLIDMapping(ctx, p[0], p[1]); err != nil {
			t.Fatalf("put lid mapping: %v", err)
		}
	}
	return dir
}

func newTestAdapter(t *testing.T, env *eventstest.Env, reg prometheus.Registerer) *Adapter {
	t.Helper()
	a, err := New(context.Background(), Config{DataDir: pairedDataDir(t), Registerer: reg}, env.JS, env.Names, env.Pub)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// flakyPublisher fails the calls whose number (1-based) is in fail, and passes the others to
// the real publisher.
type flakyPublisher struct {
	next  Publisher
	mu    sync.Mutex
	calls int
	fail  map[int]bool
}

func (f *flakyPublisher) Event(ctx context.Context, e events.Event) (bool, error) {
	f.mu.Lock()
	f.calls++
	fail := f.fail[f.calls]
	f.mu.Unlock()
	if fail {
		return false, errors.New("nats: no responders available for request")
	}
	return f.next.Event(ctx, e)
}

// storedEvents reads back every event in the test's stream.
func storedEvents(t *testing.T, env *eventstest.Env) []events.Event {
	t.Helper()
	ctx := context.Background()
	cons, err := env.JS.OrderedConsumer(ctx, env.Names.EventsStream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	n := int(env.StreamMsgs(t, env.Names.EventsStream()))
	var out []events.Event
	if n == 0 {
		return nil
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	for m := range batch.Messages() {
		e, err := events.DecodeEvent(m.Data())
		if err != nil {
			t.Fatalf("decode stored event: %v", err)
		}
		if m.Subject() != env.Pub.EventSubject(e) {
			t.Errorf("event %s on subject %s, want %s", e.ID, m.Subject(), env.Pub.EventSubject(e))
		}
		out = append(out, e)
	}
	return out
}

// TestPublishFailureLeavesMessageUnacked drives the whole whatsmeow handler chain: a failed
// publish makes whatsmeow see a failed handler (so with SynchronousAck it does not ack and
// WhatsApp redelivers), nothing is stored; the redelivery publishes once; the same message
// replayed after a reconnect, and its edit, add nothing.
func TestPublishFailureLeavesMessageUnacked(t *testing.T) {
	env := eventstest.New(t)
	reg := prometheus.NewRegistry()
	a := newTestAdapter(t, env, reg)
	flaky := &flakyPublisher{next: env.Pub, fail: map[int]bool{1: true}}
	a.ingest.pub = flaky
	if !a.cli.SynchronousAck || !a.cli.EnableDecryptedEventBuffer {
		t.Fatal("client must ack synchronously and buffer decrypted events")
	}
	//lint:ignore SA1019 dispatching a constructed event through the real client is only possible this way, in tests
	dispatch := a.cli.DangerousInternals().DispatchEvent

	if failed := dispatch(&waevents.JoinedGroup{GroupInfo: types.GroupInfo{JID: lidGroup, GroupName: types.GroupName{Name: "Entraide Sud"}, AddressingMode: types.AddressingModeLID}}); failed {
		t.Fatal("JoinedGroup reported a failure")
	}
	m := msg(lidGroup, bobLID, bobPN, "M1", text("bonjour"))
	if failed := dispatch(m); !failed {
		t.Fatal("publish failed but the handler reported success: WhatsApp would drop the message")
	}
	if n := env.StreamMsgs(t, env.Names.EventsStream()); n != 0 {
		t.Fatalf("stream holds %d events after a failed publish, want 0", n)
	}
	if got := metricValue(t, a.metrics.failures); got != 1 {
		t.Errorf("publish failures metric = %v, want 1", got)
	}
	if failed := dispatch(m); failed {
		t.Fatal("redelivery failed")
	}
	if failed := dispatch(m); failed { // replayed again after a reconnect
		t.Fatal("replay failed")
	}
	edit := msg(lidGroup, bobLID, bobPN, "E1", editOf("M1", "bonjour à tous"))
	if failed := dispatch(edit); failed {
		t.Fatal("edit failed")
	}
	got := storedEvents(t, env)
	want := withTitle(ev("whatsapp:120363000000000002:M1", events.KindMessage, nil,
		events.Member{ID: "222222222222222@lid", Name: "Alice", Phone: "+33698765432", Alias: "33698765432@s.whatsapp.net"}), lidGroup, "Entraide Sud")
	want.Chars = 7
	if len(got) != 1 || !equalEvent(got[0], want) {
		t.Fatalf("stored events = %+v, want exactly %+v", got, want)
	}
	if !a.ingest.seen.has(bobLID) || !a.ingest.seen.has(bobPN) {
		t.Error("the sender was not remembered as someone who wrote first")
	}
}

// TestPartialFailureCompletesOnRedelivery: a WhatsApp event that stands for several relais
// events (two joins) fails halfway; the redelivery publishes the rest and the stream drops
// the one it already holds, so each join is stored exactly once.
func TestPartialFailureCompletesOnRedelivery(t *testing.T) {
	env := eventstest.New(t)
	a := newTestAdapter(t, env, nil)
	a.ingest.pub = &flakyPublisher{next: env.Pub, fail: map[int]bool{2: true}}
	//lint:ignore SA1019 dispatching a constructed event through the real client is only possible this way, in tests
	dispatch := a.cli.DangerousInternals().DispatchEvent
	dispatch(&waevents.JoinedGroup{GroupInfo: types.GroupInfo{JID: lidGroup, AddressingMode: types.AddressingModeLID}})

	gi := &waevents.GroupInfo{JID: lidGroup, Timestamp: t0, Join: []types.JID{daveLID, carolLID}}
	if failed := dispatch(gi); !failed {
		t.Fatal("second publish failed but the handler reported success")
	}
	if failed := dispatch(gi); failed {
		t.Fatal("redelivery failed")
	}
	got := storedEvents(t, env)
	if len(got) != 2 || got[0].Sender.ID != daveLID.String() || got[1].Sender.ID != carolLID.String() {
		t.Fatalf("stored %+v, want one join for each member", got)
	}
}

func TestLifecycleHealth(t *testing.T) {
	env := eventstest.New(t)
	reg := prometheus.NewRegistry()
	a := newTestAdapter(t, env, reg)
	//lint:ignore SA1019 dispatching a constructed event through the real client is only possible this way, in tests
	dispatch := a.cli.DangerousInternals().DispatchEvent
	tests := []struct {
		evt       any
		state     string
		errHas    string
		permanent bool
	}{
		{&waevents.LoggedOut{Reason: waevents.ConnectFailureLoggedOut}, StateLoggedOut, "relais whatsapp pair", true},
		{&waevents.TemporaryBan{Code: waevents.TempBanSentToTooManyPeople, Expire: time.Hour}, StateTemporaryBan, "code 101", false},
		{&waevents.ClientOutdated{}, StateClientOutdated, "upgrade relais", true},
		{&waevents.StreamReplaced{}, StateStreamReplaced, "only one relais", true},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			if failed := dispatch(tt.evt); failed {
				t.Fatal("lifecycle event reported a failure")
			}
			h := a.Health()
			if h.State != tt.state || !strings.Contains(h.LastError, tt.errHas) || h.Ready() {
				t.Errorf("Health = %+v, want state %s with %q", h, tt.state, tt.errHas)
			}
			if got := metricValue(t, a.metrics.state.WithLabelValues(tt.state)); got != 1 {
				t.Errorf("relais_whatsapp_state{state=%q} = %v, want 1", tt.state, got)
			}
			if got := metricValue(t, a.metrics.state.WithLabelValues(StateConnected)); got != 0 {
				t.Errorf("relais_whatsapp_state{state=connected} = %v, want 0", got)
			}
			select {
			case sig := <-a.stops:
				if sig.permanent != tt.permanent {
					t.Errorf("stop signal %+v, permanent want %v", sig, tt.permanent)
				}
			default:
				t.Error("no stop signal for Run")
			}
		})
	}
	if failed := dispatch(&waevents.Connected{}); failed || !a.Health().Ready() {
		t.Errorf("after Connected: %+v", a.Health())
	}
}

func TestNewNotPaired(t *testing.T) {
	env := eventstest.New(t)
	_, err := New(context.Background(), Config{DataDir: t.TempDir()}, env.JS, env.Names, env.Pub)
	if !errors.Is(err, ErrNotPaired) {
		t.Fatalf("New on an empty store: %v, want ErrNotPaired", err)
	}
}

// TestRunWaitsForLock: while another process holds the device's session, Run does not
// connect: it waits, says so in Health, and returns cleanly when stopped.
func TestRunWaitsForLock(t *testing.T) {
	env := eventstest.New(t)
	a := newTestAdapter(t, env, nil)
	ctx := context.Background()
	kv, err := env.JS.KeyValue(ctx, env.Names.LocksBucket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "whatsapp-"+botPN.User, []byte("other-host/1")); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for a.Health().State != StateWaitingLock {
		if time.Now().After(deadline) {
			t.Fatalf("state = %s, want %s", a.Health().State, StateWaitingLock)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.cli.IsConnected() {
		t.Fatal("connected without the lock")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if a.Health().State != StateStopped {
		t.Errorf("state after Run = %s", a.Health().State)
	}
}

func withTitle(e events.Event, chat types.JID, title string) events.Event {
	e.Group = &events.Group{ID: chat.String(), Title: title}
	return e
}

func equalEvent(a, b events.Event) bool {
	ea, err1 := events.Encode(a)
	eb, err2 := events.Encode(b)
	return err1 == nil && err2 == nil && string(ea) == string(eb)
}

// metricValue reads a single counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
