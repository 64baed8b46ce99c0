package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// settleContact makes RELAIS_CRM hold the desired state of a member, if the member may reach
// the CRM, and records that the member's current fingerprint is settled. Without force it
// does nothing when that fingerprint was settled already (no tag or identity change).
//
// Two replicas may settle the same member at once from different versions; whichever
// publishes last then checks whether the member moved on meanwhile and, if so, settles the
// newer state again, so the last message kept is always the newest state's.
func (b *Bridge) settleContact(ctx context.Context, st memberState, force bool) error {
	for range 5 {
		if st.Applied < 0 || (!force && st.FP == st.PubFP) {
			return nil
		}
		published, err := b.publishContact(ctx, st)
		if err != nil {
			return err
		}
		h := b.keys.memberKeys(st.Token, "")[0]
		if err := b.scripts.confirm.Run(ctx, b.rdb, []string{h}, st.FP, st.Ver).Err(); err != nil {
			return fmt.Errorf("confirm contact: %w", err)
		}
		ver, err := b.rdb.HGet(ctx, h, "ver").Int64()
		if errors.Is(err, redis.Nil) || (err == nil && ver == st.Ver) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("confirm contact: %w", err)
		}
		states, err := b.evaluate(ctx, []string{st.Token})
		if err != nil {
			return err
		}
		st, force = states[0], published
	}
	return nil
}

// decision combines the consent of a member over the groups they were seen in: a deployment
// may override the policy per group, and a member reaches the CRM if any group allows it.
type decision struct{ optedIn, suppressed, notice bool }

func (b *Bridge) decide(ctx context.Context, st memberState) (decision, error) {
	groups := []string{""}
	if len(st.Groups) > 0 {
		groups = groups[:0]
		for _, g := range st.Groups {
			groups = append(groups, g.Token)
		}
	}
	var d decision
	for _, g := range groups {
		c, err := b.consent.Decide(ctx, st.Token, g)
		if err != nil {
			return d, fmt.Errorf("consent: %w", err)
		}
		d.optedIn = d.optedIn || c.OptedIn
		d.suppressed = d.suppressed || c.Suppressed
		d.notice = d.notice || c.Policy == PolicyNotice
	}
	return d, nil
}

// publishContact publishes the member's desired contact state when it differs from the last
// one kept. It reports whether it published.
func (b *Bridge) publishContact(ctx context.Context, st memberState) (bool, error) {
	d, err := b.decide(ctx, st)
	if err != nil || d.suppressed {
		return false, err // an objector's contact is the consent layer's alone
	}
	last, seq, found, err := b.lastChange(ctx, st.Token)
	if err != nil {
		return false, err
	}
	qualifies := d.optedIn || (d.notice && st.Bits&(bitActive|bitLeader) != 0)
	if !qualifies && (!found || last.Op == events.OpErase) {
		return false, nil // minimisation: never in the CRM, and no reason to be
	}
	// A member already in the CRM who no longer qualifies still gets their tags updated.
	c := b.contact(st, last, found)
	if found && contentHash(c) == contentHash(last) {
		return false, nil
	}
	return true, b.publish(ctx, c, seq)
}

// contact is the desired CRM state of a member; last is the state kept in RELAIS_CRM.
func (b *Bridge) contact(st memberState, last events.ContactChange, found bool) events.ContactChange {
	c := events.ContactChange{
		V:          events.Version,
		Member:     st.Token,
		ExternalID: events.ExternalID(st.Token),
		Op:         events.OpUpsert,
		FirstName:  st.First,
		LastName:   st.Last,
		Name:       st.Name,
		Phone:      st.Phone,
		Tags:       tags(b.cfg.TagPrefix, st.Bits, st.Groups),
		Groups:     titles(st.Groups),
		LastActive: st.LastMsg,
		At:         b.cfg.Now().UTC(),
	}
	if st.PID != "" {
		c.Handles = []events.Handle{{Platform: st.Platform, ID: st.PID, Username: st.Username}}
	}
	if found {
		for _, t := range append(slices.Clone(last.Tags), last.RemoveTags...) {
			if !slices.Contains(c.Tags, t) {
				c.RemoveTags = append(c.RemoveTags, t)
			}
		}
		slices.Sort(c.RemoveTags)
		c.RemoveTags = slices.Compact(c.RemoveTags)
	}
	c.ID = "cc-" + st.Token + "-" + contentHash(c)
	return c
}

