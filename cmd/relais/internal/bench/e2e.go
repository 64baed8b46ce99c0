package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/local"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventsim"
)

// benchEndToEnd runs the real bridge (consent store in notice policy) and the real CRM worker
// (local SQLite CRM, every call counted) while the workload is published, and fills the
// end-to-end, CRM, leader and latency figures of rep.
func benchEndToEnd(ctx context.Context, env *Env, o Options, w eventsim.Workload, rep *Report, say func(string, ...any)) error {
	names, pub, err := env.setup(ctx, "E")
	if err != nil {
		return err
	}
	store, err := consent.New(ctx, env.js, names, bridge.PolicyNotice)
	if err != nil {
		return err
	}
	defer store.Close()
	cfg := o.bridgeConfig(env.keyPrefix("E"))
	cfg.SingleWriter = env.embeddedRedis // as relais run configures it
	reg := prometheus.NewRegistry()      // the bridge's batch histogram explains its rate
	cfg.Registerer = reg
	b, err := bridge.New(cfg, env.rdb, env.js, pub, store, nil)
	if err != nil {
		return err
	}
	db, err := local.Open(ctx, filepath.Join(env.dataDir, "crm.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	sink := newBenchSink(db)
	worker, err := crm.NewWorker(crm.WorkerConfig{Rate: o.crmRate(), Burst: 100}, env.js, names, pub, sink)
	if err != nil {
		return err
	}

	// A role that fails ends the waits below with its error instead of a hang.
	waitCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() {
		if err := b.Run(runCtx); err != nil {
			fail(fmt.Errorf("bench: bridge: %w", err))
		}
	})
	wg.Go(func() {
		if err := worker.Run(runCtx); err != nil && runCtx.Err() == nil {
			fail(fmt.Errorf("bench: crm worker: %w", err))
		}
	})

	// The workload arrives as from adapters: other processes, so another connection than the
	// bridge's and the CRM worker's.
	adapterJS, adapterPub, closeAdapter, err := env.publisher(names)
	if err != nil {
		return err
	}
	defer closeAdapter()
	memBefore, memErr := benchRedisMemory(ctx, env.rdb)
	acked := benchAcked(reg, len(w.Events))
	start := time.Now()
	if err := benchPublish(waitCtx, adapterJS, adapterPub, w.Events); err != nil {
		return err
	}
	if err := benchWaitDrained(waitCtx, env.js, names.EventsStream(), names.BridgeConsumer(), acked); err != nil {
		return err
	}
	bridgeTime := time.Since(start)
	// RELAIS_CRM keeps one change per member: its pending count is cheap to ask often.
	if err := benchWaitDrained(waitCtx, env.js, names.CRMStream(), names.CRMConsumer(), func() bool { return true }); err != nil {
		return err
	}
	crmTime := time.Since(start)
	rep.Bridge = benchPerSecond(len(w.Events), bridgeTime)
	rep.BridgeSeconds, rep.CRMSeconds = bridgeTime.Seconds(), crmTime.Seconds()

	if rep.BridgeBatches, rep.BatchSeconds, err = benchBatches(reg); err != nil {
		return err
	}
	if rep.BridgeBatches > 0 {
		rep.MeanBatch = float64(len(w.Events)) / float64(rep.BridgeBatches)
		rep.BatchSeconds /= float64(rep.BridgeBatches)
	}
	crmInfo, err := benchStreamState(ctx, env.js, names.CRMStream())
	if err != nil {
		return err
	}
	// One message per subject is kept, one subject per member; the sequence counts every
	// change ever published (nothing else writes to the stream).
	rep.ContactChanges, rep.MembersChanged = int(crmInfo.LastSeq), int(crmInfo.Msgs)
	rep.ChangesPerMember = benchRatio(float64(rep.ContactChanges), float64(rep.MembersChanged))
	rep.CRMCalls = sink.callCount()
	rep.CallsPerChange = benchRatio(float64(rep.CRMCalls), float64(rep.ContactChanges))

	if rep.Leaders, err = benchLeaderScore(ctx, b.Query(), env.hasher, b.Config().TagPrefix, w, o.Members); err != nil {
		return err
	}
	if memAfter, err := benchRedisMemory(ctx, env.rdb); err == nil && memErr == nil {
		rep.RedisBytes = memAfter - memBefore
	}

	// A restart: a second bridge rebuilds the whole state from the same log into an empty
	// key space, as relais does at every start on the embedded Redis.
	rcfg := o.bridgeConfig(env.keyPrefix("B"))
	rcfg.SingleWriter = env.embeddedRedis
	rb, err := bridge.New(rcfg, env.rdb, env.js, pub, store, nil)
	if err != nil {
		return err
	}
	rstart := time.Now()
	if err := rb.Replay(ctx, time.Time{}); err != nil {
		return fmt.Errorf("bench: rebuild: %w", err)
	}
	rep.Rebuild = benchPerSecond(len(w.Events), time.Since(rstart))
	if err := benchDeletePrefix(ctx, env.rdb, env.keyPrefix("B")); err != nil {
		return err
	}
	say("   bridge %.0f events/s, rebuild %.0f events/s, %d contact changes, %d CRM calls; measuring latency",
		rep.Bridge, rep.Rebuild, rep.ContactChanges, rep.CRMCalls)
	rep.Latency, err = benchLatencies(waitCtx, env, o, names, adapterJS, adapterPub, sink)
	return err
}

// benchBatches reads how many batches the bridge applied and their total time.
func benchBatches(reg *prometheus.Registry) (n int, seconds float64, err error) {
	ms, err := benchMetrics(reg, "relais_bridge_batch_seconds")
	for _, m := range ms {
		h := m.GetHistogram()
		n += int(h.GetSampleCount())
		seconds += h.GetSampleSum()
	}
	return n, seconds, err
}

// benchMetrics returns the metrics of the family name gathered from reg.
func benchMetrics(reg *prometheus.Registry, name string) ([]*dto.Metric, error) {
	families, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric(), nil
		}
	}
	return nil, nil
}

