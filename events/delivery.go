package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// The consent gate is asked again at the moment of sending. The bridge decides who may
// receive a campaign when it queues it, but a member may object (/stop), ask for erasure
// (/oubli) or answer "Ne plus me solliciter" while their messages wait in the queue or in an
// adapter's hands (a 429's retry_after, WhatsApp's pacing). So the bridge writes a
// do-not-contact marker for the member before anything else it does about them, and an
// adapter reads it after claiming a recipient, right before the platform call, and after
// every record it writes: whoever was marked before that moment gets nothing, and no record
// about them outlives the bridge's clean-up, whichever of the two runs first.

// Do-not-contact reasons, the values under DoNotContactKey.
const (
	DoNotContactStop   = "stop"   // the member objected
	DoNotContactErased = "erased" // the member asked for erasure
	DoNotContactNoMore = "nomore" // the member answered "Ne plus me solliciter"
)

// DoNotContactKey holds a member's do-not-contact marker. It names the member by their
// keyed token only, like the suppression list, and outlives an erasure for the same reason:
// a message queued before it must still find it.
func DoNotContactKey(member string) string { return "x." + member }

// MarkDoNotContact records that no campaign message may reach member any more. The bridge
// writes it before it purges the member's queued messages and delivery records.
func MarkDoNotContact(ctx context.Context, kv jetstream.KeyValue, member, reason string) error {
	if !validToken(member) {
		return errors.New("do not contact: invalid member token")
	}
	switch reason {
	case DoNotContactStop, DoNotContactErased, DoNotContactNoMore:
	default:
		return fmt.Errorf("do not contact: unknown reason %q", reason)
	}
	if _, err := kv.Put(ctx, DoNotContactKey(member), []byte(reason)); err != nil {
		return fmt.Errorf("do not contact: %w", err)
	}
	return nil
}

// ClearDoNotContact lifts the marker when the member says yes again (and did not keep
// "Ne plus me solliciter"): campaigns queued from then on may reach them.
func ClearDoNotContact(ctx context.Context, js jetstream.JetStream, bucket, member string) error {
	if err := SecureDeleteKey(ctx, js, bucket, DoNotContactKey(member)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("do not contact: clear: %w", err)
	}
	return nil
}

// DoNotContact reads a member's marker: the reason, or "" when they may be contacted.
func DoNotContact(ctx context.Context, kv jetstream.KeyValue, member string) (string, error) {
	e, err := kv.Get(ctx, DoNotContactKey(member))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("do not contact: %w", err)
	}
	return string(e.Value()), nil
}

// Deliveries claims and settles an adapter's campaign deliveries in the campaigns bucket,
// asking each member's do-not-contact marker at every step.
type Deliveries struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	queue  jetstream.Stream
	bucket string
	log    *slog.Logger
}

// OpenDeliveries opens the campaigns bucket for an adapter; log (nil: none) hears of a
// campaign count that could not be written.
func OpenDeliveries(ctx context.Context, js jetstream.JetStream, n Names, log *slog.Logger) (*Deliveries, error) {
	kv, err := js.KeyValue(ctx, n.CampaignsBucket())
	if err != nil {
		return nil, fmt.Errorf("campaigns bucket: %w", err)
	}
	queue, err := js.Stream(ctx, n.CampaignsStream())
	if err != nil {
		return nil, fmt.Errorf("campaign queue: %w", err)
	}
	return &Deliveries{js: js, kv: kv, queue: queue, bucket: n.CampaignsBucket(), log: log}, nil
}

// KV is the campaigns bucket.
func (d *Deliveries) KV() jetstream.KeyValue { return d.kv }

// Claim is one adapter's reservation of one recipient of one campaign.
type Claim struct {
	Slug, Member string
	// Seq is the queued message's sequence in the campaign queue (0: not known). The bridge
	// purges the queued messages of a member who objects: one gone from the queue is not
	// sent, even if the marker was lifted since (a new /oui).
	Seq uint64
	// OK: this caller holds the claim and may send once Confirm says so.
	OK bool
	// Withheld: the member is marked do-not-contact; nothing was written, nothing is sent.
	Withheld bool
	rev      uint64
}

// Claim reserves the sending of a campaign to one member. OK is true for exactly one
// caller, across restarts and replicas, unless the recipient was released for a retry
// (OutcomeRetry). OK false and Withheld false means someone claimed it before: the message
// may have been sent, and must not be again.
func (d *Deliveries) Claim(ctx context.Context, slug, member string, seq uint64) (Claim, error) {
	c := Claim{Slug: slug, Member: member, Seq: seq}
	if dnc, err := DoNotContact(ctx, d.kv, member); err != nil || dnc != "" {
		c.Withheld = dnc != ""
		return c, err
	}
	key := DeliveryKey(slug, member)
	rev, err := d.kv.Create(ctx, key, []byte(OutcomeSending))
	if err == nil {
		c.OK, c.rev = true, rev
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return c, fmt.Errorf("claim delivery: %w", err)
	}
	e, err := d.kv.Get(ctx, key)
	if err != nil {
		return c, fmt.Errorf("claim delivery: %w", err)
	}
	if string(e.Value()) != OutcomeRetry {
		return c, nil
	}
	rev, err = d.kv.Update(ctx, key, []byte(OutcomeSending), e.Revision())
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || IsWrongLastSequence(err) {
			return c, nil // another process took it
		}
		return c, fmt.Errorf("claim delivery: %w", err)
	}
	c.OK, c.rev = true, rev
	return c, nil
}

