package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
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

// record is what the worker remembers per member in the refs bucket: the CRM's id, the hash
// of the last state the CRM confirmed and the tags it applied. No name, no phone.
type record struct {
	Ref     string   `json:"ref,omitempty"`
	State   string   `json:"state"`
	Applied []string `json:"applied,omitempty"`
	Erased  bool     `json:"erased,omitempty"`
	// Notified: the member was told their erasure is done (the change's Notify).
	Notified bool `json:"notified,omitempty"`
	// Pending is the change being written, until the CRM confirmed all of it.
	Pending *pending `json:"pending,omitempty"`
}

// pending is a change the CRM has not confirmed in full: the steps it did confirm, so a
// retry resumes after them, and how many times the change failed for real, which sets its
// retry backoff. A 429 is the CRM's pace, not a failure: it is not counted.
type pending struct {
	State    string   `json:"state"`
	Done     Progress `json:"done,omitzero"`
	Failures int      `json:"failures,omitempty"`
}

// resume returns the pending write of the change with this state: the one recorded, or a
// new one. Steps confirmed for an older change stay true of the CRM: they are folded into
// what the record knows before it is set aside.
func (r *record) resume(state string) *pending {
	if r.Pending != nil && r.Pending.State == state {
		p := *r.Pending
		p.Done = p.Done.Clone()
		return &p
	}
	if old := r.Pending; old != nil {
		if old.Done.Ref != "" {
			r.Ref = old.Done.Ref
		}
		switch {
		case old.Done.Created:
			r.Applied = append([]string{}, old.Done.Tagged...) // a new contact holds only those
		case r.Applied != nil:
			r.Applied = slices.DeleteFunc(slices.Concat(r.Applied, old.Done.Tagged), func(t string) bool {
				return slices.Contains(old.Done.Untagged, t)
			})
			slices.Sort(r.Applied)
			r.Applied = slices.Compact(r.Applied)
		}
		r.Pending = nil
	}
	return &pending{State: state}
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

// write runs the sink for a change until the CRM confirmed it, and returns what to
// remember. The CRM's pace (a 429, or no turn under the shared rate limit in time) is waited
// out here, resuming after the steps already done, for up to PaceBudget; then the change goes
// back to the stream for after the Retry-After. Neither grows its backoff. A real failure
// is counted in the refs record and retried after a backoff that grows with that count; a
// permanent one is returned as such. Errors are ready for the settler.
func (h *handler) write(ctx context.Context, change events.ContactChange, rec record, state string) (record, error) {
	p := rec.resume(state)
	budget := time.Now().Add(h.w.cfg.PaceBudget)
	for {
		if err := h.w.throttle.Wait(ctx); err != nil {
			return record{}, err
		}
		next, err := h.call(ctx, change, rec, p)
		if err == nil {
			return next, nil
		}
		if ctx.Err() != nil {
			return record{}, ctx.Err() // shutting down: not the CRM's failure
		}
		if IsPaced(err) {
			d := time.Second
			if e, ok := AsError(err); ok && e.Status == 429 {
				if e.RetryAfter > 0 {
					d = e.RetryAfter
				}
				h.w.throttle.Backoff(d)
			}
			h.w.metrics.outcome("paced")
			h.w.log.Debug("crm paced the change, resuming after the pause", "member", change.Member, "pause", d)
			if time.Now().Add(d).Before(budget) {
				continue
			}
			h.w.noteError(err.Error())
			return record{}, events.RetryAfter(err, d)
		}
		ferr := h.w.failed(change, err)
		if events.IsPermanent(ferr) {
			return record{}, ferr
		}
		p.Failures++
		h.savePending(ctx, change.Member, rec, p)
		d := events.Backoff(uint64(p.Failures), h.w.cfg.BaseDelay, h.w.cfg.MaxDelay)
		if e, ok := AsError(err); ok {
			d = max(d, e.RetryAfter)
		}
		if h.w.onRetry != nil {
			h.w.onRetry(change.Member, p.Failures, d)
		}
		return record{}, events.RetryAfter(ferr, d)
	}
}

// savePending records how far a change got. Best effort: without it a retry only repeats
// steps, which the CRM calls tolerate.
func (h *handler) savePending(ctx context.Context, member string, rec record, p *pending) {
	rec.Pending = p
	if err := h.save(ctx, member, rec); err != nil {
		h.w.log.Debug("crm progress not saved", "member", member, "err", err.Error())
	}
}

// call runs the sink once and returns what to remember. Each step the sink confirms is
// recorded in p and in the refs record.
func (h *handler) call(ctx context.Context, change events.ContactChange, rec record, p *pending) (record, error) {
	ctx, cancel := context.WithTimeout(ctx, h.w.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	defer func() { h.w.metrics.latency.Observe(time.Since(start).Seconds()) }()
	if change.Op == events.OpErase {
		if err := h.w.sink.Erase(ctx, change.ExternalID, rec.Ref); err != nil {
			return record{}, err
		}
		return record{Erased: true}, nil
	}
	applied := rec.Applied
	if rec.State == "" || rec.Erased {
		applied = nil // nothing known: the sink checks every tag
	} else if applied == nil {
		applied = []string{}
	}
	c := ContactFrom(change, rec.Ref, applied)
	c.Done = p.Done
	c.Step = func(done Progress) {
		p.Done = done
		h.savePending(ctx, change.Member, rec, p)
	}
	ref, err := h.w.sink.Upsert(ctx, c)
	if err != nil {
		return record{}, &redactedError{err: err, c: c}
	}
	return record{Ref: ref, Applied: c.Tags}, nil
}

// eraseAndNotify runs an erase the member asked for and tells them the outcome, once. The
// change carries the member's chat and the texts, so it is securely deleted afterwards, and
// the refs entry with it: nothing of the member stays in RELAIS_CRM or RELAIS_CRM_REFS.
//
// Each step can be repeated after a crash. The refs entry notes that the member was told
// before the change is deleted, so a redelivery does not tell them twice; a crash between
// the reply and that note redelivers the reply under the same id, which the replies
// stream drops within its duplicate window.
func (h *handler) eraseAndNotify(ctx context.Context, msg jetstream.Msg, change events.ContactChange, rec record, state string) error {
	md, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("contact change metadata: %w", err)
	}
	if !rec.Erased || rec.State != state {
		if _, err := h.write(ctx, change, rec, state); err != nil {
			if !events.IsPermanent(err) {
				return err // nothing is said until the CRM answered for good
			}
			return h.eraseFailed(ctx, msg, md, change, err)
		}
		if err := h.forget(ctx, change.Member); err != nil {
			return err
		}
		rec = record{Erased: true, State: state}
	}
	if !rec.Notified {
		if err := h.notify(ctx, change, change.Notify.Done); err != nil {
			return err
		}
		rec.Notified = true
		if err := h.save(ctx, change.Member, rec); err != nil {
			return err
		}
	}
	if err := events.SecureDeleteSeq(ctx, h.stream, md.Sequence.Stream); err != nil {
		return err
	}
	if err := h.forget(ctx, change.Member); err != nil {
		return err
	}
	h.w.noteSuccess()
	h.w.metrics.outcome("ok")
	return nil
}

// eraseFailed settles an erase the CRM refused for good: the member is told why, an
// operator finds the change in the dead letters to retry it, and the change that named the
// member's chat is securely deleted. The refs entry stays: it holds the CRM's id for the
// contact, which a retry needs.
func (h *handler) eraseFailed(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, change events.ContactChange, cause error) error {
	// The dead letter is the erase without Notify: enough to retry it, and no chat id or
	// text of the member.
	retry := change
	retry.Notify = nil
	data, err := events.Encode(retry)
	if err != nil {
		return events.Permanent(err)
	}
	dl := nats.NewMsg(h.w.names.DLQSubject(msg.Subject()))
	dl.Data = data
	dl.Header.Set(events.HeaderReason, Clip(cause.Error(), 512))
	dl.Header.Set(events.HeaderSubject, msg.Subject())
	dl.Header.Set(events.HeaderStream, md.Stream)
	dl.Header.Set(events.HeaderSequence, strconv.FormatUint(md.Sequence.Stream, 10))
	dl.Header.Set(events.HeaderDelivered, strconv.FormatUint(md.NumDelivered, 10))
	dl.Header.Set(jetstream.MsgIDHeader, "dlq-"+md.Stream+"-"+strconv.FormatUint(md.Sequence.Stream, 10))
	if _, err := h.w.js.PublishMsg(ctx, dl); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	if f := change.Notify.Failed; f != "" {
		if err := h.notify(ctx, change, fmt.Sprintf(f, publicReason(cause))); err != nil {
			return err
		}
	}
	if err := events.SecureDeleteSeq(ctx, h.stream, md.Sequence.Stream); err != nil {
		return err
	}
	return nil
}

// notify sends text privately to the chat the change names. The reply id derives from the
// change's, so repeating it (a redelivery) stores it once within the duplicate window.
func (h *handler) notify(ctx context.Context, change events.ContactChange, text string) error {
	n := change.Notify
	r := events.Reply{V: events.Version, ID: "erase-" + change.ID, Platform: n.Platform, Chat: n.Chat, Private: true, Text: text}
	if err := h.w.pub.Reply(ctx, r); err != nil {
		return fmt.Errorf("erase notice: %w", err)
	}
	return nil
}

// publicReason says why a CRM call failed in words fit for the member: what relais did and
// the CRM's status and code, never the CRM's free text.
func publicReason(err error) string {
	e, ok := AsError(err)
	if !ok {
		return "CRM error"
	}
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" " + Clip(e.Code, 64))
	}
	return b.String()
}

