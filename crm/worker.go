package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/relais-bot/relais/events"
)

// WorkerConfig tunes the worker. Zero values take the defaults noted.
type WorkerConfig struct {
	// Rate and Burst pace contact changes in this process (default 25 per second, burst
	// 25). The CRM's own limit is per request and per credential: the HTTP adapters pace
	// each request with a Throttle, shared by every worker of the deployment when built with
	// NewSharedThrottle.
	Rate  rate.Limit
	Burst int
	// Concurrency is how many changes are in flight at once (default 4).
	Concurrency int
	// CallTimeout bounds one Upsert or Erase (default 2 minutes).
	CallTimeout time.Duration
	// BaseDelay and MaxDelay bound the jittered retry backoff (default 1 s and 5 min). It
	// grows with a change's real failures (5xx, network), never with its 429s.
	BaseDelay, MaxDelay time.Duration
	// PaceBudget is how long a change may wait for the CRM's pace (429s) in this process
	// before it goes back to the stream for later, still without counting as a failure
	// (default 10 minutes).
	PaceBudget time.Duration
	// Instance is this process's identity (RELAIS_INSTANCE): a restart of the process that
	// wrote to the CRM takes its turn back at once instead of waiting out its lease.
	Instance   string
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Worker drains RELAIS_CRM into a Sink.
type Worker struct {
	cfg      WorkerConfig
	js       jetstream.JetStream
	names    events.Names
	pub      *events.Publisher
	settler  events.Settler
	sink     Sink
	throttle *Throttle
	log      *slog.Logger
	metrics  workerMetrics

	locks memberLocks
	// deniedOnce logs once that the refs bucket cannot be securely deleted from.
	deniedOnce sync.Once
	// onRetry, when set (tests), sees each real failure's count and the delay it asked.
	onRetry func(member string, failures int, delay time.Duration)

	mu          sync.Mutex
	cons        jetstream.Consumer
	lastErr     string
	lastErrAt   time.Time
	lastSuccess time.Time
}

// NewWorker checks the configuration; Run does the I/O.
func NewWorker(cfg WorkerConfig, js jetstream.JetStream, names events.Names, pub *events.Publisher, sink Sink) (*Worker, error) {
	if js == nil || pub == nil || sink == nil {
		return nil, errors.New("crm worker: jetstream, publisher and sink are required")
	}
	if cfg.Rate == 0 {
		cfg.Rate = 25
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 25
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 2 * time.Minute
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 5 * time.Minute
	}
	if cfg.PaceBudget <= 0 {
		cfg.PaceBudget = 10 * time.Minute
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newWorkerMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Worker{
		cfg:   cfg,
		js:    js,
		names: names,
		pub:   pub,
		// MaxDeliver 0: a CRM outage is retried for as long as it lasts, never dead-lettered.
		settler:  events.Settler{Pub: pub, Log: log, BaseDelay: cfg.BaseDelay, MaxDelay: cfg.MaxDelay},
		sink:     sink,
		throttle: NewThrottle(cfg.Rate, cfg.Burst),
		log:      log,
		metrics:  m,
		locks:    memberLocks{held: map[string]*memberLock{}},
	}, nil
}

// Run consumes contact changes until ctx is cancelled, then lets the calls in flight finish
// and settle before returning: nothing is acked before the CRM confirmed it.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.js.CreateOrUpdateConsumer(ctx, w.names.CRMStream(), events.DurableConfig(w.names.CRMConsumer(), w.names.CRMFilter()))
	if err != nil {
		return fmt.Errorf("crm worker: consumer: %w", err)
	}
	stream, err := w.js.Stream(ctx, w.names.CRMStream())
	if err != nil {
		return fmt.Errorf("crm worker: stream: %w", err)
	}
	kv, err := w.js.KeyValue(ctx, w.names.CRMRefsBucket())
	if err != nil {
		return fmt.Errorf("crm worker: refs bucket: %w", err)
	}
	w.mu.Lock()
	w.cons = cons
	w.mu.Unlock()
	h := &handler{w: w, stream: stream, kv: kv}
	locks, err := w.js.KeyValue(ctx, w.names.LocksBucket())
	if err != nil {
		return fmt.Errorf("crm worker: locks bucket: %w", err)
	}
	// One relais writes to the CRM at a time. With two writers, a member's older change
	// still waiting for the CRM's pace in one could reach the CRM after the newer one the
	// other wrote, and the CRM would keep the older state (seen in the cluster test). The
	// CRM's rate limit is shared by the whole deployment anyway, so a second writer adds
	// no speed; the other replicas stand by and take over within a lease.
	lock := events.NewLock(locks, "crm-worker", events.LockConfig{Instance: w.cfg.Instance, Log: w.log})
	for {
		err := lock.Acquire(ctx, func() { w.log.Info("another relais writes to the CRM; this one stands by") })
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("crm worker: %w", err)
		}
		held, release := context.WithCancel(ctx)
		lost := make(chan error, 1)
		go func() {
			lost <- lock.Keep(held)
			release()
		}()
		err = w.consume(held, cons, h)
		release()
		lockErr := <-lost
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := lock.Release(rctx); err != nil {
			w.log.Debug("crm worker lock release", "err", err.Error())
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case lockErr == nil && err != nil:
			return err
		}
		w.log.Warn("crm worker lock lost, waiting for it again", "err", fmt.Sprint(lockErr))
	}
}

