package crm_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/crm/nationbuilder"
	"github.com/relais-bot/relais/events/eventstest"
)

// countingTransport counts the requests one process sends.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func locks(t *testing.T, env *eventstest.Env) jetstream.KeyValue {
	t.Helper()
	kv, err := env.JS.KeyValue(context.Background(), env.Names.LocksBucket())
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestTwoWorkersOneWriterAtATime: two CRM workers, as two processes would run them (each its
// own client and throttle, one pace key between them), on the same stream against a nation
// limited to 20 requests in any second. One writes while the other stands by (two writers
// could deliver a member's older change after its newer one), the nation's limit holds, and
// when the writer stops the other takes over and drains what follows.
func TestTwoWorkersOneWriterAtATime(t *testing.T) {
	const limit, window = 20, time.Second
	env := eventstest.New(t)
	nb := crmtest.NewNationBuilder(t, "test-token")
	nb.Rate.Set(limit, window)
	kv := locks(t, env)
	var (
		sent    [2]*countingTransport
		cancels [2]context.CancelFunc
		done    [2]chan error
	)
	for i := range 2 {
		sent[i] = &countingTransport{}
		th := crm.NewSharedThrottle(kv, "crm-pace-nationbuilder", limit, window, nil)
		client, err := nationbuilder.New(nationbuilder.Config{
			BaseURL: nb.URL, Token: "test-token",
			HTTPClient: &http.Client{Transport: th.Transport(sent[i]), Timeout: 30 * time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Each worker alone may go as fast as it likes: only the shared pace holds them.
		w, err := crm.NewWorker(crm.WorkerConfig{Rate: 1000, Burst: 100, Concurrency: 4,
			BaseDelay: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond}, env.JS, env.Names, env.Pub, client)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i], done[i] = cancel, make(chan error, 1)
		go func() { done[i] <- w.Run(ctx) }()
	}
	t.Cleanup(func() {
		for i := range 2 {
			cancels[i]()
			<-done[i]
		}
	})
	r := &rig{env: env, nb: nb}
	const members = 30
	for i := range members {
		r.publish(t, change(fmt.Sprintf("m%02d", i), 1, []string{"relais-actif"}, false, ""))
	}
	start := time.Now()
	r.waitDrained(t, 60*time.Second)
	if got := len(nb.Signups()); got != members {
		t.Fatalf("%d signups, want %d; fake: %s", got, members, nb.Requests.Summary())
	}
	t.Logf("%d requests in %s (%d and %d by each worker); most in one second: %d of %d; refused: %d",
		nb.Requests.Total(), time.Since(start).Round(time.Millisecond), sent[0].n.Load(), sent[1].n.Load(), nb.Rate.Max(), limit, nb.Rate.Refused())
	writer, standby := 0, 1
	if sent[0].n.Load() == 0 {
		writer, standby = 1, 0
	}
	if sent[writer].n.Load() == 0 || sent[standby].n.Load() != 0 {
		t.Fatalf("requests by each worker: %d and %d, want one writer and one standing by", sent[0].n.Load(), sent[1].n.Load())
	}
	if got := nb.Rate.Max(); got > limit {
		t.Errorf("the nation saw %d requests in one second, over its limit of %d", got, limit)
	}
	if got := nb.Rate.Refused(); got != 0 {
		t.Errorf("the nation refused %d requests", got)
	}

	// The writer stops (its lock released): the other takes over.
	cancels[writer]()
	if err := <-done[writer]; err != nil {
		t.Fatalf("the writer stopped with %v", err)
	}
	done[writer] <- nil // for the cleanup
	for i := range 5 {
		r.publish(t, change(fmt.Sprintf("n%02d", i), 1, []string{"relais-actif"}, false, ""))
	}
	r.waitDrained(t, 60*time.Second)
	if got := len(nb.Signups()); got != members+5 {
		t.Fatalf("%d signups after the takeover, want %d", got, members+5)
	}
	if sent[standby].n.Load() == 0 {
		t.Error("the standby worker did not take over")
	}
}

// TestSharedThrottle429PausesEveryProcess: a 429 seen by one process pauses the other for
// the Retry-After: they share the pause as they share the pace.
func TestSharedThrottle429PausesEveryProcess(t *testing.T) {
	env := eventstest.New(t)
	kv := locks(t, env)
	a := crm.NewSharedThrottle(kv, "crm-pace-test", 100, time.Second, nil)
	b := crm.NewSharedThrottle(kv, "crm-pace-test", 100, time.Second, nil)
	ctx := context.Background()
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	const pause = 500 * time.Millisecond
	a.Backoff(pause)
	start := time.Now()
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < pause*8/10 {
		t.Errorf("the other process waited %s after a %s Retry-After", took, pause)
	}
	// A request that cannot get its turn before its deadline fails as pacing, not as a CRM
	// failure.
	a.Backoff(time.Minute)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := b.Wait(short)
	if err == nil {
		t.Fatal("Wait returned during a minute's pause")
	}
	req, _ := http.NewRequestWithContext(short, http.MethodGet, "http://127.0.0.1:1/", nil)
	_, err = b.Transport(nil).RoundTrip(req)
	if !crm.IsPaced(err) {
		t.Errorf("transport error %v is not pacing", err)
	}
}
