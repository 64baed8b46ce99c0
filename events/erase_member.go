package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErasedMember is one platform identity of a member to erase. A person relais knows under
// two ids (a WhatsApp LID and phone id) is erased with one call per id, with the same
// pseudonym.
type ErasedMember struct {
	// Token is the member token (Hasher.Member) in the member's subjects.
	Token    string
	Platform Platform
	// PlatformID is the member's id on Platform: replies to it and mentions of it are
	// removed from other members' events.
	PlatformID string
	// Usernames are the member's handles, with or without "@"; Names every form of their
	// name (full, first, last). Both are matched without regard to case, as whole words, in
	// mentions, command arguments, pending replies and dead letters.
	Usernames []string
	Names     []string
	// Pseudonym replaces the member as the sender of their group messages, which keep
	// counting in their group's days and credit nobody. It starts with PseudonymPrefix; the caller draws
	// one at random per erasure and reuses it if it has to run the erasure again.
	Pseudonym string
	// KeepSeq is the stream sequence in RELAIS_EVENTS of the command asking for the erasure
	// (0: none). Its message is left for the caller to delete once every later step
	// succeeded: deleted here, it would be settled for the consumer, and a failure after
	// this call would never see the command again.
	KeepSeq uint64
}

// EraseReport counts what an erasure did; it names nobody, so it may be logged.
type EraseReport struct {
	OwnEvents      int // the member's events, securely deleted
	Anonymised     int // of those, copies kept under the pseudonym because they credit others
	Rewritten      int // others' events that referenced the member, replaced by a copy without it
	Unreadable     int // undecodable events that were the member's or named them: deleted
	DeadLetters    int
	Replies        int
	ContactChanges int
}

// Total is the number of messages securely deleted.
func (r EraseReport) Total() int {
	return r.OwnEvents + r.Rewritten + r.Unreadable + r.DeadLetters + r.Replies + r.ContactChanges
}

// Nats-Msg-Id suffixes of the copies an erasure publishes. They differ from the original's
// id because JetStream would drop a copy under the original id as a duplicate, deleted or
// not, for as long as the duplicate window lasts. Both end with the original's stream
// sequence, which the bridge deduplicates by: a copy of an event it applied is not applied
// again (see CopyOf).
const (
	anonIDSuffix    = "~anon-"
	rewriteIDSuffix = "~rw-"
)

// CopyOf returns the stream sequence of the original an erasure's copy replaces, from the
// copy's Nats-Msg-Id; ok is false for any other message.
func CopyOf(msgID string) (seq uint64, ok bool) {
	for _, suffix := range []string{anonIDSuffix, rewriteIDSuffix} {
		if i := strings.LastIndex(msgID, suffix); i >= 0 {
			n, err := strconv.ParseUint(msgID[i+len(suffix):], 10, 64)
			return n, err == nil && n > 0
		}
	}
	return 0, false
}