// benchPublish publishes evs as adapters do (Nats-Msg-Id set) without waiting for each ack,
// keeping at most 4000 in flight, and returns once every ack arrived.
func benchPublish(ctx context.Context, js jetstream.JetStream, pub *events.Publisher, evs []events.Event) error {
	const window = 4000
	pending := make([]jetstream.PubAckFuture, 0, window)
	flush := func() error {
		for _, f := range pending {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("bench publish: %w", err)
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		pending = pending[:0]
		return nil
	}
	for _, e := range evs {
		m, err := pub.EventMsg(e)
		if err != nil {
			return err
		}
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("bench publish: %w", err)
		}
		if pending = append(pending, f); len(pending) == window {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func benchStreamState(ctx context.Context, js jetstream.JetStream, stream string) (jetstream.StreamState, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("bench: stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("bench: stream %s: %w", stream, err)
	}
	return info.State, nil
}

// benchDrainStall is how long a consumer may make no progress before the bench gives up.
const benchDrainStall = 2 * time.Minute

// benchWaitDrained waits until the durable consumer has acked everything its stream holds now.
// The consumer may not exist yet (its process is starting).
//
// Asking is a consumer info request, which a server before 2.10 answers by counting pending
// messages through the whole stream: asked every few milliseconds, it took most of the
// server's CPU from what is measured. So the server is asked when likely (likely, if not nil,
// says so from the process's own counters) and otherwise once per benchDrainPoll.
func benchWaitDrained(ctx context.Context, js jetstream.JetStream, stream, consumer string, likely func() bool) error {
	st, err := benchStreamState(ctx, js, stream)
	if err != nil {
		return err
	}
	want := st.LastSeq
	var lastFloor uint64
	lastMove, lastAsk := time.Now(), time.Time{}
	for {
		since := time.Since(lastAsk)
		if since >= benchDrainPoll || (since >= benchDrainLikelyPoll && likely != nil && likely()) {
			lastAsk = time.Now()
			cons, err := js.Consumer(ctx, stream, consumer)
			if err == nil {
				info, err := cons.Info(ctx)
				if err == nil {
					if info.AckFloor.Stream >= want && info.NumAckPending == 0 {
						return nil
					}
					if info.AckFloor.Stream != lastFloor {
						lastFloor, lastMove = info.AckFloor.Stream, time.Now()
					}
				}
			} else if !errors.Is(err, jetstream.ErrConsumerNotFound) && ctx.Err() == nil {
				return fmt.Errorf("bench: consumer %s: %w", consumer, err)
			}
		}
		if time.Since(lastMove) > benchDrainStall {
			return fmt.Errorf("bench: consumer %s of %s stalled at %d of %d for %s", consumer, stream, lastFloor, want, benchDrainStall)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// How often benchWaitDrained asks the server: when nothing says it is done, and when it is
// likely done.
const (
	benchDrainPoll       = 2 * time.Second
	benchDrainLikelyPoll = 20 * time.Millisecond
)

// benchAcked returns a likely func for benchWaitDrained: true once the bridge's counter of
// acked events, read from reg, has grown by n.
func benchAcked(reg *prometheus.Registry, n int) func() bool {
	base := benchAckedCount(reg)
	return func() bool { return benchAckedCount(reg) >= base+n }
}

// benchAckedCount is 0 when the metrics cannot be read: benchWaitDrained then asks the server
// at its slower pace.
func benchAckedCount(reg *prometheus.Registry) int {
	ms, _ := benchMetrics(reg, "relais_bridge_acked_total")
	n := 0
	for _, m := range ms {
		n += int(m.GetCounter().GetValue())
	}
	return n
}

// benchSink counts the CRM worker's calls and tells who waits for a contact when it is
// written.
type benchSink struct {
	inner crm.Sink
	mu    sync.Mutex
	calls int
	wait  map[string]chan time.Time // external id → when its first write after expect succeeded
}

func newBenchSink(inner crm.Sink) *benchSink {
	return &benchSink{inner: inner, wait: map[string]chan time.Time{}}
}

func (s *benchSink) Upsert(ctx context.Context, c crm.Contact) (string, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	ref, err := s.inner.Upsert(ctx, c)
	if err == nil {
		s.written(c.ExternalID)
	}
	return ref, err
}

func (s *benchSink) Erase(ctx context.Context, externalID, ref string) error {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	err := s.inner.Erase(ctx, externalID, ref)
	if err == nil {
		s.written(externalID)
	}
	return err
}

func (s *benchSink) written(externalID string) {
	at := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.wait[externalID]; ok {
		delete(s.wait, externalID)
		ch <- at
	}
}

// expect returns a channel that receives the time of the next write of externalID.
func (s *benchSink) expect(externalID string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	s.mu.Lock()
	s.wait[externalID] = ch
	s.mu.Unlock()
	return ch
}

func (s *benchSink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// benchLatencyTimeout is how long one tipping event may take to reach the CRM before it counts as
// missed.
const benchLatencyTimeout = 30 * time.Second

// benchLatencies measures events → CRM on an idle pipeline: members outside the workload
// first get one message short of the active bar (over the bar's days), then, one member at
// a time, the message that makes them active is published and the CRM write it causes is
// awaited. Latency runs from the publish call to the Sink's write returning.
func benchLatencies(ctx context.Context, env *Env, o Options, names events.Names, js jetstream.JetStream, pub *events.Publisher, sink *benchSink) (benchLatency, error) {
	var out benchLatency
	if o.LatencySamples == 0 {
		return out, nil
	}
	bars := o.bridgeConfig("")
	msgs, days := 10, 3 // the deployment defaults bridgeConfig leaves in place
	if bars.ActiveMinMessages > 0 {
		msgs = bars.ActiveMinMessages
	}
	if bars.ActiveMinDays > 0 {
		days = bars.ActiveMinDays
	}
	group := &events.Group{ID: eventsim.GroupID(9999999), Title: "Bench latence"}
	now := time.Now().UTC()
	member := func(i int) events.Member {
		id := strconv.Itoa(900000000 + i)
		return events.Member{ID: id, Name: "Bench " + id, FirstName: "Bench", LastName: id}
	}
	event := func(i int, n string, at time.Time) events.Event {
		return events.Event{V: events.Version, Kind: events.KindMessage, Platform: events.Telegram, At: at,
			ID: fmt.Sprintf("telegram:%s:lat%d-%s", group.ID, i, n), Group: group, Sender: member(i), Chars: 42}
	}
	var priming []events.Event
	for i := range o.LatencySamples {
		for k := range msgs - 1 {
			d := time.Duration(1+k%days) * benchDay
			priming = append(priming, event(i, strconv.Itoa(k), now.Add(-d)))
		}
	}
	if err := benchPublish(ctx, js, pub, priming); err != nil {
		return out, err
	}
	if err := benchWaitDrained(ctx, env.js, names.EventsStream(), names.BridgeConsumer(), nil); err != nil {
		return out, err
	}
	var lat []time.Duration
	for i := range o.LatencySamples {
		ev := event(i, "tip", time.Now().UTC())
		written := sink.expect(events.ExternalID(env.hasher.Member(events.Telegram, ev.Sender.ID)))
		sent := time.Now()
		if _, err := pub.Event(ctx, ev); err != nil {
			return out, err
		}
		select {
		case at := <-written:
			lat = append(lat, at.Sub(sent))
		case <-time.After(benchLatencyTimeout):
			out.Missed++
		case <-ctx.Done():
			return out, context.Cause(ctx)
		}
	}
	out.Samples = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		out.P50ms, out.P99ms, out.Maxms = ms(benchPercentile(lat, 0.50)), ms(benchPercentile(lat, 0.99)), ms(lat[len(lat)-1])
	}
	return out, nil
}

// benchPercentile is the nearest-rank percentile of sorted values.
func benchPercentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// benchLeaderScore compares the members the bridge tagged leader with the planted leaders.
func benchLeaderScore(ctx context.Context, q *bridge.Query, h events.Hasher, tagPrefix string, w eventsim.Workload, members int) (benchLeaders, error) {
	cards, err := q.Leaders(ctx, members)
	if err != nil {
		return benchLeaders{}, fmt.Errorf("bench: leaders: %w", err)
	}
	truth := map[string]bool{}
	for id := range w.Leaders {
		truth[h.Member(events.Telegram, id)] = true
	}
	s := benchLeaders{Planted: len(truth)}
	for _, c := range cards {
		if !slices.Contains(c.Tags, tagPrefix+bridge.TagLeader) {
			continue
		}
		s.Found++
		if truth[c.Token] {
			s.TruePositives++
		}
	}
	s.Precision = benchRatio(float64(s.TruePositives), float64(s.Found))
	s.Recall = benchRatio(float64(s.TruePositives), float64(s.Planted))
	if s.Found == 0 && s.Planted == 0 {
		s.Precision, s.Recall = 1, 1
	}
	return s, nil
}