// consume drains the stream with Concurrency slots until ctx is done.
func (w *Worker) consume(ctx context.Context, cons jetstream.Consumer, h *handler) error {
	errs := make(chan error, w.cfg.Concurrency)
	for range w.cfg.Concurrency {
		// One pull subscription per slot, one message at a time each: a change never waits
		// in a client buffer while its AckWait runs out.
		go func() {
			errs <- events.Consume(ctx, cons, w.settler, h.handle, jetstream.PullMaxMessages(1))
		}()
	}
	var first error
	for range w.cfg.Concurrency {
		if err := <-errs; err != nil && first == nil && ctx.Err() == nil {
			first = err
		}
	}
	return first
}

// Status is what `/sync` shows an organiser.
type Status struct {
	Pending     uint64 // changes waiting, including those in flight
	LastError   string // redacted; "" when the last call succeeded
	LastErrorAt time.Time
	LastSuccess time.Time
}

// Status reports the queue depth and the last outcome.
func (w *Worker) Status(ctx context.Context) (Status, error) {
	w.mu.Lock()
	st := Status{LastError: w.lastErr, LastErrorAt: w.lastErrAt, LastSuccess: w.lastSuccess}
	cons := w.cons
	w.mu.Unlock()
	if cons == nil {
		c, err := w.js.Consumer(ctx, w.names.CRMStream(), w.names.CRMConsumer())
		if err != nil {
			return st, fmt.Errorf("crm status: %w", err)
		}
		cons = c
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("crm status: %w", err)
	}
	st.Pending = info.NumPending + uint64(max(info.NumAckPending, 0))
	return st, nil
}

func (w *Worker) noteError(msg string) {
	w.mu.Lock()
	w.lastErr, w.lastErrAt = msg, time.Now()
	w.mu.Unlock()
}

func (w *Worker) noteSuccess() {
	w.mu.Lock()
	w.lastErr, w.lastSuccess = "", time.Now()
	w.mu.Unlock()
}

type handler struct {
	w      *Worker
	stream jetstream.Stream
	kv     jetstream.KeyValue
}

func (h *handler) handle(ctx context.Context, msg jetstream.Msg) error {
	change, err := events.DecodeContactChange(msg.Data())
	if err != nil {
		h.w.metrics.outcome("invalid")
		return err // a DecodeError: dead-lettered with its reason
	}
	if m, ok := h.w.names.MemberFromSubject(msg.Subject()); !ok || m != change.Member {
		h.w.metrics.outcome("invalid")
		return events.Permanent(errors.New("contact change: member does not match subject"))
	}
	stop := keepAlive(msg)
	defer stop()

	unlock := h.w.locks.lock(change.Member)
	defer unlock()

	if superseded, err := h.superseded(ctx, msg); err != nil {
		return err
	} else if superseded {
		h.w.metrics.outcome("superseded")
		return nil // a newer change for this member is in the stream and will be applied
	}
	rec, err := h.load(ctx, change.Member)
	if err != nil {
		return err
	}
	state := StateHash(change)
	if change.Op == events.OpErase && change.Notify != nil {
		return h.eraseAndNotify(ctx, msg, change, rec, state)
	}
	if rec.State == state {
		h.w.metrics.outcome("unchanged")
		return nil
	}
	next, err := h.write(ctx, change, rec, state)
	if err != nil {
		return err
	}
	next.State = state
	if change.Op == events.OpErase {
		// The entry held the CRM's id for the contact. What replaces it says only that the
		// erase is done, so a repeated erase costs no CRM call.
		if err := h.forget(ctx, change.Member); err != nil {
			return err
		}
	}
	if err := h.save(ctx, change.Member, next); err != nil {
		return err // the CRM call is idempotent: repeating it after a retry is harmless
	}
	h.w.noteSuccess()
	h.w.metrics.outcome("ok")
	return nil
}

// superseded reports whether the stream already holds a newer change for msg's member: a
// slow redelivery of an old state must never overwrite a newer one in the CRM.
func (h *handler) superseded(ctx context.Context, msg jetstream.Msg) (bool, error) {
	md, err := msg.Metadata()
	if err != nil {
		return false, fmt.Errorf("contact change metadata: %w", err)
	}
	last, err := h.stream.GetLastMsgForSubject(ctx, msg.Subject())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("newest contact change: %w", err)
	}
	return last.Sequence > md.Sequence.Stream, nil
}

// keepAlive tells the server a slow message is still being worked on (a Retry-After pause
// or a slow CRM can outlast AckWait), until stop is called.
func keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

// memberLocks serialises the changes of one member inside this process.
type memberLocks struct {
	mu   sync.Mutex
	held map[string]*memberLock
}

type memberLock struct {
	mu    sync.Mutex
	users int
}

func (l *memberLocks) lock(member string) (unlock func()) {
	l.mu.Lock()
	ml := l.held[member]
	if ml == nil {
		ml = &memberLock{}
		l.held[member] = ml
	}
	ml.users++
	l.mu.Unlock()
	ml.mu.Lock()
	return func() {
		ml.mu.Unlock()
		l.mu.Lock()
		if ml.users--; ml.users == 0 {
			delete(l.held, member)
		}
		l.mu.Unlock()
	}
}

type workerMetrics struct {
	calls   *prometheus.CounterVec
	latency prometheus.Histogram
}

func newWorkerMetrics(reg prometheus.Registerer) (workerMetrics, error) {
	m := workerMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_crm_changes_total",
			Help: "Contact changes handled by the CRM worker, by outcome.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "relais_crm_call_seconds",
			Help:    "Duration of one CRM upsert or erase, all its requests included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.calls, m.latency} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("crm worker metrics: %w", err)
		}
	}
	return m, nil
}

func (m workerMetrics) outcome(o string) { m.calls.WithLabelValues(o).Inc() }
