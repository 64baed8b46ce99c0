package bridge

import (
	"context"
	"sync"

	"github.com/relais-bot/relais/events"
)

// GroupObserver hears of every group the bridge takes live events from, once per process:
// under the notice policy the consent layer posts its information notice there. Posting
// once per group ever is the observer's business (it records that in the consent bucket).
type GroupObserver interface {
	GroupSeen(ctx context.Context, platform events.Platform, groupID string) error
}

// groupsSeen remembers which groups were reported, so the observer is called once per group
// and process, not once per batch.
type groupsSeen struct {
	mu   sync.Mutex
	seen map[string]bool
}

// report tells obs about each group of evs not reported yet. A failure is logged and tried
// again with the group's next event: a notice must never hold events back.
func (b *Bridge) reportGroups(ctx context.Context, evs []events.Event) {
	obs := b.cfg.Groups
	if obs == nil {
		return
	}
	for _, ev := range evs {
		if ev.Group == nil {
			continue
		}
		key := string(ev.Platform) + "\x00" + ev.Group.ID
		b.groups.mu.Lock()
		done := b.groups.seen[key]
		b.groups.mu.Unlock()
		if done {
			continue
		}
		if err := obs.GroupSeen(ctx, ev.Platform, ev.Group.ID); err != nil {
			b.cfg.Log.Warn("bridge: group observer", "group", b.hash.Group(ev.Platform, ev.Group.ID), "err", err.Error())
			continue
		}
		b.groups.mu.Lock()
		if b.groups.seen == nil {
			b.groups.seen = map[string]bool{}
		}
		b.groups.seen[key] = true
		b.groups.mu.Unlock()
	}
}