// EraseMember securely deletes, from every stream, what relais holds about one member:
//
//  1. their events in RELAIS_EVENTS; a message in a group is first copied under
//     who.Pseudonym, with the same event id, no name and no reference to anyone, so it
//     still counts in its group's messages per day (and nowhere else);
//  2. the references to them in other members' events (reply_to, mentions, command
//     arguments): each such event is replaced by a copy without them, same event id;
//  3. their dead letters, and any dead letter naming them;
//  4. pending replies to them or naming them (personal answers not sent yet);
//  5. their contact change in RELAIS_CRM. The caller publishes the erase change after.
//
// All but who.KeepSeq, the command asking for it, which the caller deletes last.
//
// Each copy is published before its original is deleted, and a copy already published is
// recognised by its Nats-Msg-Id, so running EraseMember again after a crash completes the
// erasure without duplicating anything; on a finished erasure it changes nothing.
//
// It reads each stream up to where it stood when it began: the caller suppresses the
// member first, and since adapters keep storing what a suppressed member says, whoever
// consumes those events deletes them as it sees them (SecureDeleteSeq on the message's
// stream sequence).
func EraseMember(ctx context.Context, js jetstream.JetStream, p *Publisher, who ErasedMember) (EraseReport, error) {
	var rep EraseReport
	if err := who.validate(); err != nil {
		return rep, err
	}
	n := p.Names()
	m := newMatcher(who)

	evs, err := js.Stream(ctx, n.EventsStream())
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	if err := eraseEvents(ctx, js, p, evs, who, m, &rep); err != nil {
		return rep, err
	}

	dlq, err := js.Stream(ctx, n.DLQStream())
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	for _, f := range n.MemberDLQFilters(who.Token) {
		k, err := SecureDelete(ctx, dlq, f)
		rep.DeadLetters += k
		if err != nil {
			return rep, fmt.Errorf("erase dead letters: %w", err)
		}
	}
	var naming []uint64
	err = scan(ctx, js, n.DLQStream(), n.DLQFilter(), func(msg jetstream.Msg, seq uint64) error {
		if m.deadLetterNames(msg.Data()) {
			naming = append(naming, seq)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("erase dead letters: %w", err)
	}
	for _, seq := range naming {
		if err := SecureDeleteSeq(ctx, dlq, seq); err != nil {
			return rep, fmt.Errorf("erase dead letters: %w", err)
		}
		rep.DeadLetters++
	}

	replies, err := js.Stream(ctx, n.RepliesStream())
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	err = eachMsg(ctx, replies, n.RepliesFilter(), func(msg *jetstream.RawStreamMsg) error {
		if !m.replyNames(msg.Data) {
			return nil
		}
		if err := SecureDeleteSeq(ctx, replies, msg.Sequence); err != nil {
			return err
		}
		rep.Replies++
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("erase replies: %w", err)
	}

	crmStream, err := js.Stream(ctx, n.CRMStream())
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	if rep.ContactChanges, err = SecureDelete(ctx, crmStream, n.CRMSubject(who.Token)); err != nil {
		return rep, fmt.Errorf("erase contact change: %w", err)
	}
	return rep, nil
}

func (who ErasedMember) validate() error {
	// The token and id select what is deleted: an empty or wildcard one would select
	// everybody.
	if who.Token == "" || strings.ContainsFunc(who.Token, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return errors.New("erase: member token must be letters and digits")
	}
	if !who.Platform.Valid() || who.PlatformID == "" {
		return errors.New("erase: platform and platform id are required")
	}
	if !Pseudonymous(who.Pseudonym) || len(who.Pseudonym) < 2 {
		return fmt.Errorf("erase: pseudonym must start with %q", PseudonymPrefix)
	}
	return nil
}

// stored is one event read from the stream, kept until the scan is over.
type stored struct {
	seq uint64
	ev  Event
	// importID is the original's HeaderHistory: its copy is imported too, so it stays on
	// its day's subject (expiring with that day, not a full retention from the erasure) and
	// the bridge settles it as it settles imports.
	importID string
}

// eraseEvents does steps 1 and 2 in one pass over the event log: the scan is the slow part.
func eraseEvents(ctx context.Context, js jetstream.JetStream, p *Publisher, s jetstream.Stream, who ErasedMember, m *matcher, rep *EraseReport) error {
	n := p.Names()
	var own, refs []stored
	var undecodable []uint64
	copies := map[string]bool{} // Nats-Msg-Ids of the copies earlier runs published
	err := scan(ctx, js, n.EventsStream(), n.EventsFilter(), func(msg jetstream.Msg, seq uint64) error {
		if who.KeepSeq != 0 && seq == who.KeepSeq {
			return nil
		}
		if id := msg.Headers().Get(jetstream.MsgIDHeader); strings.Contains(id, anonIDSuffix) || strings.Contains(id, rewriteIDSuffix) {
			copies[id] = true
		}
		mine := false
		if tok, ok := n.MemberFromSubject(msg.Subject()); ok && tok == who.Token {
			mine = true
		}
		ev, err := DecodeEvent(msg.Data())
		imp := msg.Headers().Get(HeaderHistory)
		switch {
		case err != nil && (mine || m.rawNames(msg.Data())):
			undecodable = append(undecodable, seq)
		case err != nil:
		case mine:
			own = append(own, stored{seq, ev, imp})
		case m.eventRefers(ev):
			refs = append(refs, stored{seq, ev, imp})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("erase events: %w", err)
	}

	for _, o := range own {
		if c, ok := m.anonymised(o.ev); ok {
			if id := o.ev.ID + anonIDSuffix + strconv.FormatUint(o.seq, 10); !copies[id] {
				if err := publishCopy(ctx, js, p, c, id, o.importID); err != nil {
					return err
				}
			}
			rep.Anonymised++
		}
		if err := SecureDeleteSeq(ctx, s, o.seq); err != nil {
			return fmt.Errorf("erase events: %w", err)
		}
		rep.OwnEvents++
	}
	for _, r := range refs {
		c := m.withoutRefs(r.ev)
		// An erasure pseudonym's message still counts in its group; anything else of theirs
		// that no longer credits anyone is worth nothing to keep.
		keep := !Pseudonymous(c.Sender.ID) || c.Kind == KindMessage || c.ReplyTo != "" || len(c.Mentions) > 0
		if id := r.ev.ID + rewriteIDSuffix + strconv.FormatUint(r.seq, 10); keep && !copies[id] {
			if err := publishCopy(ctx, js, p, c, id, r.importID); err != nil {
				return err
			}
		}
		if err := SecureDeleteSeq(ctx, s, r.seq); err != nil {
			return fmt.Errorf("erase events: %w", err)
		}
		rep.Rewritten++
	}
	for _, seq := range undecodable {
		if err := SecureDeleteSeq(ctx, s, seq); err != nil {
			return fmt.Errorf("erase events: %w", err)
		}
		rep.Unreadable++
	}
	return nil
}

// publishCopy publishes an erasure's copy under msgID: live like its original, or imported
// under the original's import id.
func publishCopy(ctx context.Context, js jetstream.JetStream, p *Publisher, e Event, msgID, importID string) error {
	var (
		m   *nats.Msg
		err error
	)
	if importID != "" {
		m, err = p.HistoryMsg(e, importID)
	} else {
		m, err = p.EventMsg(e)
	}
	if err != nil {
		return fmt.Errorf("erase: copy of an event: %w", err)
	}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("erase: publish copy: %w", err)
	}
	return nil
}

// scanIdle bounds the wait for a message a stream said it held: one deleted meanwhile (by
// MaxAge, say) must not hang the scan.
const scanIdle = 5 * time.Second

// scan calls fn with every message of a limits stream on filter, up to the last one stored
// when it starts, through an ordered consumer (one pull stream, not one request a message:
// the event log can hold millions).
func scan(ctx context.Context, js jetstream.JetStream, stream, filter string, fn func(jetstream.Msg, uint64) error) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msg, err := it.Next(jetstream.NextMaxWait(scanIdle))
		if errors.Is(err, nats.ErrTimeout) {
			return nil
		}
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		if err := fn(msg, md.Sequence.Stream); err != nil {
			return err
		}
		if md.NumPending == 0 || md.Sequence.Stream >= last {
			return nil
		}
	}
}
