package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// An import's end marker carries the groups it imported into (platform, chat id, token, how
// many days it counted: no member, no text). The bridge hands it back once it applied and
// settled the import (bridge.Config.HistoryEnded); Ended then records the import as applied
// in each group's RELAIS_HISTORY record (WaitApplied reads it) and says which groups still
// owe their members the post-import notice. The notice is posted once per group, whatever
// the replicas and later imports: NoticePosted sets the record's flag with a
// revision-checked write, after the notice went out under an id of its own (a notice
// published twice before the flag is set is dropped by JetStream as a duplicate).

// EndedGroup is one group an import brought events into.
type EndedGroup struct {
	Platform events.Platform `json:"platform"`
	ID       string          `json:"id"`
	Token    string          `json:"token"`
	// Days is the number of calendar days from the first to the last imported event.
	Days int `json:"days"`
}

// endData is the end marker's body.
type endData struct {
	Groups []EndedGroup `json:"groups"`
}

// maxApplied is how many applied imports a group's record remembers for WaitApplied.
const maxApplied = 16

// DecodeEnded reads an end marker's body. A marker of an older relais ("{}") names no group.
func DecodeEnded(data []byte) ([]EndedGroup, error) {
	var d endData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("import end: %s", events.JSONErrorReason(err))
	}
	out := d.Groups[:0]
	for _, g := range d.Groups {
		if g.Platform.Valid() && g.ID != "" && g.Token != "" {
			out = append(out, g)
		}
	}
	return out, nil
}

// spanDays counts the calendar days (UTC) from first to last, both included.
func spanDays(first, last time.Time) int {
	if first.IsZero() || last.IsZero() {
		return 0
	}
	d := last.UTC().Truncate(24*time.Hour).Sub(first.UTC().Truncate(24*time.Hour)) / (24 * time.Hour)
	return int(d) + 1
}

// Records reads and writes the groups' records in the history bucket for the bridge.
type Records struct {
	JS    jetstream.JetStream
	Names events.Names
}

// Ended records an applied import in each of its groups and returns the groups whose
// notice was never posted.
func (r Records) Ended(ctx context.Context, importID string, groups []EndedGroup) ([]EndedGroup, error) {
	kv, err := r.JS.KeyValue(ctx, r.Names.HistoryBucket())
	if err != nil {
		return nil, fmt.Errorf("history bucket: %w", err)
	}
	var due []EndedGroup
	for _, g := range groups {
		var noticed bool
		err := update(ctx, kv, string(g.Platform)+"."+g.Token, func(rec *imported) bool {
			noticed = rec.Noticed
			if slices.Contains(rec.Applied, importID) {
				return false
			}
			rec.Applied = append(rec.Applied, importID)
			if len(rec.Applied) > maxApplied {
				rec.Applied = rec.Applied[len(rec.Applied)-maxApplied:]
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		if !noticed {
			due = append(due, g)
		}
	}
	return due, nil
}

// NoticePosted flags a group's notice as posted.
func (r Records) NoticePosted(ctx context.Context, g EndedGroup) error {
	kv, err := r.JS.KeyValue(ctx, r.Names.HistoryBucket())
	if err != nil {
		return fmt.Errorf("history bucket: %w", err)
	}
	return update(ctx, kv, string(g.Platform)+"."+g.Token, func(rec *imported) bool {
		if rec.Noticed {
			return false
		}
		rec.Noticed = true
		return true
	})
}

// applied says whether the bridge recorded an import as applied in a group.
func (r Records) applied(ctx context.Context, p events.Platform, token, importID string) (bool, error) {
	kv, err := r.JS.KeyValue(ctx, r.Names.HistoryBucket())
	if err != nil {
		return false, fmt.Errorf("history bucket: %w", err)
	}
	e, err := kv.Get(ctx, string(p)+"."+token)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("history bucket: %w", err)
	}
	var rec imported
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return false, nil
	}
	return slices.Contains(rec.Applied, importID), nil
}

// update changes one record with a revision-checked write, reading it again when another
// writer was first; change says whether it changed anything.
func update(ctx context.Context, kv jetstream.KeyValue, key string, change func(*imported) bool) error {
	for range 10 {
		var rec imported
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("history bucket: %w", err)
		default:
			rev = e.Revision()
			_ = json.Unmarshal(e.Value(), &rec)
		}
		if !change(&rec) {
			return nil
		}
		data, _ := json.Marshal(rec)
		if rev == 0 {
			_, err = kv.Create(ctx, key, data)
		} else {
			_, err = kv.Update(ctx, key, data, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !strings.Contains(err.Error(), "wrong last sequence") {
			return fmt.Errorf("history bucket: %w", err)
		}
	}
	return errors.New("history bucket: too many concurrent writers")
}