// Confirm asks the gate at the moment of sending: called right before the platform call,
// after every wait. False means the member was marked since the claim: the claim is
// withdrawn (securely deleted, no record left) and the message must not be sent.
func (d *Deliveries) Confirm(ctx context.Context, c *Claim) (bool, error) {
	if !c.OK {
		return false, nil
	}
	dnc, err := DoNotContact(ctx, d.kv, c.Member)
	if err != nil {
		return false, err
	}
	if dnc == "" {
		queued, err := d.stillQueued(ctx, c.Seq)
		if err != nil || queued {
			return queued, err
		}
	}
	c.OK, c.Withheld = false, true
	return false, d.withdraw(ctx, DeliveryKey(c.Slug, c.Member))
}

// Settle records a claimed recipient's outcome, and counts it in the campaign's anonymous
// counters when it is final. It writes only over the claim itself: if the bridge deleted
// the member's delivery records meanwhile (an objection, an erasure: the bridge then
// counted the recipient withdrawn), nothing is written or counted, and a record written
// just before the bridge's marker is withdrawn. It says whether the record stands.
func (d *Deliveries) Settle(ctx context.Context, c Claim, outcome string) (bool, error) {
	if c.rev == 0 {
		return false, errors.New("settle delivery: not claimed")
	}
	key := DeliveryKey(c.Slug, c.Member)
	if _, err := d.kv.Update(ctx, key, []byte(outcome), c.rev); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || IsWrongLastSequence(err) || errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, nil // withdrawn or forgotten: the member is not to be recorded
		}
		return false, fmt.Errorf("settle delivery: %w", err)
	}
	return d.countIfStands(ctx, c.Slug, c.Member, c.Seq, key, outcome)
}

// SettleUnclaimed records the outcome of a recipient never sent to, unless someone claimed
// them meanwhile or the member is marked do-not-contact (the bridge then counted them
// withdrawn when it purged their message).
func (d *Deliveries) SettleUnclaimed(ctx context.Context, slug, member string, seq uint64, outcome string) (bool, error) {
	if dnc, err := DoNotContact(ctx, d.kv, member); err != nil || dnc != "" {
		return false, err
	}
	key := DeliveryKey(slug, member)
	if _, err := d.kv.Create(ctx, key, []byte(outcome)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil
		}
		return false, fmt.Errorf("settle delivery: %w", err)
	}
	return d.countIfStands(ctx, slug, member, seq, key, outcome)
}

// countIfStands counts a recorded outcome unless the record was withdrawn. Whoever takes a
// message off the queue counts it: an adapter its outcome, the bridge a withdrawal when it
// purges the message of a member who objected. So the adapter counts only while its
// message is still queued.
func (d *Deliveries) countIfStands(ctx context.Context, slug, member string, seq uint64, key, outcome string) (bool, error) {
	stands, err := d.standsAfter(ctx, member, key)
	if err != nil || !stands {
		return stands, err
	}
	queued, err := d.stillQueued(ctx, seq)
	if err != nil {
		return true, err
	}
	if queued {
		CountSettled(ctx, d.kv, d.log, slug, outcome)
	}
	return true, nil
}

// stillQueued says whether the message at seq is still in the campaign queue (true when
// seq is not known).
func (d *Deliveries) stillQueued(ctx context.Context, seq uint64) (bool, error) {
	if seq == 0 {
		return true, nil
	}
	_, err := d.queue.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("campaign queue: %w", err)
	}
	return true, nil
}

// MarkBlocked records that the member blocked the bot, unless their records are being
// forgotten (an objector or erased member has no reachability kept).
func (d *Deliveries) MarkBlocked(ctx context.Context, member string) error {
	if dnc, err := DoNotContact(ctx, d.kv, member); err != nil || ForgetsRecords(dnc) {
		return err
	}
	key := ReachKey(member)
	if _, err := d.kv.Put(ctx, key, []byte(ReachBlocked)); err != nil {
		return fmt.Errorf("reach: %w", err)
	}
	_, err := d.standsAfter(ctx, member, key)
	return err
}

// standsAfter reads the marker again after a write about member: the bridge writes the
// marker before it deletes the member's records, so a write it could have missed is seen
// here and withdrawn.
func (d *Deliveries) standsAfter(ctx context.Context, member, key string) (bool, error) {
	dnc, err := DoNotContact(ctx, d.kv, member)
	if err != nil {
		return false, err
	}
	if !ForgetsRecords(dnc) {
		return true, nil
	}
	return false, d.withdraw(ctx, key)
}

// ForgetsRecords: the bridge deletes the campaign records of a member marked for this
// reason. "Ne plus me solliciter" stops sending but keeps what was sent, for the campaigns'
// reports.
func ForgetsRecords(reason string) bool {
	return reason == DoNotContactStop || reason == DoNotContactErased
}

func (d *Deliveries) withdraw(ctx context.Context, key string) error {
	if err := SecureDeleteKey(ctx, d.js, d.bucket, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("withdraw %s: %w", key[:1], err)
	}
	return nil
}
