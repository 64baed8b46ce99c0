package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// Run consumes the events stream with the shared durable consumer until ctx is cancelled,
// applying events in batches, and sweeps every Config.SweepEvery. On cancel it stops
// fetching, finishes the messages already delivered and returns nil.
func (b *Bridge) Run(ctx context.Context) error {
	if err := b.scripts.load(ctx, b.rdb); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.names.EventsStream(),
		events.DurableConfig(b.names.BridgeConsumer(), b.names.EventsFilter()))
	if err != nil {
		return fmt.Errorf("bridge: consumer: %w", err)
	}
	// Work outlives ctx: a batch in flight finishes (and is acked) after a shutdown signal.
	work := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { b.sweepLoop(ctx) })
	defer wg.Wait()
	defer b.bgWG.Wait() // commands answered in the background finish before Run returns
	for ctx.Err() == nil {
		if err := b.consume(ctx, work, cons); err != nil {
			b.cfg.Log.Warn("bridge: consume", "err", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// consume reads batches until ctx is cancelled (then drains what was delivered, and returns
// nil) or the iterator fails (returns the error; Run opens a new one).
//
// A batch is applied to Redis here, then handed to the settle stage, which publishes its
// members' contact changes and only then acks its messages: the next batch is applied
// meanwhile, and batches queued behind a slow settle are settled together, each member once.
func (b *Bridge) consume(ctx, work context.Context, cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(2*b.cfg.BatchSize),
		jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	defer it.Stop()
	floor := &ackFloor{cons: cons, kick: make(chan struct{}, 1)}
	floor.refresh(work)
	floorCtx, stopFloor := context.WithCancel(work)
	applied := make(chan *appliedBatch, settleQueue)
	var stage sync.WaitGroup
	stage.Go(func() { floor.run(floorCtx) })
	var applying atomic.Bool // a batch is being read or applied: the consumer is not idle
	stage.Go(func() { b.settleStage(work, applied, floor.moved, applying.Load) })
	// Every batch handed over is settled (acked or redelivered) before consume returns.
	defer func() {
		close(applied)
		stopFloor()
		stage.Wait()
	}()
	for {
		batch, err := b.nextBatch(it, &applying)
		if len(batch) > 0 {
			applied <- b.applyMsgs(work, batch, floor.seq.Load())
		}
		applying.Store(false)
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil:
			return nil
		default:
			return err
		}
	}
}

// ackFloor is the consumer's ack floor as last read. Reading it is a consumer info request,
// and a server before 2.10 answers it by counting the consumer's pending messages through the
// whole stream: relais bench on nats-server 2.9.10 measured about 0.1 s of server CPU per
// read with 100k events in the log, and the cost grows with the log. Read after every batch
// and every second, as it was, those counts took most of the server's CPU from what the
// bridge asks of JetStream. So the floor is read in the background, only after messages were
// acked (an idle replica asks nothing), and after a read that took d, not again before
// floorPace × d (within a second and a minute): the reads take at most about 1/floorPace of
// the server. The floor only grows, so a value some seconds old is still a floor; it only
// keeps a few more applied sequences in Redis until the next read.
type ackFloor struct {
	cons jetstream.Consumer
	seq  atomic.Uint64
	kick chan struct{}
}

// The pace of ack floor reads: floorPace times the last read's duration, within
// [floorMinPause, floorMaxPause].
const (
	floorPace     = 50
	floorMinPause = time.Second
	floorMaxPause = time.Minute
)

func (f *ackFloor) refresh(ctx context.Context) time.Duration {
	start := time.Now()
	info, err := f.cons.Info(ctx)
	took := time.Since(start)
	if err != nil {
		return took // the floor stays where it was: lower than it could be, still a floor
	}
	// Only consume (once, before run starts) and run write it: no compare-and-swap needed.
	if s := info.AckFloor.Stream; s > f.seq.Load() {
		f.seq.Store(s)
	}
	return took
}

func (f *ackFloor) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		}
		pause := min(max(floorPace*f.refresh(ctx), floorMinPause), floorMaxPause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// moved asks for a fresh read: messages were acked.
func (f *ackFloor) moved() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// settleQueue is how many applied batches may wait for their contact changes: enough to keep
// the apply loop busy through a slow settle, few enough that their messages are acked well
// within AckWait.
const settleQueue = 4

// historyBatches is how many times BatchSize a batch of imported events may hold. An import is
// a backlog of one group's past: few members, many events each, and each member costs the
// batch about as much as all their events (one script, one read, one decision). In batches of
// 2000, the import bench applied a million messages among 5000 members at the speed of the
// national-scale workload, where each member has one or two events. Its contact changes
// wait for the import's end anyway, and its replies name their author (history.go), so the
// batch's size changes neither what is settled nor whom a reply credits. The pull buffer and
// the consumer's MaxAckPending stay those of live batches: larger, they let two replicas
// apply live events further out of order (TestSameStreamSameState's two consumers then
// differ), so an import's batch takes what they let arrive within historyWait.
const historyBatches = 4

// historyWait is how long a batch of imported events waits for the next message.
const historyWait = 20 * time.Millisecond

// nextBatch blocks for one message, then takes what else is already there, up to BatchSize,
// or historyBatches × BatchSize while every message taken is imported history. It sets
// applying once it has the first.
func (b *Bridge) nextBatch(it jetstream.MessagesContext, applying *atomic.Bool) ([]jetstream.Msg, error) {
	msg, err := it.Next()
	if err != nil {
		return nil, err
	}
	applying.Store(true)
	batch := []jetstream.Msg{msg}
	history := imported(msg)
	for len(batch) < b.cfg.BatchSize || history && len(batch) < historyBatches*b.cfg.BatchSize {
		wait := 2 * time.Millisecond
		if history {
			wait = historyWait // an import's next messages are stored: only the pull is awaited
		}
		msg, err := it.Next(jetstream.NextMaxWait(wait))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				return batch, nil
			}
			return batch, err
		}
		batch = append(batch, msg)
		history = history && imported(msg)
	}
	return batch, nil
}

