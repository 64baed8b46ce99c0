package crm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// call runs the sink once and returns what to remember. Each step the sink confirms is
// recorded in p and in the refs record.
func (h *handler) call(ctx context.Context, change events.ContactChange, rec record, p *pending) (record, error) {
	ctx, cancel := context.WithTimeout(ctx, h.w.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	defer func() { h.w.metrics.latency.Observe(time.Since(start).Seconds()) }()
	if change.Op == events.OpErase {
		if err := h.w.sink.Erase(ctx, change.ExternalID, rec.Ref); err != nil {
			return record{}, err
		}
		return record{Erased: true}, nil
	}
	applied := rec.Applied
	if rec.State == "" || rec.Erased {
		applied = nil // nothing known: the sink checks every tag
	} else if applied == nil {
		applied = []string{}
	}
	c := ContactFrom(change, rec.Ref, applied)
	c.Done = p.Done
	c.Step = func(done Progress) {
		p.Done = done
		h.savePending(ctx, change.Member, rec, p)
	}
	ref, err := h.w.sink.Upsert(ctx, c)
	if err != nil {
		return record{}, &redactedError{err: err, c: c}
	}
	return record{Ref: ref, Applied: c.Tags}, nil
}

// redactedError hides the contact's name and phone from a sink error's text while keeping
// its class for errors.As.
type redactedError struct {
	err error
	c   Contact
}

func (r *redactedError) Error() string { return r.c.Redact(r.err.Error()) }
func (r *redactedError) Unwrap() error { return r.err }

// eraseAndNotify runs an erase the member asked for and tells them the outcome, once. The
// change carries the member's chat and the texts, so it is securely deleted afterwards, and
// the refs entry with it: nothing of the member stays in RELAIS_CRM or RELAIS_CRM_REFS.
//
// Each step can be repeated after a crash. The refs entry notes that the member was told
// before the change is deleted, so a redelivery does not tell them twice; a crash between
// the reply and that note redelivers the reply under the same id, which the replies
// stream drops within its duplicate window.
func (h *handler) eraseAndNotify(ctx context.Context, msg jetstream.Msg, change events.ContactChange, rec record, state string) error {
	md, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("contact change metadata: %w", err)
	}
	if !rec.Erased || rec.State != state {
		if _, err := h.write(ctx, change, rec, state); err != nil {
			if !events.IsPermanent(err) {
				return err // nothing is said until the CRM answered for good
			}
			return h.eraseFailed(ctx, msg, md, change, err)
		}
		if err := h.forget(ctx, change.Member); err != nil {
			return err
		}
		rec = record{Erased: true, State: state}
	}
	if !rec.Notified {
		if err := h.notify(ctx, change, change.Notify.Done); err != nil {
			return err
		}
		rec.Notified = true
		if err := h.save(ctx, change.Member, rec); err != nil {
			return err
		}
	}
	if err := events.SecureDeleteSeq(ctx, h.stream, md.Sequence.Stream); err != nil {
		return err
	}
	if err := h.forget(ctx, change.Member); err != nil {
		return err
	}
	h.w.noteSuccess()
	h.w.metrics.outcome("ok")
	return nil
}

// eraseFailed settles an erase the CRM refused for good: the member is told why, an
// operator finds the change in the dead letters to retry it, and the change that named the
// member's chat is securely deleted. The refs entry stays: it holds the CRM's id for the
// contact, which a retry needs.
func (h *handler) eraseFailed(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, change events.ContactChange, cause error) error {
	// The dead letter is the erase without Notify: enough to retry it, and no chat id or
	// text of the member.
	retry := change
	retry.Notify = nil
	data, err := events.Encode(retry)
	if err != nil {
		return events.Permanent(err)
	}
	dl := nats.NewMsg(h.w.names.DLQSubject(msg.Subject()))
	dl.Data = data
	dl.Header.Set(events.HeaderReason, Clip(cause.Error(), 512))
	dl.Header.Set(events.HeaderSubject, msg.Subject())
	dl.Header.Set(events.HeaderStream, md.Stream)
	dl.Header.Set(events.HeaderSequence, strconv.FormatUint(md.Sequence.Stream, 10))
	dl.Header.Set(events.HeaderDelivered, strconv.FormatUint(md.NumDelivered, 10))
	dl.Header.Set(jetstream.MsgIDHeader, "dlq-"+md.Stream+"-"+strconv.FormatUint(md.Sequence.Stream, 10))
	if _, err := h.w.js.PublishMsg(ctx, dl); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	if f := change.Notify.Failed; f != "" {
		if err := h.notify(ctx, change, fmt.Sprintf(f, publicReason(cause))); err != nil {
			return err
		}
	}
	if err := events.SecureDeleteSeq(ctx, h.stream, md.Sequence.Stream); err != nil {
		return err
	}
	return nil
}

// notify sends text privately to the chat the change names. The reply id derives from the
// change's, so repeating it (a redelivery) stores it once within the duplicate window.
func (h *handler) notify(ctx context.Context, change events.ContactChange, text string) error {
	n := change.Notify
	r := events.Reply{V: events.Version, ID: "erase-" + change.ID, Platform: n.Platform, Chat: n.Chat, Private: true, Text: text}
	if err := h.w.pub.Reply(ctx, r); err != nil {
		return fmt.Errorf("erase notice: %w", err)
	}
	return nil
}

// publicReason says why a CRM call failed in words fit for the member: what relais did and
// the CRM's status and code, never the CRM's free text.
func publicReason(err error) string {
	e, ok := AsError(err)
	if !ok {
		return "CRM error"
	}
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" " + Clip(e.Code, 64))
	}
	return b.String()
}
