package health

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/crm/nationbuilder"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/events/eventstest"
)

// waitConditions probes until want says the conditions are right, or fails.
func waitConditions(t *testing.T, p Probe, what string, want func([]Condition) bool) []Condition {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := p.Conditions(context.Background())
		if want(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: conditions %+v", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func only(kind Kind, detail string) func([]Condition) bool {
	return func(cs []Condition) bool { return len(cs) == 1 && cs[0].Kind == kind && cs[0].Detail == detail }
}

func TestCRMProbeThroughFakeNationBuilder(t *testing.T) {
	env := eventstest.New(t)
	nb := crmtest.NewNationBuilder(t, "test-token")
	client, err := nationbuilder.New(nationbuilder.Config{BaseURL: nb.URL, Token: "test-token",
		HTTPClient: crm.NewHTTPClient(crm.NewThrottle(2000, 200))})
	if err != nil {
		t.Fatal(err)
	}
	w, err := crm.NewWorker(crm.WorkerConfig{Rate: 2000, Burst: 200, BaseDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond, Concurrency: 2},
		env.JS, env.Names, env.Pub, client)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	publish := func(member string, seq int) {
		t.Helper()
		c := events.ContactChange{V: events.Version, ID: member + "-" + string(rune('a'+seq)), Member: member,
			ExternalID: events.ExternalID(member), Op: events.OpUpsert, FirstName: "Camille", LastName: "Martin",
			Handles: []events.Handle{{Platform: events.Telegram, ID: "tg-" + member}}, Tags: []string{"relais-actif"}, At: time.Now().UTC()}
		if err := env.Pub.ContactChange(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	p := CRMProbe(w)
	if got := p.Conditions(context.Background()); len(got) != 0 {
		t.Fatalf("before any call: %+v", got)
	}
	nb.Faults.SetDown(true)
	publish("m1", 0)
	waitConditions(t, p, "503s", only(CRMFailing, "HTTP 503"))
	nb.Faults.SetDown(false)
	waitConditions(t, p, "recovered", func(cs []Condition) bool { return len(cs) == 0 })
	nb.ExpireToken()
	publish("m2", 1)
	waitConditions(t, p, "401", only(CRMCredentials, "HTTP 401"))
}

func TestCRMConditions(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   crm.Status
		want []Condition
	}{
		{"never failed", crm.Status{LastSuccess: at}, nil},
		{"failed then succeeded", crm.Status{LastError: "push signup: HTTP 503", LastErrorAt: at, LastSuccess: at.Add(time.Second)}, nil},
		{"503", crm.Status{LastError: "push signup: HTTP 503: Service Unavailable", LastErrorAt: at}, []Condition{{Kind: CRMFailing, Subject: "crm", Detail: "HTTP 503"}}},
		{"403", crm.Status{LastError: "push signup: HTTP 403 forbidden: no", LastErrorAt: at}, []Condition{{Kind: CRMCredentials, Subject: "crm", Detail: "HTTP 403"}}},
		{"no answer", crm.Status{LastError: "push signup: dial tcp: connection refused", LastErrorAt: at}, []Condition{{Kind: CRMFailing, Subject: "crm", Detail: "no answer"}}},
		{"a CRM message quoting 401 is not the status", crm.Status{LastError: "push signup: HTTP 422: field 401 invalid", LastErrorAt: at}, []Condition{{Kind: CRMFailing, Subject: "crm", Detail: "HTTP 422"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := crmConditions(tt.st)
			if len(got) != len(tt.want) || (len(got) == 1 && got[0] != tt.want[0]) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzCRMConditions(f *testing.F) {
	f.Add("push signup: HTTP 401 token_expired: expired")
	f.Add(": HTTP 99999")
	f.Fuzz(func(t *testing.T, msg string) {
		got := crmConditions(crm.Status{LastError: msg, LastErrorAt: time.Unix(1, 0)})
		if msg == "" {
			if len(got) != 0 {
				t.Fatalf("no error, conditions %+v", got)
			}
			return
		}
		if len(got) != 1 || len(got[0].Detail) > len("HTTP 503") && got[0].Detail != "no answer" {
			t.Fatalf("%q: %+v", msg, got)
		}
	})
}

func TestReachableNATSStoppedThenBack(t *testing.T) {
	dir := t.TempDir()
	srv, err := embedded.StartNATS(embedded.Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	p := Reachable(NATSUnreachable, "nats", func(ctx context.Context) error { return nc.FlushWithContext(ctx) })
	if got := p.Conditions(context.Background()); len(got) != 0 {
		t.Fatalf("NATS up: %+v", got)
	}
	srv.Shutdown()
	waitConditions(t, p, "NATS stopped", only(NATSUnreachable, ""))
	srv2, err := embedded.StartNATS(embedded.Options{Dir: dir, Listen: url[len("nats://"):]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv2.Shutdown)
	waitConditions(t, p, "NATS back", func(cs []Condition) bool { return len(cs) == 0 })
}

func TestDeadLetterProbe(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	p := DeadLetterProbe(env.JS, env.Names.DLQStream(), time.Hour, clk.now)
	if got := p.Conditions(ctx); len(got) != 0 {
		t.Fatalf("empty DLQ: %+v", got)
	}
	if _, err := env.JS.Publish(ctx, env.Names.DLQSubject(env.Names.CRMSubject("m1")), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if got := p.Conditions(ctx); !only(DeadLetters, "1")(got) {
		t.Fatalf("one dead letter: %+v", got)
	}
	clk.add(2 * time.Hour)
	if got := p.Conditions(ctx); len(got) != 0 {
		t.Fatalf("the last dead letter two hours old: %+v", got)
	}
	bad := DeadLetterProbe(env.JS, "NO_SUCH_STREAM", time.Hour, nil)
	if got := bad.Conditions(ctx); len(got) != 0 {
		t.Fatalf("unreadable stream, nothing seen before: %+v", got)
	}
}

func TestDiskProbe(t *testing.T) {
	tests := []struct {
		free, total uint64
		err         error
		low         bool
	}{
		{50, 100, nil, false},
		{10, 100, nil, false},
		{9, 100, nil, true},
		{0, 100, nil, true},
		{0, 0, nil, false},
		{0, 100, errors.New("statfs: no such dir"), false},
	}
	for _, tt := range tests {
		p := DiskProbe("/data", func(dir string) (uint64, uint64, error) {
			if dir != "/data" {
				t.Errorf("probed %q", dir)
			}
			return tt.free, tt.total, tt.err
		})
		got := p.Conditions(context.Background())
		if low := len(got) == 1 && got[0].Kind == DiskLow; low != tt.low {
			t.Errorf("free %d of %d (err %v): %+v, want low %v", tt.free, tt.total, tt.err, got, tt.low)
		}
	}
	free, total, err := Statfs(t.TempDir())
	if err != nil || total == 0 || free > total {
		t.Errorf("Statfs of a temp dir: %d free of %d, %v", free, total, err)
	}
}

func TestSilent(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	every := func(n int, gap, lastAgo time.Duration) []time.Time {
		var ts []time.Time
		for i := range n {
			ts = append(ts, now.Add(-lastAgo-time.Duration(i)*gap))
		}
		return ts
	}
	tests := []struct {
		name  string
		times []time.Time
		want  bool
	}{
		{"daily group quiet a week", every(20, 24*time.Hour, 7*24*time.Hour), true},
		{"daily group quiet three days", every(20, 24*time.Hour, 3*24*time.Hour), false},
		{"hourly group quiet a day: under the 48 h floor", every(50, time.Hour, 24*time.Hour), false},
		{"hourly group quiet three days", every(50, time.Hour, 72*time.Hour), true},
		{"weekly group quiet three weeks", every(20, 7*24*time.Hour, 21*24*time.Hour), false},
		{"too few events to know", every(5, time.Hour, 30*24*time.Hour), false},
		{"no events", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Silent(tt.times, now); got != tt.want {
				t.Errorf("Silent = %v, want %v", got, tt.want)
			}
		})
	}
	calls := 0
	p := SilenceProbe(func(context.Context) (map[string][]time.Time, error) {
		calls++
		if calls > 1 {
			return nil, errors.New("redis down")
		}
		return map[string][]time.Time{"g1": every(20, 24*time.Hour, 7*24*time.Hour), "g2": every(20, 24*time.Hour, time.Hour)}, nil
	}, func() time.Time { return now })
	for range 2 {
		if got := p.Conditions(context.Background()); !(len(got) == 1 && got[0].Kind == GroupSilent && got[0].Subject == "g1") {
			t.Errorf("silence probe (call %d): %+v", calls, got)
		}
	}
}
