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
	"strings"

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
		published, err := b.publishContact(ctx, st, nil)
		if err != nil {
			return err
		}
		b.cfg.Log.Debug("contact settled", "member", st.Token, "published", published, "forced", force)
		h := b.keys.memberKeys(st.Token)[0]
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
func (b *Bridge) publishContact(ctx context.Context, st memberState, known *lastRead) (bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		ds, err := b.decisions(ctx, st)
		if err != nil || len(ds) == 0 || ds[0].Suppressed {
			return false, err // an objector's contact is the consent layer's alone
		}
		var r lastRead
		if attempt == 0 && known != nil {
			r = *known
		} else if r, err = b.lastChange(ctx, st.Token); err != nil {
			return false, err
		}
		last, seq, found := r.c, r.seq, r.found
		if found && overridesConsent(last, ds[0]) {
			return false, nil
		}
		qualifies := maySync(ds, st.Bits)
		if !qualifies && (!found || last.Op == events.OpErase) {
			return false, nil // minimisation: never in the CRM, and no reason to be
		}
		// A member already in the CRM who no longer qualifies still gets their tags updated.
		c := b.contact(st, ds[0], last, found)
		if found && contentHash(c) == contentHash(last) {
			return false, nil
		}
		// Recorded before the contact exists, so the set never misses a member in the CRM.
		if err := b.rdb.SAdd(ctx, b.keys.crmMembers(), st.Token).Err(); err != nil {
			return false, fmt.Errorf("publish contact change: %w", err)
		}
		err = b.publishExpecting(ctx, c, seq)
		if errors.Is(err, events.ErrLastChangeMoved) {
			continue
		}
		return err == nil, err
	}
	return false, fmt.Errorf("publish contact change: %w", events.ErrLastChangeMoved)
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
	s, err := b.crm(ctx)
	if err != nil {
		return lastRead{}, err
	}
	raw, err := s.GetLastMsgForSubject(ctx, b.names.CRMSubject(member))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return lastRead{}, nil
	}
	if err != nil {
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
// A member relais never put in the CRM (inCRM) has none, and is not asked about; the others
// are read in batch gets where the stream allows. Members absent from the result must be read
// one by one (lastChange).
func (b *Bridge) lastChanges(ctx context.Context, members []string) map[string]lastRead {
	out := make(map[string]lastRead, len(members))
	in, err := b.inCRM(ctx, members)
	if err != nil {
		b.cfg.Log.Warn("bridge: members in the CRM, reading one by one", "err", err.Error())
		return out
	}
	var ask []string
	for _, m := range members {
		if in[m] {
			ask = append(ask, m)
		} else {
			out[m] = lastRead{}
		}
	}
	if len(ask) == 0 {
		return out
	}
	raws, err := b.pub.LastContactChanges(ctx, ask)
	if err != nil {
		if !errors.Is(err, events.ErrNoBatchRead) {
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

// crmLoaded marks the set of members in the CRM as filled from RELAIS_CRM in this Redis.
const crmLoaded = "~loaded"

// inCRM says which members relais may have put in the CRM: the bridge adds a member to the
// set before it publishes their first contact, and the set starts as every member RELAIS_CRM
// holds a change for (loaded once per Redis, so also after a rebuild into an empty one).
// Only the bridge creates contacts (the consent layer only changes or erases existing ones),
// so a member outside the set has no contact to update, and the bridge need not read their
// last change to decide it publishes nothing. A wrong "absent" could not go further anyway:
// a publish is conditional on the last change read, and fails if there is one.
func (b *Bridge) inCRM(ctx context.Context, members []string) (map[string]bool, error) {
	for attempt := 0; ; attempt++ {
		ask := make([]any, 0, len(members)+1)
		ask = append(ask, crmLoaded)
		for _, m := range members {
			ask = append(ask, m)
		}
		found, err := b.rdb.SMIsMember(ctx, b.keys.crmMembers(), ask...).Result()
		if err != nil {
			return nil, fmt.Errorf("members in the crm: %w", err)
		}
		if found[0] {
			out := make(map[string]bool, len(members))
			for i, m := range members {
				out[m] = found[i+1]
			}
			return out, nil
		}
		if attempt > 0 {
			return nil, errors.New("members in the crm: set not loaded")
		}
		if err := b.loadCRMMembers(ctx); err != nil {
			return nil, err
		}
	}
}

// loadCRMMembers adds every member RELAIS_CRM holds a change for to the set, then marks it
// loaded. Replicas loading at once, or publishing meanwhile, only add members. An erased
// member's last change (the erasure, kept for the CRM) does not bring their token back into
// Redis: their contact is gone, which is what absence from the set says.
func (b *Bridge) loadCRMMembers(ctx context.Context) error {
	g := newGate(b.consent)
	s, err := b.crm(ctx)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(b.names.CRMFilter()))
	if err != nil {
		return fmt.Errorf("members in the crm: %w", err)
	}
	prefix := strings.TrimSuffix(b.names.CRMFilter(), ">")
	batch := make([]any, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := b.rdb.SAdd(ctx, b.keys.crmMembers(), batch...).Err()
		batch = batch[:0]
		return err
	}
	for subj := range info.State.Subjects {
		m, ok := strings.CutPrefix(subj, prefix)
		if !ok {
			continue
		}
		d, err := g.decide(ctx, m, "")
		if err != nil {
			return fmt.Errorf("members in the crm: %w", err)
		}
		if !d.Erased {
			if batch = append(batch, m); len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return fmt.Errorf("members in the crm: %w", err)
				}
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("members in the crm: %w", err)
	}
	if err := b.rdb.SAdd(ctx, b.keys.crmMembers(), crmLoaded).Err(); err != nil {
		return fmt.Errorf("members in the crm: %w", err)
	}
	return nil
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