// appliedBatch is a batch of messages whose events are in Redis and whose members' contact
// changes are not published yet: its messages wait for them.
type appliedBatch struct {
	start time.Time
	msgs  []jetstream.Msg
	// pending is how many messages waited in the consumer behind the batch's last one.
	pending uint64
	errs    []error       // per message; nil: applied
	events  []int         // index in msgs of the batch's activity events
	states  []memberState // the members the events touched
}

// applyMsgs decodes a batch, answers its commands and applies its activity events to Redis.
// finish then settles every message: acked once Redis and every publish it caused are
// acknowledged, dead-lettered when it can never apply, redelivered with backoff otherwise.
//
// floor is the consumer's ack floor, read before the batch (see positions).
func (b *Bridge) applyMsgs(ctx context.Context, msgs []jetstream.Msg, floor uint64) *appliedBatch {
	ab := &appliedBatch{start: time.Now(), msgs: msgs, errs: make([]error, len(msgs))}
	if md, err := msgs[len(msgs)-1].Metadata(); err == nil {
		ab.pending = md.NumPending
	}
	errs := ab.errs
	var (
		evs  []events.Event
		hist []bool // per event: imported (history.go)
		ends []int  // index in msgs of the imports' end markers
		pos  = positions{floor: floor}
	)
	for i, m := range msgs {
		if historyDone(m) {
			ends = append(ends, i)
			continue
		}
		ev, err := events.DecodeEvent(m.Data())
		if err != nil {
			errs[i] = err
			continue
		}
		md, err := m.Metadata()
		if err != nil {
			errs[i] = fmt.Errorf("event metadata: %w", err)
			continue
		}
		if b.rebuilding() && ev.Kind != events.KindCommand && ev.Kind != events.KindConsent {
			errs[i] = events.RetryAfter(errRebuilding, 2*time.Second)
			continue
		}
		if bg, ok := b.commands.(backgroundCommands); ok && ev.Kind == events.KindCommand && bg.Background(ev) {
			b.background(ctx, m, ev)
			errs[i] = errSettled
			continue
		}
		if ev.Kind == events.KindCommand || ev.Kind == events.KindConsent {
			errs[i] = b.handleCommand(ctx, m, ev)
			if errs[i] == nil {
				// A command is answered once and never replayed: keeping it would only keep
				// its argument (a query, a shared phone number) for the retention period.
				errs[i] = b.forgetMsg(ctx, m)
			}
			continue
		}
		seq := md.Sequence.Stream
		if orig, ok := events.CopyOf(m.Headers().Get(jetstream.MsgIDHeader)); ok {
			seq = orig
		}
		evs = append(evs, ev)
		hist = append(hist, imported(m))
		ab.events = append(ab.events, i)
		pos.seqs = append(pos.seqs, seq)
	}
	b.reportGroups(ctx, evs)
	if len(evs) == 0 {
		b.endHistory(ctx, ab, ends, floor)
		return ab
	}
	evErrs, states, err := b.applyMixed(ctx, evs, pos, hist)
	ab.states = states
	for j, i := range ab.events {
		errs[i] = evErrs[j]
		if err != nil {
			errs[i] = err
		}
		if errors.Is(errs[i], errSuppressed) {
			errs[i] = b.forgetMsg(ctx, msgs[i])
		}
	}
	b.endHistory(ctx, ab, ends, floor)
	return ab
}

