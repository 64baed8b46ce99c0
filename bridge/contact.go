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
	if b.rebuilding() {
		return nil // decided by the full sweep that ends the rebuild, on the whole state
	}
	for range 5 {
		if st.Applied < 0 || (!force && st.FP == st.PubFP) {
			return nil
		}
		published, _, err := b.publishContact(ctx, st, nil)
		if err != nil {
			return err
		}
		b.cfg.Log.Debug("contact settled", "member", st.Token, "published", published, "forced", force)
		h := b.keys.memberKeys(st.Token)[0]
		if err := b.scripts.confirm.Run(ctx, b.rdb, []string{h}, st.FP, st.Ver, "").Err(); err != nil {
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

// decisions reads the consent gate for a member in every group they were seen in (a
// deployment may override the policy per group), or for no group.
func (b *Bridge) decisions(ctx context.Context, st memberState) ([]ConsentDecision, error) {
	g := newGate(b.consent)
	groups := []string{""}
	if len(st.Groups) > 0 {
		groups = groups[:0]
		for _, gr := range st.Groups {
			groups = append(groups, gr.Token)
		}
	}
	ds := make([]ConsentDecision, 0, len(groups))
	for _, gr := range groups {
		d, err := g.decide(ctx, st.Token, gr)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// publishContact publishes the member's desired contact state when it differs from the last
// one kept. It reports whether it published. The publish is conditional on the last change it
// read still being the last, so a decision made on a stale read never overwrites a newer
// objection or erasure.
//
// known, when not nil, is the member's last change as read a moment before (lastChanges): the
// first attempt decides on it instead of reading it again.
func (b *Bridge) publishContact(ctx context.Context, st memberState, known *lastRead) (published, none bool, err error) {
	for attempt := 0; attempt < 5; attempt++ {
		ds, err := b.decisions(ctx, st)
		if err != nil || len(ds) == 0 || ds[0].Suppressed {
			return false, false, err // an objector's contact is the consent layer's alone
		}
		var r lastRead
		if attempt == 0 && known != nil {
			r = *known
		} else if r, err = b.lastChange(ctx, st.Token); err != nil {
			return false, false, err
		}
		last, seq, found := r.c, r.seq, r.found
		none = !found && seq == 0
		if found && overridesConsent(last, ds[0]) {
			return false, none, nil
		}
		qualifies := maySync(ds, st.Bits)
		if !qualifies && (!found || last.Op == events.OpErase) {
			return false, none, nil // minimisation: never in the CRM, and no reason to be
		}
		// A member already in the CRM who no longer qualifies still gets their tags updated.
		c := b.contact(st, ds[0], last, found)
		if found && contentHash(c) == contentHash(last) {
			return false, false, nil
		}
		// Marked before the contact exists, so the mark never misses a member in the CRM;
		// and only while their state exists: an erasure in between leaves nothing behind.
		kept, err := b.scripts.markCRM.Run(ctx, b.rdb, b.keys.memberKeys(st.Token)[:1]).Int()
		if err != nil {
			return false, false, fmt.Errorf("publish contact change: %w", err)
		}
		if kept == 0 {
			return false, false, nil // erased or objected meanwhile: theirs is the consent layer's
		}
		err = b.publishExpecting(ctx, c, seq)
		if errors.Is(err, events.ErrLastChangeMoved) {
			continue
		}
		return err == nil, false, err
	}
	return false, false, fmt.Errorf("publish contact change: %w", events.ErrLastChangeMoved)
}

// overridesConsent says whether the last change kept (an objection or an erasure written by
// the consent layer) is newer than the consent decision read: the decision is stale, and
// only a consent record written after that change may replace it.
func overridesConsent(last events.ContactChange, d ConsentDecision) bool {
	if last.Op != events.OpErase && !last.DoNotContact {
		return false
	}
	return !d.OptedIn || !d.Since.After(last.At)
}

// contact is the desired CRM state of a member; last is the state kept in RELAIS_CRM.
func (b *Bridge) contact(st memberState, d ConsentDecision, last events.ContactChange, found bool) events.ContactChange {
	phone := st.Phone
	if phone == "" {
		phone = d.Phone // shared with the share-my-phone button, with their yes
	}
	c := events.ContactChange{
		V:          events.Version,
		Member:     st.Token,
		ExternalID: events.ExternalID(st.Token),
		Op:         events.OpUpsert,
		FirstName:  st.First,
		LastName:   st.Last,
		Name:       st.Name,
		Phone:      phone,
		Tags:       append(tags(b.cfg.TagPrefix, st.Bits, st.Groups), CampaignTags(b.cfg.TagPrefix, d.Relayed)...),
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

// publishExpecting stores c in RELAIS_CRM if the member's last change is still the one at
// lastSeq (0: none), else returns events.ErrLastChangeMoved. Its id derives from its content and
// the change it replaces, so replicas deciding the same state from the same last change
// store it once, and a member going back to an earlier state is not taken for a duplicate.
func (b *Bridge) publishExpecting(ctx context.Context, c events.ContactChange, lastSeq uint64) error {
	c.ID += "-" + strconv.FormatUint(lastSeq, 10)
	m, err := b.pub.ContactChangeMsg(c)
	if err != nil {
		return fmt.Errorf("contact change: %w", err)
	}
	ack, err := b.pub.ReplaceContactChange(ctx, m, lastSeq)
	switch {
	case errors.Is(err, events.ErrLastChangeMoved):
		return events.ErrLastChangeMoved
	case err != nil:
		return fmt.Errorf("publish contact change: %w", err)
	case ack.Duplicate:
		// Stored already (by another replica, or by this call before a retry): if it is
		// not the last any more, decide again on what is.
		r, err := b.lastChange(ctx, c.Member)
		if err != nil {
			return err
		}
		if !r.found || r.c.ID != c.ID {
			return events.ErrLastChangeMoved
		}
		return nil
	}
	b.metrics.contacts.WithLabelValues(string(c.Op)).Inc()
	return nil
}

// lastRead is a member's last contact change as read from RELAIS_CRM: found is false when
// none is kept (or it cannot be read; seq is then its sequence, for the change replacing it).
type lastRead struct {
	c     events.ContactChange
	seq   uint64
	found bool
}

// lastChange returns the contact change kept for a member, with its stream sequence.
func (b *Bridge) lastChange(ctx context.Context, member string) (lastRead, error) {
	s, err := b.pub.CRMStream(ctx)
	if err != nil {
		return lastRead{}, err
	}
	raw, err := s.GetLastMsgForSubject(ctx, b.names.CRMSubject(member))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return lastRead{}, nil
	}
	if err != nil {
		b.pub.DropCRMStream()
		return lastRead{}, fmt.Errorf("last contact change: %w", err)
	}
	return b.decodeLast(member, raw), nil
}

func (b *Bridge) decodeLast(member string, raw *jetstream.RawStreamMsg) lastRead {
	c, err := events.DecodeContactChange(raw.Data)
	if err != nil {
		// Not ours to repair: treat the member as absent, the new state replaces it.
		b.cfg.Log.Warn("bridge: unreadable contact change", "member", member, "err", err.Error())
		return lastRead{seq: raw.Sequence}
	}
	return lastRead{c: c, seq: raw.Sequence, found: true}
}

// lastChanges reads the last contact change of many members with as few requests as it can.
// A member whose state says relais read that they have none and never put them in the CRM
// since (the "crm" field, see markCRMLua) is not asked about; the others are read in batch
// gets where the stream allows. Members absent from the result must be read one by one
// (lastChange).
func (b *Bridge) lastChanges(ctx context.Context, states []memberState) map[string]lastRead {
	out := make(map[string]lastRead, len(states))
	var ask []string
	for _, st := range states {
		if st.CRM == crmNone {
			out[st.Token] = lastRead{}
		} else {
			ask = append(ask, st.Token)
		}
	}
	if len(ask) == 0 {
		return out
	}
	s, err := b.pub.CRMStream(ctx)
	if err != nil {
		return out
	}
	raws, err := b.pub.LastContactChanges(ctx, s, ask)
	if err != nil {
		if !errors.Is(err, events.ErrNoBatchRead) {
			b.pub.DropCRMStream()
			b.cfg.Log.Warn("bridge: batch read of contact changes, reading one by one", "err", err.Error())
		}
		return out
	}
	for _, m := range ask {
		if raw, ok := raws[m]; ok {
			out[m] = b.decodeLast(m, raw)
		} else {
			out[m] = lastRead{}
		}
	}
	return out
}

// crmNone is the "crm" field of a member relais read has no contact change kept, and has not
// put in the CRM since.
const crmNone = "0"

// Resync re-evaluates one member now and publishes their desired contact state if it differs
// from the one kept, whatever changed: the consent layer calls it after /oui or /stop.
func (b *Bridge) Resync(ctx context.Context, member string) error {
	states, err := b.evaluate(ctx, []string{member})
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	if states[0].Applied < 0 {
		b.cfg.Log.Debug("resync: member unknown", "member", member)
		return nil // nothing known about them
	}
	if err := b.settleContact(ctx, states[0], true); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}

// CampaignTags are the tags of the campaigns a member answered "Je relaie" to:
// <prefix>campagne-<slug>.
func CampaignTags(prefix string, slugs []string) []string {
	var out []string
	for _, s := range slugs {
		out = append(out, prefix+"campagne-"+s)
	}
	return out
}
