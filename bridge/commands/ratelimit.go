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
	lim    *rate.Limiter
	warned bool
	last   time.Time
}

func newLimiter(perMinute, maxMembers int) *limiter {
	return &limiter{
		every:   time.Minute / time.Duration(perMinute),
		burst:   perMinute,
		max:     maxMembers,
		members: map[string]*memberLimit{},
	}
}

// allow says whether a member may run a command now, and, when not, whether to tell them
// (once, until they are allowed again).
func (l *limiter) allow(member string, now time.Time) (ok, warn bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.members[member]
	if m == nil {
		l.evict(now)
		m = &memberLimit{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.members[member] = m
	}
	m.last = now
	if m.lim.AllowN(now, 1) {
		m.warned = false
		return true, false
	}
	if m.warned {
		return false, false
	}
	m.warned = true
	return false, true
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
