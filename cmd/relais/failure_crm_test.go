//go:build failure

package main

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventsim"
)

// The CRM (a fake NationBuilder) down for a while, answering 503 and then 429 with
// Retry-After, while the bridge keeps tagging members: the stream holds at most one change
// per member throughout, and once the CRM is back every member's newest state is in it, each
// member exactly once.
func TestFailureCRMDownThenBack(t *testing.T) {
	// The same workload on both Redis: after a 429 the worker runs at a quarter of
	// NationBuilder's rate for a minute, so the recovery time grows with the contacts, not
	// with the events.
	const n = 6_000
	const rounds = 3
	bb := newFailBackbone(t)
	rdb, redisURL := failRedis(t)
	nb := crmtest.NewNationBuilder(t, "failure-token")
	nb.Faults.SetRetryAfter("1")
	d := newFailDeployment(t, bb, rdb, redisURL, map[string]string{
		"CRM": "nationbuilder", "NATIONBUILDER_BASE_URL": nb.URL, "NATIONBUILDER_TOKEN": "failure-token",
	})
	sim := eventsim.DefaultConfig(n)
	sim.Members, sim.Groups, sim.Leaders = 250, 5, 10
	wl := eventsim.Generate(sim)

	// The bridge and the CRM worker, wired as relais run --roles=bridge,crm wires them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rt, err := openRuntime(ctx, d.config(t), failLogger(t), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	worker, crmTasks, err := crmRole(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	_, bridgeTasks, err := bridgeRole(ctx, rt, worker)
	if err != nil {
		t.Fatal(err)
	}
	nb.Faults.SetDown(true)
	runCtx, stopRoles := context.WithCancel(ctx)
	var roles sync.WaitGroup
	for _, tk := range append(crmTasks, bridgeTasks...) {
		roles.Go(func() {
			if err := tk.run(runCtx); err != nil && runCtx.Err() == nil {
				t.Errorf("%s: %v", tk.name, err)
			}
		})
	}
	defer func() { stopRoles(); roles.Wait() }()

	// Watch the CRM stream for the whole outage.
	var (
		watchMu       sync.Mutex
		maxPerMember  uint64
		maxPending    uint64
		maxMembers    int
		samples       int
		pendingOver   int
		watchStop     = make(chan struct{})
		watchDone     = make(chan struct{})
		crmStream, _  = bb.js.Stream(ctx, d.names.CRMStream())
		outageStarted = time.Now()
	)
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-watchStop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			info, err := crmStream.Info(ctx, jetstream.WithSubjectFilter(d.names.CRMFilter()))
			if err != nil {
				continue
			}
			st, err := worker.Status(ctx)
			if err != nil {
				continue
			}
			watchMu.Lock()
			samples++
			maxMembers = max(maxMembers, len(info.State.Subjects))
			for _, c := range info.State.Subjects {
				maxPerMember = max(maxPerMember, c)
			}
			maxPending = max(maxPending, st.Pending)
			if st.Pending > uint64(len(info.State.Subjects)) {
				pendingOver++
			}
			watchMu.Unlock()
		}
	}()

	// Three rounds of conversation while the CRM is down: members cross the bars, so most
	// have several changes queued, each replacing the one before. The last round the CRM
	// answers 429 (Retry-After: 1) or 503 to every call.
	var published uint64
	for r := range rounds {
		if r == rounds-1 {
			nb.Faults.SetDown(false)
			nb.Faults.SetRates(0.3, 0.7)
		}
		part := wl.Events[len(wl.Events)*r/rounds : len(wl.Events)*(r+1)/rounds]
		if _, err := failPublish(ctx, bb.js, d.pub, part); err != nil {
			t.Fatal(err)
		}
		published += uint64(len(part))
		failWaitDrained(t, bb.js, d.names.EventsStream(), d.names.BridgeConsumer(), published, 3*time.Minute)
		if got := len(nb.Signups()); got != 0 {
			t.Fatalf("round %d: %d signups written while the CRM fails every call", r, got)
		}
	}
	// Let the worker keep failing a little longer with everything queued.
	for time.Since(outageStarted) < 5*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	outage := time.Since(outageStarted)
	injected := nb.Faults.Injected()
	statusDown, _ := worker.Status(ctx)

	recovered := time.Now()
	nb.Faults.SetRates(0, 0)
	_, lastSeq := failContactStates(t, bb.js, d.names)
	failWaitDrained(t, bb.js, d.names.CRMStream(), d.names.CRMConsumer(), lastSeq, 3*time.Minute)
	recovery := time.Since(recovered)
	close(watchStop)
	<-watchDone

	// Nothing new may have been decided meanwhile: the conversation ended.
	contacts, seq := failContactStates(t, bb.js, d.names)
	if seq != lastSeq {
		t.Fatalf("contact changes published after the conversation ended (%d → %d)", lastSeq, seq)
	}
	if len(contacts) == 0 {
		t.Fatal("no contact desired: the workload proves nothing")
	}
	signups := nb.Signups()
	byExternal := map[string]int{}
	for _, s := range signups {
		byExternal[s.ExternalID]++
	}
	for x, c := range byExternal {
		if c > 1 {
			t.Errorf("%d signups for %s", c, x)
		}
	}
	if len(signups) != len(contacts) {
		t.Errorf("%d signups, %d contacts desired", len(signups), len(contacts))
	}
	wrong := 0
	for m, c := range contacts {
		s, ok := nb.SignupByExternalID(events.ExternalID(m))
		switch {
		case !ok:
			t.Errorf("member %s: no signup", m)
		case !slices.Equal(s.Tags, slices.Sorted(slices.Values(c.Tags))) || s.DoNotContact != c.DoNotContact ||
			s.FirstName != c.FirstName || s.LastName != c.LastName:
			if wrong == 0 {
				t.Errorf("member %s: signup %+v, desired tags %v, names %q %q", m, s, c.Tags, c.FirstName, c.LastName)
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d signups differ from the desired state", wrong)
	}
	if n := nb.Requests.Malformed(); n != 0 {
		t.Errorf("%d malformed requests: %v", n, nb.Requests.MalformedReasons())
	}
	if dl := failStreamMsgs(t, bb.js, d.names.DLQStream()); dl != 0 {
		t.Errorf("%d dead letters, want 0", dl)
	}
	watchMu.Lock()
	defer watchMu.Unlock()
	if maxPerMember > 1 {
		t.Errorf("the CRM stream held %d changes for one member", maxPerMember)
	}
	if injected[503] == 0 || injected[429] == 0 {
		t.Errorf("faults injected %v, want 503 and 429", injected)
	}
	st, _ := worker.Status(ctx)
	if st.LastError != "" {
		t.Errorf("worker status after recovery still shows an error")
	}
	if statusDown.LastError == "" {
		t.Errorf("worker status during the outage showed no error")
	}
	tagged := map[string]int{}
	for _, c := range contacts {
		for _, tag := range c.Tags {
			if tag == "relais-actif" || tag == "relais-leader" {
				tagged[tag]++
			}
		}
	}
	t.Logf("%d events in %d rounds while the CRM was down for %s (503, then 429 Retry-After 1 / 503): faults injected %v",
		n, rounds, outage.Round(time.Millisecond), injected)
	// The worker's pending count can briefly exceed the members queued: a change replaced
	// while it was being delivered stays ack-pending on the consumer until settled.
	t.Logf("CRM stream during the outage: %d contact changes published for %d members; at most %d per member, %d members and %d pending at once (%d samples, %d with pending above members queued)",
		seq, len(contacts), maxPerMember, maxMembers, maxPending, samples, pendingOver)
	t.Logf("after the CRM came back: drained in %s; %d signups (%d actif, %d leader), no duplicate external_id; requests %s",
		recovery.Round(time.Millisecond), len(signups), tagged["relais-actif"], tagged["relais-leader"], nb.Requests.Summary())
}
