package crm

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// A CRM's rate limit is per credential, so every CRM worker of a deployment must share one
// pace: two workers each at the full rate would send twice what the CRM allows. The pace is
// a token bucket kept in one key of the NATS locks bucket, taken by compare-and-swap on its
// revision. NATS rather than Redis: the crm role runs without Redis (`--roles=crm` opens
// none; only the bridge needs it), while every role has NATS. The locks bucket rather than
// a bucket of its own: it already holds the deployment's coordination keys, names no one,
// and its TTL only forgets a pace nobody used for a while, which is then full anyway.
//
// Cheap: a process takes tokens in batches, one read and one swap per batch, and spends
// them locally; what it has not spent within hold is dropped, never returned.
//
// Never over the limit: a bucket of rate r and burst b grants at most b + r·T tokens in any
// span T, and a token is spent at most hold after its grant, so any window W sees at most
// b + r·(W + hold) requests. r is chosen so that this stays below the limit with a margin
// (W/10, of which hold is half) for requests that reach the CRM a little late.
//
// Clocks: the state records when it was last refilled, in the writer's clock. The next
// writer refills by its own now minus that instant. Across writers these differences add up
// to the true elapsed time plus one clock's offset, whatever the skew, because each term's
// offset cancels the next one's; a refill may come out negative when a clock is behind,
// which only slows things down. So the pace never runs faster than r from skew, at worst a
// process with a clock far behind waits longer (and says so).

// paceState is the value of the pace key.
type paceState struct {
	Tokens float64 `json:"tokens"`
	At     int64   `json:"at"`             // unix ns, writer's clock: when Tokens was refilled
	Slow   int64   `json:"slow,omitempty"` // unix ns: until then the pace is slowed (after a 429)
}

type sharedPace struct {
	kv    jetstream.KeyValue
	key   string
	rate  float64 // tokens per second at full pace
	burst float64
	batch int
	hold  time.Duration
	// cooldown is how long after a 429's Retry-After the pace stays slowed.
	cooldown time.Duration
	// keepAlive: a pause longer than the locks bucket's TTL would be forgotten with the key;
	// a waiter rewrites a paused state older than this.
	keepAlive time.Duration
	log       *slog.Logger

	sem     chan struct{} // one goroutine per process asks the bucket; the rest wait for it
	waiting atomic.Int32  // goroutines wanting a token now: the size of the next batch

	mu      sync.Mutex
	local   int       // tokens granted to this process, not spent yet
	expires time.Time // when they are dropped

	skewOnce sync.Once
	failing  atomic.Bool
}

// NewSharedThrottle paces every process that uses the same key of the locks bucket kv so
// that together they send at most limit requests in any window: NationBuilder's 250 per
// 10 s is NewSharedThrottle(kv, "crm-pace-nationbuilder", 250, 10*time.Second, log).
func NewSharedThrottle(kv jetstream.KeyValue, key string, limit int, window time.Duration, log *slog.Logger) *Throttle {
	limit = max(limit, 2)
	if window <= 0 {
		window = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	burst := max(1, limit/10)
	margin, hold := window/10, window/20
	r := float64(limit-burst) / (window + margin).Seconds()
	p := &sharedPace{
		kv: kv, key: key, rate: r, burst: float64(burst),
		batch: max(1, int(r*hold.Seconds())), hold: hold,
		cooldown: paceCooldown, keepAlive: events.LockTTL / 3, log: log,
		sem: make(chan struct{}, 1),
	}
	return &Throttle{shared: p, cooldown: paceCooldown}
}

// take waits for one token.
func (p *sharedPace) take(ctx context.Context) error {
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	for {
		if p.spendLocal() {
			return nil
		}
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p.spendLocal() { // the previous asker brought enough for us too
			<-p.sem
			return nil
		}
		n := min(p.batch, max(int(p.waiting.Load()), 1))
		got, wait, err := p.grant(ctx, n)
		if got > 0 {
			p.mu.Lock()
			p.local, p.expires = got-1, time.Now().Add(p.hold)
			p.mu.Unlock()
			<-p.sem
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				<-p.sem
				return ctx.Err()
			}
			if !p.failing.Swap(true) {
				p.log.Warn("crm pace: the shared rate bucket is unreachable; waiting", "err", err.Error())
			}
			wait = p.hold
		} else if p.failing.Swap(false) {
			p.log.Info("crm pace: the shared rate bucket is back")
		}
		// Holding sem while waiting: one reader per process, the others queue behind it.
		t := time.NewTimer(min(max(wait, time.Millisecond), time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			<-p.sem
			return ctx.Err()
		case <-t.C:
		}
		<-p.sem
	}
}

func (p *sharedPace) spendLocal() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.local > 0 && time.Now().Before(p.expires) {
		p.local--
		return true
	}
	p.local = 0
	return false
}