// settleStage settles applied batches in order until in is closed. Batches that queued up
// while one was settled are settled together: a member they all touched is settled once, in
// its newest state. Batches applied with messages waiting behind them leave their members
// owed instead (defer.go), settled once the backlog is through.
func (b *Bridge) settleStage(ctx context.Context, in <-chan *appliedBatch, acked func(), applying func() bool) {
	var owed owedSince
	for {
		ab, ok := b.nextApplied(ctx, in, &owed, applying)
		if !ok {
			if owed.owes() {
				_ = b.payOwed(ctx, &owed) // logged; the sweep settles what stays owed
			}
			return
		}
		if ab == nil {
			continue // idle: nextApplied settled what was owed
		}
		group := []*appliedBatch{ab}
	more:
		for {
			select {
			case next, ok := <-in:
				if !ok {
					break more
				}
				group = append(group, next)
			default:
				break more
			}
		}
		now := time.Now()
		if backlogged(group) && !owed.due(now) {
			err := b.owe(ctx, newestStates(group))
			if err == nil {
				owed.mark(now)
			}
			b.finish(ctx, group, err)
			acked()
			continue
		}
		err := b.settleAll(ctx, newestStates(group), false)
		if err == nil && owed.owes() {
			// Before the acks: a bridge through its backlog has published everything, or
			// its last batch comes back to try again.
			err = b.payOwed(ctx, &owed)
		}
		b.finish(ctx, group, err)
		acked()
	}
}

// nextApplied waits for the next applied batch. While members are owed and the consumer
// has nothing to apply (another replica took the backlog's last batch), it waits at most
// deferIdle, then settles them and returns a nil batch.
func (b *Bridge) nextApplied(ctx context.Context, in <-chan *appliedBatch, owed *owedSince, applying func() bool) (*appliedBatch, bool) {
	if !owed.owes() {
		ab, ok := <-in
		return ab, ok
	}
	wait := max(deferIdle, time.Until(owed.retry))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ab, ok := <-in:
		return ab, ok
	case <-t.C:
		if !applying() || owed.due(time.Now()) {
			_ = b.payOwed(ctx, owed) // logged, tried again after a pause
		}
		return nil, true
	}
}

