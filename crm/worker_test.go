package crm_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/crm/nationbuilder"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

var allTags = []string{"relais-actif", "relais-leader", "relais-nouveau", "relais-inactif", "relais-groupe-lyon", "relais-groupe-paris", "relais-stop"}

// change builds the full desired state of one member, as the bridge would publish it.
func change(member string, seq int, tags []string, objector bool, phone string) events.ContactChange {
	if objector {
		tags = []string{"relais-stop"}
	}
	remove := slices.DeleteFunc(slices.Clone(allTags), func(t string) bool { return slices.Contains(tags, t) })
	return events.ContactChange{
		V: events.Version, ID: fmt.Sprintf("%s-%d", member, seq), Member: member, ExternalID: events.ExternalID(member),
		Op: events.OpUpsert, FirstName: "Camille", LastName: "Martin-" + member, Phone: phone,
		Handles: []events.Handle{{Platform: events.Telegram, ID: "tg-" + member}},
		Tags:    tags, RemoveTags: remove, DoNotContact: objector, At: time.Now().UTC(),
	}
}

type rig struct {
	env    *eventstest.Env
	nb     *crmtest.NationBuilder
	worker *crm.Worker
	cancel context.CancelFunc
	done   chan error
}

// startRig runs a worker against a fake nation; it stops with the test.
func startRig(t *testing.T, cfg crm.WorkerConfig) *rig {
	t.Helper()
	return startRigWith(t, cfg, nil)
}

