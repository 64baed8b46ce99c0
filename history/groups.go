package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// groups answers, from the event log and the history bucket, which groups relais knows and
// where each one's history must stop. Answers are looked up once per import, so both passes
// of a file see the same bounds.
type groups struct {
	js     jetstream.JetStream
	pub    *events.Publisher
	stream jetstream.Stream
	kv     jetstream.KeyValue
	cache  map[string]bound
}

// bound is what the log says of a group.
type bound struct {
	known  bool
	before time.Time // the first live event, or the oldest imported if older
	title  string
}

// imported is a group's record in the history bucket.
type imported struct {
	// First is the oldest event any import brought into the group (Unix ms).
	First int64 `json:"first"`
	// Imports counts the imports that added events.
	Imports int `json:"imports"`
	// Applied are the ids of the last imports the bridge applied here (ended.go).
	Applied []string `json:"applied,omitempty"`
	// Noticed says the post-import notice was posted in the group.
	Noticed bool `json:"noticed,omitempty"`
}

func newGroups(js jetstream.JetStream, pub *events.Publisher) *groups {
	return &groups{js: js, pub: pub, cache: map[string]bound{}}
}

func (g *groups) open(ctx context.Context) error {
	n := g.pub.Names()
	s, err := g.js.Stream(ctx, n.EventsStream())
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	kv, err := g.js.KeyValue(ctx, n.HistoryBucket())
	if err != nil {
		return fmt.Errorf("history bucket: %w", err)
	}
	g.stream, g.kv = s, kv
	return nil
}

// look reads a group's bound from the log, once.
func (g *groups) look(ctx context.Context, p events.Platform, id string) (bound, error) {
	key := groupKey(p, id)
	if b, ok := g.cache[key]; ok {
		return b, nil
	}
	tok := g.pub.Hasher().Group(p, id)
	var b bound
	m, err := g.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(g.pub.Names().GroupLiveFilter(p, tok)))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return b, fmt.Errorf("first live event of a group: %w", err)
	default:
		ev, err := events.DecodeEvent(m.Data)
		if err != nil {
			return b, fmt.Errorf("first live event of a group: %w", err)
		}
		b.known, b.before = true, ev.At
		if ev.Group != nil {
			b.title = ev.Group.Title
		}
	}
	if b.known {
		e, err := g.kv.Get(ctx, string(p)+"."+tok)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return b, fmt.Errorf("history bucket: %w", err)
		default:
			var rec imported
			if err := json.Unmarshal(e.Value(), &rec); err == nil && rec.First > 0 {
				if t := time.UnixMilli(rec.First).UTC(); t.Before(b.before) {
					b.before = t
				}
			}
		}
	}
	g.cache[key] = b
	return b, nil
}

// known says whether relais holds live events of a group.
func (g *groups) known(ctx context.Context, p events.Platform, id string) (bool, error) {
	b, err := g.look(ctx, p, id)
	return b.known, err
}

// before is where a group's history stops. An unknown group, or a failed lookup, gives a
// time before any message, so a reader emits nothing of it; accept then refuses it by name
// (known gives the error).
func (g *groups) before(ctx context.Context, p events.Platform, id string) time.Time {
	b, err := g.look(ctx, p, id)
	if err != nil || !b.known {
		return time.Unix(1, 0)
	}
	return b.before
}

// find resolves a --group value (a JID, or the exact title of a known group) to a group.
func (g *groups) find(ctx context.Context, p events.Platform, want string) (events.Group, error) {
	if strings.Contains(want, "@") {
		b, err := g.look(ctx, p, want)
		if err != nil {
			return events.Group{}, err
		}
		if !b.known {
			return events.Group{}, fmt.Errorf("%w: %s", ErrUnknownGroup, want)
		}
		return events.Group{ID: want, Title: b.title}, nil
	}
	n := g.pub.Names()
	info, err := g.stream.Info(ctx, jetstream.WithSubjectFilter(n.PlatformLiveFilter(p)))
	if err != nil {
		return events.Group{}, fmt.Errorf("known groups: %w", err)
	}
	tokens := map[string]bool{}
	for subj := range info.State.Subjects {
		if tok, ok := n.GroupFromSubject(subj); ok {
			tokens[tok] = true
		}
	}
	var found []events.Group
	for tok := range tokens {
		m, err := g.stream.GetLastMsgForSubject(ctx, n.GroupLiveFilter(p, tok))
		if err != nil {
			continue
		}
		ev, err := events.DecodeEvent(m.Data)
		if err == nil && ev.Group != nil && ev.Group.Title == want {
			found = append(found, *ev.Group)
		}
	}
	switch len(found) {
	case 0:
		return events.Group{}, fmt.Errorf("%w: %q", ErrUnknownGroup, want)
	case 1:
		return events.Group{ID: found[0].ID, Title: found[0].Title}, nil
	default:
		return events.Group{}, fmt.Errorf("%w: %q", ErrAmbiguous, want)
	}
}

// recordImported lowers the group's oldest imported time to first, so a later import stops
// there.
func (g *groups) recordImported(ctx context.Context, p events.Platform, tok string, first time.Time) error {
	return update(ctx, g.kv, string(p)+"."+tok, func(rec *imported) bool {
		if rec.First == 0 || first.UnixMilli() < rec.First {
			rec.First = first.UnixMilli()
		}
		rec.Imports++
		return true
	})
}
