package commands

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter bounds commands per member. It lives in one process: with several bridge replicas
// a member gets the limit once per replica that sees their commands, which still stops a
// flood. The map is bounded; forgetting a member only gives them a fresh allowance.
type limiter struct {
	every time.Duration
	burst int
	max   int

	mu      sync.Mutex
	members map[string]*memberLimit
}

type memberLimit struct {
	lim  *rate.Limiter
	last time.Time
	// seen are the commands (event ids) recently decided, with the decision: a redelivered
	// command gets the same answer and does not spend the allowance twice.
	seen map[string]bool
	ids  []string // seen, oldest first
}

// seenPerMember bounds the decisions remembered per member: redeliveries come within
// seconds, long before that many newer commands of the same member.
const seenPerMember = 32

func newLimiter(perMinute, maxMembers int) *limiter {
	return &limiter{
		every:   time.Minute / time.Duration(perMinute),
		burst:   perMinute,
		max:     maxMembers,
		members: map[string]*memberLimit{},
	}
}

// allow says whether a member may run the command with event id now. A command already
// decided (a redelivery) gets the same decision without spending anything.
func (l *limiter) allow(member, id string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.members[member]
	if m == nil {
		l.evict(now)
		m = &memberLimit{lim: rate.NewLimiter(rate.Every(l.every), l.burst), seen: map[string]bool{}}
		l.members[member] = m
	}
	m.last = now
	if ok, decided := m.seen[id]; decided {
		return ok
	}
	ok := m.lim.AllowN(now, 1)
	if len(m.ids) == seenPerMember {
		delete(m.seen, m.ids[0])
		m.ids = m.ids[1:]
	}
	m.seen[id] = ok
	m.ids = append(m.ids, id)
	return ok
}

// evict makes room for one more member: first those idle long enough to have a full
// allowance again (forgetting them changes nothing), then any.
func (l *limiter) evict(now time.Time) {
	if len(l.members) < l.max {
		return
	}
	idle := l.every * time.Duration(l.burst)
	for k, m := range l.members {
		if now.Sub(m.last) >= idle {
			delete(l.members, k)
		}
	}
	for k := range l.members {
		if len(l.members) < l.max {
			break
		}
		delete(l.members, k)
	}
}
