package whatsapp

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"

	"github.com/relais-bot/relais/events"
)

// Publisher stores one event in JetStream and returns once the stream acknowledged it
// (*events.Publisher satisfies it). duplicate is true when the stream already held the id.
type Publisher interface {
	Event(ctx context.Context, e events.Event) (duplicate bool, err error)
}

// publishTimeout bounds one publish: the whatsmeow handler goroutine waits for it, and every
// later WhatsApp event waits behind it.
const publishTimeout = 10 * time.Second

// ingest is the whatsmeow event handler: it maps each event and publishes the result, and
// tells whatsmeow whether it succeeded. With SynchronousAck, whatsmeow acknowledges a message
// to WhatsApp only when this returns true, so an event JetStream did not store comes back.
type ingest struct {
	ctx     context.Context // outlives shutdown: an event being published is finished
	mapper  Mapper
	groups  *groupBook
	pub     Publisher
	hash    events.Hasher
	log     *slog.Logger
	metrics *metrics
	seen    *recentSenders
	// failed is called after a publish failure (the adapter reconnects later so WhatsApp
	// redelivers what it did not get an ack for). nil: nothing.
	failed func()
	// history imports history syncs (history.go); nil: they are ignored.
	history      HistorySink
	parse        ParseWeb
	historySince func() time.Time
}

// Handle processes one whatsmeow event; false asks whatsmeow not to acknowledge it.
func (in *ingest) Handle(evt any) bool {
	if in.groups != nil {
		in.groups.Learn(evt)
	}
	if hs, ok := evt.(*waevents.HistorySync); ok {
		in.importHistory(hs)
		return true
	}
	if msg, ok := evt.(*waevents.Message); ok && in.seen != nil && live(msg) {
		in.seen.note(msg.Info.Sender, msg.Info.SenderAlt)
	}
	evs, err := in.mapper.Map(in.ctx, evt)
	if err != nil {
		in.log.Warn("whatsapp: mapping failed, event left for redelivery", "err", maskDigits(err.Error()))
		in.fail()
		return false
	}
	// Events of one WhatsApp event are published in order; if one fails, the redelivery
	// publishes them all again and the stream drops the ids it already holds, so the
	// result is whole either way.
	for _, ev := range evs {
		ctx, cancel := context.WithTimeout(in.ctx, publishTimeout)
		dup, err := in.pub.Event(ctx, ev)
		cancel()
		if err != nil {
			in.log.Warn("whatsapp: publish failed, event left for redelivery",
				"kind", string(ev.Kind), "group", in.groupToken(ev), "err", maskDigits(err.Error()))
			in.fail()
			return false
		}
		in.metrics.published.WithLabelValues(string(ev.Kind)).Inc()
		if dup {
			in.log.Debug("whatsapp: duplicate event dropped by the stream", "kind", string(ev.Kind), "group", in.groupToken(ev))
		}
	}
	return true
}

func (in *ingest) fail() {
	in.metrics.failures.Inc()
	if in.failed != nil {
		in.failed()
	}
}

func (in *ingest) groupToken(ev events.Event) string {
	if ev.Group == nil {
		return events.DirectGroup
	}
	return in.hash.Group(ev.Platform, ev.Group.ID)
}

// recentSenders remembers who wrote in a group or to the bot, so replies go only to people
// who wrote first. Bounded: the oldest entries go when it is full.
type recentSenders struct {
	mu    sync.Mutex
	now   func() time.Time
	ttl   time.Duration
	max   int
	seen  map[types.JID]time.Time
	order []types.JID
}

func newRecentSenders(ttl time.Duration, max int, now func() time.Time) *recentSenders {
	return &recentSenders{now: now, ttl: ttl, max: max, seen: map[types.JID]time.Time{}}
}

func (r *recentSenders) note(jids ...types.JID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range jids {
		if j.IsEmpty() {
			continue
		}
		j = j.ToNonAD()
		if _, ok := r.seen[j]; !ok {
			r.order = append(r.order, j)
		}
		r.seen[j] = r.now()
	}
	for len(r.order) > r.max {
		delete(r.seen, r.order[0])
		r.order = r.order[1:]
	}
}

func (r *recentSenders) has(j types.JID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.seen[j.ToNonAD()]
	return ok && r.now().Sub(at) < r.ttl
}