// startRigWith is startRig with a look at the worker before it runs.
func startRigWith(t *testing.T, cfg crm.WorkerConfig, before func(*crm.Worker)) *rig {
	t.Helper()
	env := eventstest.New(t)
	nb := crmtest.NewNationBuilder(t, "test-token")
	client, err := nationbuilder.New(nationbuilder.Config{
		BaseURL: nb.URL, Token: "test-token",
		HTTPClient: crm.NewHTTPClient(crm.NewThrottle(2000, 200)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = 2000, 200
	}
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay, cfg.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	w, err := crm.NewWorker(cfg, env.JS, env.Names, env.Pub, client)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{env: env, nb: nb, worker: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(r.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := w.Status(context.Background()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("worker never created its consumer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	<-r.done
}

func (r *rig) publish(t *testing.T, cs ...events.ContactChange) {
	t.Helper()
	for _, c := range cs {
		if err := r.env.Pub.ContactChange(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// waitDrained waits until the worker has acked every change published so far.
func (r *rig) waitDrained(t *testing.T, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	s, err := r.env.JS.Stream(ctx, r.env.Names.CRMStream())
	if err != nil {
		t.Fatal(err)
	}
	sinfo, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := sinfo.State.LastSeq
	cons, err := r.env.JS.Consumer(ctx, r.env.Names.CRMStream(), r.env.Names.CRMConsumer())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		info, err := cons.Info(ctx)
		if err == nil && info.Delivered.Stream >= last && info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}

		if time.Now().After(deadline) {
			t.Fatalf("consumer not drained after %v: %+v (err %v); fake: %s", timeout, info, err, r.nb.Requests.Summary())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWorkerThousandChangesUnderFaults(t *testing.T) {
	r := startRig(t, crm.WorkerConfig{})
	// Rare 429s (each pauses every request for its 1 s Retry-After) and frequent 503s.
	r.nb.Faults.SetRetryAfter("1")
	r.nb.Faults.FailNext(429, 2)
	r.nb.Faults.SetRates(0.003, 0.05)

	const members, changes = 300, 1000
	rng := rand.New(rand.NewPCG(7, 7))
	final := map[string]events.ContactChange{}
	var all []events.ContactChange
	for i := range changes {
		m := fmt.Sprintf("m%03d", i%members)
		var tags []string
		for _, tag := range allTags[:6] {
			if rng.IntN(3) == 0 {
				tags = append(tags, tag)
			}
		}
		phone := ""
		if i%members < 100 {
			phone = fmt.Sprintf("+3361234%04d", i%members)
		}
		c := change(m, i, tags, i >= changes-members && rng.IntN(10) == 0, phone)
		all = append(all, c)
		final[m] = c
	}
	// Publish while the worker runs, so coalescing, supersession and retries all happen.
	r.publish(t, all...)
	r.waitDrained(t, 60*time.Second)

	signups := r.nb.Signups()
	if len(signups) != members {
		t.Fatalf("%d signups, want %d", len(signups), members)
	}
	seen := map[string]bool{}
	for _, s := range signups {
		if seen[s.ExternalID] {
			t.Fatalf("duplicate signup for %s", s.ExternalID)
		}
		seen[s.ExternalID] = true
	}
	for m, c := range final {
		s, ok := r.nb.SignupByExternalID(events.ExternalID(m))
		if !ok {
			t.Fatalf("no signup for %s", m)
		}
		want := slices.Sorted(slices.Values(c.Tags))
		if !slices.Equal(s.Tags, want) {
			t.Errorf("%s tags %v, want %v", m, s.Tags, want)
		}
		if s.DoNotContact != c.DoNotContact {
			t.Errorf("%s do_not_contact %v, want %v", m, s.DoNotContact, c.DoNotContact)
		}
		if s.MobileNumber != c.Phone {
			t.Errorf("%s mobile %q, want %q", m, s.MobileNumber, c.Phone)
		}
		if s.MobileOptIn || s.EmailOptIn {
			t.Errorf("%s was opted in to mass messages", m)
		}
	}
	if n := r.nb.Requests.Malformed(); n != 0 {
		t.Errorf("%d malformed requests: %v", n, r.nb.Requests.MalformedReasons())
	}
	if n := r.env.StreamMsgs(t, r.env.Names.DLQStream()); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
	injected := r.nb.Faults.Injected()
	if injected[429] == 0 || injected[503] == 0 {
		t.Errorf("faults injected %v, want both 429 and 503", injected)
	}
	t.Logf("%d changes for %d members; faults injected %v; requests: %s", changes, members, injected, r.nb.Requests.Summary())
}

func TestWorkerRidesOutAnOutage(t *testing.T) {
	r := startRig(t, crm.WorkerConfig{})
	r.nb.Faults.SetDown(true)
	const members = 50
	final := map[string]events.ContactChange{}
	for round := range 3 {
		for i := range members {
			m := fmt.Sprintf("o%02d", i)
			c := change(m, round, allTags[:1+(i+round)%5], false, "")
			final[m] = c
			r.publish(t, c)
		}
		// While the CRM is down the stream holds one change per member, never a backlog.
		s, err := r.env.JS.Stream(context.Background(), r.env.Names.CRMStream())
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(r.env.Names.CRMFilter()))
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs > members {
			t.Fatalf("round %d: stream holds %d changes for %d members", round, info.State.Msgs, members)
		}
		for subj, n := range info.State.Subjects {
			if n != 1 {
				t.Fatalf("round %d: %s holds %d changes", round, subj, n)
			}
		}
		st, err := r.worker.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending > members {
			t.Fatalf("round %d: %d changes pending for %d members", round, st.Pending, members)
		}
	}
	// Let the worker fail for a while: every call answers 503.
	deadline := time.Now().Add(10 * time.Second)
	for r.nb.Faults.Injected()[503] < 3*members && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := r.nb.Faults.Injected()[503]; got < members {
		t.Fatalf("only %d calls during the outage", got)
	}
	if len(r.nb.Signups()) != 0 {
		t.Fatal("signups written while the CRM was down")
	}
	st, _ := r.worker.Status(context.Background())
	if st.LastError == "" {
		t.Error("status shows no error during the outage")
	}
	r.nb.Faults.SetDown(false)
	r.waitDrained(t, 30*time.Second)

	if got := len(r.nb.Signups()); got != members {
		t.Fatalf("%d signups after the outage, want %d", got, members)
	}
	for m, c := range final {
		s, _ := r.nb.SignupByExternalID(events.ExternalID(m))
		if want := slices.Sorted(slices.Values(c.Tags)); !slices.Equal(s.Tags, want) {
			t.Errorf("%s tags %v, want %v", m, s.Tags, want)
		}
	}
	if n := r.env.StreamMsgs(t, r.env.Names.DLQStream()); n != 0 {
		t.Errorf("%d dead letters after an outage, want 0", n)
	}
	st, _ = r.worker.Status(context.Background())
	if st.LastError != "" || st.LastSuccess.IsZero() {
		t.Errorf("status after recovery: %+v", st)
	}
}

func TestWorkerSkipsUnchangedState(t *testing.T) {
	r := startRig(t, crm.WorkerConfig{})
	first := change("same", 1, []string{"relais-actif"}, false, "+33612345678")
	r.publish(t, first)
	r.waitDrained(t, 10*time.Second)
	calls := r.nb.Requests.Total()
	if calls == 0 {
		t.Fatal("first change made no call")
	}

	tests := []struct {
		name  string
		edit  func(*events.ContactChange)
		calls bool
	}{
		{"same state, new id and time", func(c *events.ContactChange) {}, false},
		{"same tags in another order", func(c *events.ContactChange) { slices.Reverse(c.RemoveTags) }, false},
		{"new tag", func(c *events.ContactChange) {
			c.Tags = append(c.Tags, "relais-leader")
			c.RemoveTags = slices.DeleteFunc(c.RemoveTags, func(t string) bool { return t == "relais-leader" })
		}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := first
			c.Tags, c.RemoveTags = slices.Clone(first.Tags), slices.Clone(first.RemoveTags)
			tt.edit(&c)
			c.ID, c.At = fmt.Sprintf("same-again-%d", i), time.Now().UTC()
			before := r.nb.Requests.Total()
			r.publish(t, c)
			r.waitDrained(t, 10*time.Second)
			made := r.nb.Requests.Total() - before
			if tt.calls != (made > 0) {
				t.Fatalf("%d CRM calls, want calls=%v", made, tt.calls)
			}
			if tt.calls {
				first = c
			}
		})
	}
}

func TestWorkerErase(t *testing.T) {
	r := startRig(t, crm.WorkerConfig{})
	c := change("gone", 1, []string{"relais-actif"}, false, "")
	r.publish(t, c)
	r.waitDrained(t, 10*time.Second)
	if _, ok := r.nb.SignupByExternalID(c.ExternalID); !ok {
		t.Fatal("signup not created")
	}
	erase := events.ContactChange{V: events.Version, ID: "gone-erase", Member: "gone", ExternalID: c.ExternalID, Op: events.OpErase, At: time.Now().UTC()}
	r.publish(t, erase)
	r.waitDrained(t, 10*time.Second)
	if _, ok := r.nb.SignupByExternalID(c.ExternalID); ok {
		t.Fatal("signup still there after erase")
	}
	before := r.nb.Requests.Total()
	erase.ID = "gone-erase-again"
	r.publish(t, erase)
	r.waitDrained(t, 10*time.Second)
	if made := r.nb.Requests.Total() - before; made != 0 {
		t.Errorf("a repeated erase made %d calls", made)
	}
}

// rejecting is a sink that refuses every contact, echoing the name as some CRMs do.
type rejecting struct{ calls atomic.Int32 }

func (s *rejecting) Upsert(_ context.Context, c crm.Contact) (string, error) {
	s.calls.Add(1)
	return "", &crm.Error{Op: "save", Status: 422, Code: "invalid", Message: "first name " + c.FirstName + " is not allowed"}
}

func (s *rejecting) Erase(context.Context, string, string) error { return nil }

func TestWorkerDeadLettersRejectedContactWithoutPersonalData(t *testing.T) {
	env := eventstest.New(t)
	sink := &rejecting{}
	w, err := crm.NewWorker(crm.WorkerConfig{Concurrency: 1}, env.JS, env.Names, env.Pub, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	c := change("bad", 1, nil, false, "")
	c.FirstName = "Zéphyrine"
	if err := env.Pub.ContactChange(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for env.StreamMsgs(t, env.Names.DLQStream()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("rejected contact never dead-lettered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, err := env.JS.Stream(context.Background(), env.Names.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(context.Background(), env.Names.DLQSubject(env.Names.CRMSubject("bad")))
	if err != nil {
		t.Fatal(err)
	}
	reason := msg.Header.Get(events.HeaderReason)
	if reason == "" || !containsAll(reason, "422", "invalid") || containsAll(reason, "Zéphyrine") {
		t.Errorf("dead-letter reason %q: want the CRM's code without the name", reason)
	}
	if n := sink.calls.Load(); n != 1 {
		t.Errorf("a permanent rejection was tried %d times", n)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
