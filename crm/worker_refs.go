package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

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