// newestStates is the newest state of every member the batches touched.
func newestStates(group []*appliedBatch) []memberState {
	if len(group) == 1 {
		return group[0].states
	}
	at := map[string]int{}
	var out []memberState
	for _, ab := range group {
		for _, st := range ab.states {
			i, ok := at[st.Token]
			switch {
			case !ok:
				at[st.Token] = len(out)
				out = append(out, st)
			case st.Ver >= out[i].Ver:
				out[i] = st
			}
		}
	}
	return out
}

// finish settles the batches' messages once their contact changes are published: settleErr,
// the failure to publish them, sends every activity event of the batches back for redelivery.
func (b *Bridge) finish(ctx context.Context, group []*appliedBatch, settleErr error) {
	for _, ab := range group {
		if settleErr != nil {
			for _, i := range ab.events {
				if ab.errs[i] == nil {
					ab.errs[i] = settleErr
				}
			}
		}
		for i, m := range ab.msgs {
			if ab.errs[i] == errSettled {
				continue
			}
			out, err := b.settler.Settle(ctx, m, ab.errs[i])
			if err != nil {
				b.cfg.Log.Warn("bridge: settle", "err", err.Error())
			}
			switch {
			case out == events.Acked && err == nil:
				b.metrics.acked.Inc()
			case out == events.DeadLettered:
				b.metrics.events.WithLabelValues(outDeadLetter).Inc()
			case out == events.Retried:
				b.metrics.events.WithLabelValues(outRetry).Inc()
			}
		}
		b.metrics.batch.Observe(time.Since(ab.start).Seconds())
	}
}

// errSettled marks a message settled elsewhere (a command answered in the background).
var errSettled = errors.New("settled in the background")

// maxBackground bounds the commands answered at once off the batch loop.
const maxBackground = 4

// background answers a slow command off the batch loop and settles its message itself,
// telling JetStream it is still at work so the message is not redelivered meanwhile.
func (b *Bridge) background(ctx context.Context, m jetstream.Msg, ev events.Event) {
	b.bgOnce.Do(func() { b.bgSem = make(chan struct{}, maxBackground) })
	b.bgWG.Add(1)
	go func() {
		defer b.bgWG.Done()
		b.bgSem <- struct{}{}
		defer func() { <-b.bgSem }()
		// A long command (an erasure rewrites the log) keeps its message from being
		// redelivered to another replica meanwhile.
		beat := time.NewTicker(10 * time.Second)
		defer beat.Stop()
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-done:
					return
				case <-beat.C:
					_ = m.InProgress()
				}
			}
		}()
		err := b.handleCommand(ctx, m, ev)
		if err == nil {
			err = b.forgetMsg(ctx, m)
		}
		if _, serr := b.settler.Settle(ctx, m, err); serr != nil {
			b.cfg.Log.Warn("bridge: settle", "err", serr.Error())
		}
	}()
}

// forgetMsg securely deletes from the log an event relais may not keep (its sender objected
// or was erased), so the bytes do not stay on disk for the retention period.
func (b *Bridge) forgetMsg(ctx context.Context, m jetstream.Msg) error {
	md, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("forget event: %w", err)
	}
	s, err := b.js.Stream(ctx, md.Stream)
	if err != nil {
		return fmt.Errorf("forget event: %w", err)
	}
	if err := s.SecureDeleteMsg(ctx, md.Sequence.Stream); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("forget event: %w", err)
	}
	return nil
}

func (b *Bridge) handleCommand(ctx context.Context, m jetstream.Msg, ev events.Event) error {
	b.metrics.events.WithLabelValues(outCommand).Inc()
	if b.commands == nil {
		return nil
	}
	// An erasure leaves the command's own message to forgetMsg, after its last step: deleted
	// earlier, the message would count as settled and a failure would never be retried.
	if md, err := m.Metadata(); err == nil {
		ctx = events.WithEventSeq(ctx, md.Sequence.Stream)
	}
	return b.commands.Handle(ctx, ev)
}
