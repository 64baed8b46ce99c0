package campaigns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events"
)

// An objection deletes the member's state, tags and group memberships included, so a
// campaign's audience would never show them as objected. What the preview needs is kept
// instead, without the member: for each set of groups objectors were in, how many of them
// carried each campaign tag. A set, not one count per group, so that an objector of two of
// the groups a campaign asks for is counted once.
//
// Such a count cannot follow the member: one who says /oui again after objecting stays
// counted, and an erasure, which may come without an objection, counts nobody.

// objectorPrefix keys the counts in the campaigns bucket: x.<hash of the group set>.
const objectorPrefix = "x."

// objectorCell counts the objectors of one set of groups, by campaign tags.
type objectorCell struct {
	Groups  []string `json:"groups"`  // group tokens, sorted
	Leaders int      `json:"leaders"` // leaders, not active
	Actives int      `json:"actives"` // active, not leaders
	Both    int      `json:"both"`
}

func objectorKey(groups []string) string {
	sum := sha256.Sum256([]byte(strings.Join(groups, "\x00")))
	return objectorPrefix + hex.EncodeToString(sum[:16])
}

// matching is how many of the cell's objectors a campaign for want would have asked for.
func (c objectorCell) matching(want bridge.AudienceTags) int {
	n := 0
	if want.Leaders {
		n += c.Leaders
	}
	if want.Actives {
		n += c.Actives
	}
	if want.Leaders || want.Actives {
		n += c.Both
	}
	return n
}

// CountObjection counts an objector where they stood, before their state is deleted. It
// never holds up the objection: a count that cannot be written is logged.
func (f *Feature) CountObjection(ctx context.Context, member string) {
	if f.st == nil {
		return
	}
	if err := f.st.countObjection(ctx, member); err != nil {
		f.d.Log.Warn("objection not counted for campaign previews", "err", err)
	}
}

func (c *store) countObjection(ctx context.Context, member string) error {
	seat, err := c.cfg.Audience.Seat(ctx, member)
	if err != nil {
		return fmt.Errorf("campaigns: objector: %w", err)
	}
	if len(seat.Groups) == 0 || (!seat.Tags.Leaders && !seat.Tags.Actives) {
		return nil // in no campaign's audience
	}
	groups := slices.Sorted(slices.Values(seat.Groups))
	key := objectorKey(groups)
	for range 10 {
		v, rev, err := c.get(ctx, key)
		if err != nil {
			return err
		}
		cell := objectorCell{Groups: groups}
		if v != "" {
			if err := json.Unmarshal([]byte(v), &cell); err != nil {
				return fmt.Errorf("campaigns: objector: %w", err)
			}
		}
		switch {
		case seat.Tags.Leaders && seat.Tags.Actives:
			cell.Both++
		case seat.Tags.Leaders:
			cell.Leaders++
		default:
			cell.Actives++
		}
		raw, err := json.Marshal(cell)
		if err != nil {
			return fmt.Errorf("campaigns: objector: %w", err)
		}
		if rev == 0 {
			_, err = c.kv.Create(ctx, key, raw)
		} else {
			_, err = c.kv.Update(ctx, key, raw, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !events.IsWrongLastSequence(err) {
			return fmt.Errorf("campaigns: objector: %w", err)
		}
	}
	return errors.New("campaigns: objector: too much contention")
}

// objectors counts the objectors of any of groups whom a campaign for want would have
// asked for.
func (c *store) objectors(ctx context.Context, groups []string, want bridge.AudienceTags) (int, error) {
	if len(groups) == 0 {
		return 0, nil
	}
	cells, err := c.scan(ctx, objectorPrefix+"*")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range cells {
		var cell objectorCell
		if json.Unmarshal([]byte(v), &cell) != nil {
			continue
		}
		if slices.ContainsFunc(cell.Groups, func(g string) bool { return slices.Contains(groups, g) }) {
			n += cell.matching(want)
		}
	}
	return n, nil
}