// contentHash identifies what a contact change asks of the CRM. It leaves out the id, the
// decision time and LastActive: a member who only kept talking has not changed.
func contentHash(c events.ContactChange) string {
	type content struct {
		Op                       events.ContactOp
		First, Last, Name, Phone string
		Handles                  []events.Handle
		Tags, RemoveTags, Groups []string
		DoNotContact             bool
	}
	raw, _ := json.Marshal(content{c.Op, c.FirstName, c.LastName, c.Name, c.Phone, c.Handles,
		nonNil(c.Tags), nonNil(c.RemoveTags), nonNil(c.Groups), c.DoNotContact})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:10])
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// publish stores c in RELAIS_CRM. Its id derives from its content, so replicas deciding the
// same state store it once; if that id was seen lately for an older state (the member went
// back to it), the id gets the sequence it replaces, so it is not dropped as a duplicate.
func (b *Bridge) publish(ctx context.Context, c events.ContactChange, lastSeq uint64) error {
	for attempt := 0; attempt < 2; attempt++ {
		m, err := b.pub.ContactChangeMsg(c)
		if err != nil {
			return fmt.Errorf("contact change: %w", err)
		}
		ack, err := b.js.PublishMsg(ctx, m)
		if err != nil {
			return fmt.Errorf("publish contact change: %w", err)
		}
		if !ack.Duplicate {
			b.metrics.contacts.WithLabelValues(string(c.Op)).Inc()
			return nil
		}
		last, seq, found, err := b.lastChange(ctx, c.Member)
		if err != nil {
			return err
		}
		if found && contentHash(last) == contentHash(c) {
			return nil // another replica stored the same state
		}
		c.ID = c.ID + "-" + strconv.FormatUint(max(seq, lastSeq), 10)
	}
	return fmt.Errorf("publish contact change: id %s kept colliding", c.ID)
}

// lastChange returns the contact change kept for a member, with its stream sequence.
func (b *Bridge) lastChange(ctx context.Context, member string) (events.ContactChange, uint64, bool, error) {
	s, err := b.crm(ctx)
	if err != nil {
		return events.ContactChange{}, 0, false, err
	}
	raw, err := s.GetLastMsgForSubject(ctx, b.names.CRMSubject(member))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.ContactChange{}, 0, false, nil
	}
	if err != nil {
		return events.ContactChange{}, 0, false, fmt.Errorf("last contact change: %w", err)
	}
	c, err := events.DecodeContactChange(raw.Data)
	if err != nil {
		// Not ours to repair: treat the member as absent, the new state replaces it.
		b.cfg.Log.Warn("bridge: unreadable contact change", "member", member, "err", err.Error())
		return events.ContactChange{}, raw.Sequence, false, nil
	}
	return c, raw.Sequence, true, nil
}

func (b *Bridge) crm(ctx context.Context) (jetstream.Stream, error) {
	b.crmOnce.Lock()
	defer b.crmOnce.Unlock()
	if b.crmStream != nil {
		return b.crmStream, nil
	}
	s, err := b.js.Stream(ctx, b.names.CRMStream())
	if err != nil {
		return nil, fmt.Errorf("crm stream: %w", err)
	}
	b.crmStream = s
	return s, nil
}

// Resync re-evaluates one member now and publishes their desired contact state if it differs
// from the one kept, whatever changed: the consent layer calls it after /oui or /stop.
func (b *Bridge) Resync(ctx context.Context, member string) error {
	states, err := b.evaluate(ctx, []string{member})
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	if states[0].Applied < 0 {
		return nil // nothing known about them
	}
	if err := b.index(ctx, states, nil); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	if err := b.settleContact(ctx, states[0], true); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}
