package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"
	"golang.org/x/time/rate"

	"github.com/relais-bot/relais/events"
)

// GroupFetcher asks WhatsApp for a group's metadata (*whatsmeow.Client satisfies it).
type GroupFetcher interface {
	GetGroupInfo(ctx context.Context, jid types.JID) (*types.GroupInfo, error)
}

// Fetching group info is itself traffic WhatsApp watches, so it is rationed: a few per
// minute, and a group that failed is not asked again for a while.
const (
	groupFetchEvery   = 10 * time.Second
	groupFetchBurst   = 5
	groupFetchTimeout = 10 * time.Second
	groupRetryAfter   = 10 * time.Minute
)

type groupMeta struct {
	title    string
	titled   bool      // title known (it may legitimately be "")
	failedAt time.Time // last failed fetch
}

// groupBook remembers group titles in memory. It learns them from the events that carry
// them and, for a group it has never seen, fetches them once (throttled).
type groupBook struct {
	fetch GroupFetcher // nil: never fetch
	limit *rate.Limiter
	now   func() time.Time

	mu     sync.Mutex
	groups map[types.JID]*groupMeta
}

func newGroupBook(fetch GroupFetcher, now func() time.Time) *groupBook {
	if now == nil {
		now = time.Now
	}
	return &groupBook{
		fetch:  fetch,
		limit:  rate.NewLimiter(rate.Every(groupFetchEvery), groupFetchBurst),
		now:    now,
		groups: map[types.JID]*groupMeta{},
	}
}

// meta returns the entry of chat, creating it. Callers hold mu.
func (g *groupBook) meta(chat types.JID) *groupMeta {
	m := g.groups[chat]
	if m == nil {
		m = &groupMeta{}
		g.groups[chat] = m
	}
	return m
}

// Learn records what evt says about a group.
func (g *groupBook) Learn(evt any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch e := evt.(type) {
	case *waevents.JoinedGroup:
		g.remember(&e.GroupInfo)
	case *waevents.GroupInfo:
		chat := e.JID.ToNonAD()
		switch {
		case e.Delete != nil:
			delete(g.groups, chat)
		case e.Name != nil:
			m := g.meta(chat)
			m.title, m.titled = e.Name.Name, true
		}
	}
}

// remember stores a full group description. Callers hold mu.
func (g *groupBook) remember(info *types.GroupInfo) {
	m := g.meta(info.JID.ToNonAD())
	m.title, m.titled = info.Name, true
}

// Title returns the group's title, fetching it once if it was never seen.
func (g *groupBook) Title(ctx context.Context, chat types.JID) string {
	g.mu.Lock()
	m := g.meta(chat)
	if m.titled || g.fetch == nil || (!m.failedAt.IsZero() && g.now().Sub(m.failedAt) < groupRetryAfter) {
		title := m.title
		g.mu.Unlock()
		return title
	}
	if !g.limit.AllowN(g.now(), 1) {
		g.mu.Unlock()
		return "" // asked again on the group's next event
	}
	g.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, groupFetchTimeout)
	defer cancel()
	info, err := g.fetch.GetGroupInfo(ctx, chat)

	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil || info == nil {
		g.meta(chat).failedAt = g.now()
		return ""
	}
	info.JID = chat
	g.remember(info)
	return info.Name
}

// isParticipant reports whether user (a JID as events carry it, user@s.whatsapp.net or
// user@lid, or a phone in E.164) is among a group's participants, by phone number or LID.
func isParticipant(info *types.GroupInfo, user string) bool {
	if info == nil || user == "" {
		return false
	}
	want := map[types.JID]bool{}
	if phone, ok := strings.CutPrefix(user, "+"); ok {
		want[types.NewJID(phone, types.DefaultUserServer)] = true
	} else if jid, err := types.ParseJID(user); err == nil {
		want[jid.ToNonAD()] = true
	}
	for _, p := range info.Participants {
		for _, j := range []types.JID{p.JID, p.PhoneNumber, p.LID} {
			if !j.IsEmpty() && want[j.ToNonAD()] {
				return true
			}
		}
	}
	return false
}

// groupMember asks WhatsApp for a group's participants and looks user up among them. The
// bridge caches answers, so this is asked at most every few minutes per group and organiser.
// A group the account left or that no longer exists is events.ErrNotInGroup: WhatsApp said
// so; any other failure (a timeout, a disconnection) is WhatsApp not saying.
func groupMember(ctx context.Context, fetch GroupFetcher, group, user string) (bool, error) {
	jid, err := types.ParseJID(group)
	if err != nil || jid.Server != types.GroupServer {
		return false, fmt.Errorf("whatsapp: membership: not a group id")
	}
	ctx, cancel := context.WithTimeout(ctx, groupFetchTimeout)
	defer cancel()
	info, err := fetch.GetGroupInfo(ctx, jid)
	if errors.Is(err, whatsmeow.ErrNotInGroup) || errors.Is(err, whatsmeow.ErrGroupNotFound) {
		return false, fmt.Errorf("whatsapp: membership: %w (%w)", events.ErrNotInGroup, err)
	}
	if err != nil {
		return false, fmt.Errorf("whatsapp: membership: %w", err)
	}
	return isParticipant(info, user), nil
}

// participantsTTL is how long a group's participants answer membership questions: several
// organisers asking about one group cost WhatsApp one fetch every few minutes.
const participantsTTL = 5 * time.Minute

// participants caches group infos for membership questions (a GroupFetcher itself).
type participants struct {
	fetch GroupFetcher
	now   func() time.Time

	mu sync.Mutex
	m  map[types.JID]fetchedInfo
}

type fetchedInfo struct {
	info *types.GroupInfo
	at   time.Time
}

func newParticipants(fetch GroupFetcher, now func() time.Time) *participants {
	if now == nil {
		now = time.Now
	}
	return &participants{fetch: fetch, now: now, m: map[types.JID]fetchedInfo{}}
}

func (p *participants) GetGroupInfo(ctx context.Context, jid types.JID) (*types.GroupInfo, error) {
	p.mu.Lock()
	c, ok := p.m[jid]
	p.mu.Unlock()
	if ok && p.now().Sub(c.at) < participantsTTL {
		return c.info, nil
	}
	info, err := p.fetch.GetGroupInfo(ctx, jid)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.m { // keep only fresh entries: the map stays as small as the groups asked about
		if p.now().Sub(v.at) >= participantsTTL {
			delete(p.m, k)
		}
	}
	p.m[jid] = fetchedInfo{info: info, at: p.now()}
	return info, nil
}