// forget securely deletes the member's refs entry. A bucket created by nats.go refuses
// message deletes: the entry is then purged, which removes it without overwriting it (it
// holds a CRM id, no name or phone).
func (h *handler) forget(ctx context.Context, member string) error {
	err := events.SecureDeleteKey(ctx, h.w.js, h.w.names.CRMRefsBucket(), member)
	if errors.Is(err, events.ErrDeleteDenied) {
		h.w.deniedOnce.Do(func() {
			h.w.log.Warn("crm refs bucket denies message deletes: erased members' CRM ids are purged, not overwritten; recreate it with events.ErasableKeyValue")
		})
		if err := h.kv.Purge(ctx, member); err != nil {
			return fmt.Errorf("crm ref: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("crm ref: %w", err)
	}
	return nil
}

// failed turns a sink error into the settler's language and remembers it for Status.
func (w *Worker) failed(change events.ContactChange, err error) error {
	msg := err.Error()
	w.noteError(msg)
	e, classified := AsError(err)
	if classified && !e.Retryable {
		w.metrics.outcome("permanent")
		w.log.Warn("crm rejected contact", "member", change.Member, "status", e.Status, "code", e.Code, "op", e.Op)
		return events.Permanent(err)
	}
	w.metrics.outcome("retry")
	w.log.Debug("crm call failed, will retry", "member", change.Member, "status", statusOf(e))
	return err
}

func statusOf(e *Error) int {
	if e == nil {
		return 0
	}
	return e.Status
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

func (h *handler) load(ctx context.Context, member string) (record, error) {
	entry, err := h.kv.Get(ctx, member)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, nil
	}
	if err != nil {
		return record{}, fmt.Errorf("crm ref: %w", err)
	}
	var rec record
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		// A damaged entry only costs one CRM call: forget it.
		h.w.log.Warn("crm ref unreadable, ignoring it", "member", member)
		return record{}, nil
	}
	return rec, nil
}

func (h *handler) save(ctx context.Context, member string, rec record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("crm ref: %w", err)
	}
	// The member lock serialises writers in this process, and one process writes at a time
	// (the crm-worker lock in Run), so a plain Put is enough.
	if _, err := h.kv.Put(ctx, member, data); err != nil {
		return fmt.Errorf("crm ref: %w", err)
	}
	return nil
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

// redactedError hides the contact's name and phone from a sink error's text while keeping
// its class for errors.As.
type redactedError struct {
	err error
	c   Contact
}

func (r *redactedError) Error() string { return r.c.Redact(r.err.Error()) }
func (r *redactedError) Unwrap() error { return r.err }

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
