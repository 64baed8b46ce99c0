package crm_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/crm/nationbuilder"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// BenchmarkChangeLatencyUnderFaults measures how late contact changes reach a NationBuilder
// that throttles one request in nine (429, Retry-After 1 s) and fails one in twenty-three
// (503), through the production pace (NationBuilder's 250 requests / 10 s, shared in the
// locks bucket): the time from a change's publish to the fake holding its tags. Changes are
// published one a second to distinct members (honouring a 1 s Retry-After on one request in
// nine caps any client near 9 requests a second, three changes a second at most). The figures are
// reported as p50_s, p99_s and max_s; the goal is p99 under 10 s.
//
//	go test -run '^$' -bench ChangeLatencyUnderFaults -benchtime 1x ./crm/
func BenchmarkChangeLatencyUnderFaults(b *testing.B) {
	for range b.N {
		env := eventstest.New(b)
		nb := crmtest.NewNationBuilder(b, "bench-token")
		nb.Faults.SetRates(1.0/9, 1.0/23)
		kv, err := env.JS.KeyValue(context.Background(), env.Names.LocksBucket())
		if err != nil {
			b.Fatal(err)
		}
		client, err := nationbuilder.New(nationbuilder.Config{BaseURL: nb.URL, Token: "bench-token",
			HTTPClient: crm.NewHTTPClient(crm.NewSharedThrottle(kv, "crm-pace-bench", 250, 10*time.Second, nil))})
		if err != nil {
			b.Fatal(err)
		}
		w, err := crm.NewWorker(crm.WorkerConfig{Concurrency: 8}, env.JS, env.Names, env.Pub, client)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()

		const n = 90
		published := make([]time.Time, n)
		arrived := make([]time.Duration, n)
		var wg sync.WaitGroup
		for i := range n {
			member := fmt.Sprintf("lat%04d", i)
			c := events.ContactChange{V: events.Version, ID: "cc-" + member, Member: member,
				ExternalID: events.ExternalID(member), Op: events.OpUpsert, FirstName: "Camille", LastName: "Martin",
				Tags: []string{"relais-actif", "relais-groupe-lyon"}, At: time.Now().UTC()}
			published[i] = time.Now()
			if err := env.Pub.ContactChange(context.Background(), c); err != nil {
				b.Fatal(err)
			}
			wg.Go(func() {
				deadline := time.Now().Add(2 * time.Minute)
				for time.Now().Before(deadline) {
					if s, ok := nb.SignupByExternalID(c.ExternalID); ok && slices.Contains(s.Tags, "relais-groupe-lyon") && slices.Contains(s.Tags, "relais-actif") {
						arrived[i] = time.Since(published[i])
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				arrived[i] = -1
			})
			time.Sleep(time.Second) // a change a second: a busy section on election night
		}
		wg.Wait()
		cancel()
		<-done
		var lat []time.Duration
		missing := 0
		for i, d := range arrived {
			if d < 0 {
				missing++
				s, ok := nb.SignupByExternalID(events.ExternalID(fmt.Sprintf("lat%04d", i)))
				b.Logf("lat%04d missing: signup %+v found %v", i, s, ok)
				continue
			}
			lat = append(lat, d)
		}
		if missing > 0 {
			b.Fatalf("%d changes never reached NationBuilder within 2 minutes; routes %v", missing, nb.Requests.ByRoute())
		}
		slices.Sort(lat)
		b.ReportMetric(lat[len(lat)/2].Seconds(), "p50_s")
		b.ReportMetric(lat[len(lat)*99/100].Seconds(), "p99_s")
		b.ReportMetric(lat[len(lat)-1].Seconds(), "max_s")
		inj := nb.Faults.Injected()
		b.ReportMetric(float64(inj[429]), "429s")
		b.ReportMetric(float64(inj[503]), "503s")
	}
}