// grant takes up to n tokens from the bucket: how many it got, or how long until one is
// there.
func (p *sharedPace) grant(ctx context.Context, n int) (int, time.Duration, error) {
	for range 8 {
		st, rev, created, err := p.read(ctx)
		if err != nil {
			return 0, 0, err
		}
		now := time.Now()
		st = p.refill(st, now)
		if st.Tokens < 1 {
			if rev != 0 && st.Tokens < 0 && now.Sub(created) > p.keepAlive {
				_, _ = p.write(ctx, st, rev) // best effort; a conflict means someone wrote it
			}
			return 0, time.Duration((1 - st.Tokens) / p.rateAt(st, now) * float64(time.Second)), nil
		}
		got := min(n, int(st.Tokens))
		st.Tokens -= float64(got)
		ok, err := p.write(ctx, st, rev)
		if err != nil {
			return 0, 0, err
		}
		if ok {
			return got, 0, nil
		}
	}
	return 0, p.hold / 4, nil // other processes won every swap: look again shortly
}

// backoff records a 429: nobody gets a token before retryAfter, and the pace stays at half
// for the cooldown after it. The debt is what the slowed pace repays in retryAfter.
func (p *sharedPace) backoff(ctx context.Context, retryAfter time.Duration, slow bool) error {
	p.mu.Lock()
	p.local = 0 // what this process holds would go out during the pause
	p.mu.Unlock()
	for range 8 {
		st, rev, _, err := p.read(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		st = p.refill(st, now)
		st.Tokens = min(st.Tokens, -p.rate*slowFactor*retryAfter.Seconds())
		if slow {
			st.Slow = max(st.Slow, now.Add(retryAfter+p.cooldown).UnixNano())
		}
		ok, err := p.write(ctx, st, rev)
		if err != nil || ok {
			return err
		}
	}
	return errors.New("crm pace: too much contention to record a 429")
}

// read returns the state and its revision; a missing key is a full bucket (revision 0).
func (p *sharedPace) read(ctx context.Context) (paceState, uint64, time.Time, error) {
	full := paceState{Tokens: p.burst, At: time.Now().UnixNano()}
	e, err := p.kv.Get(ctx, p.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return full, 0, time.Time{}, nil
	}
	if err != nil {
		return paceState{}, 0, time.Time{}, err
	}
	var st paceState
	if json.Unmarshal(e.Value(), &st) != nil || st.At == 0 {
		st = full // damaged: start over, still by swap on its revision
	}
	return st, e.Revision(), e.Created(), nil
}

// write stores st if the key is still at rev (0: absent). ok is false when another process
// wrote first.
func (p *sharedPace) write(ctx context.Context, st paceState, rev uint64) (bool, error) {
	data, _ := json.Marshal(st) // numbers only: cannot fail
	var err error
	if rev == 0 {
		_, err = p.kv.Create(ctx, p.key, data)
	} else {
		_, err = p.kv.Update(ctx, p.key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false, nil
	}
	return err == nil, err
}

// refill adds what the pace earned since st.At, at slowFactor while slowed, capped at the
// burst. A negative span (this clock behind the last writer's) takes tokens away.
func (p *sharedPace) refill(st paceState, now time.Time) paceState {
	at := time.Unix(0, st.At)
	dt := now.Sub(at)
	if dt < -time.Second {
		p.skewOnce.Do(func() {
			p.log.Warn("crm pace: this clock is behind another CRM worker's; the shared pace stays safe but this process waits longer: synchronise the clocks (NTP)",
				"behind", (-dt).Round(time.Millisecond).String())
		})
	}
	slow := time.Duration(0)
	if dt > 0 && st.Slow > st.At {
		slow = min(time.Duration(st.Slow-st.At), dt)
	}
	st.Tokens += p.rate*slowFactor*slow.Seconds() + p.rate*(dt-slow).Seconds()
	st.Tokens = min(st.Tokens, p.burst)
	st.At = now.UnixNano()
	return st
}

func (p *sharedPace) rateAt(st paceState, now time.Time) float64 {
	if now.UnixNano() < st.Slow {
		return p.rate * slowFactor
	}
	return p.rate
}
