package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

// The rights that end processing: an objection (/stop) and an erasure (/oubli). Both write
// the campaigns' do-not-contact marker before anything else (see donotcontact.go).

// stop records an objection, deletes the member's activity state, then marks the contact in
// the CRM: relais tags removed, <prefix>stop and do-not-contact set. The bridge processes
// nothing more from the member and never publishes their contact again; an objector's
// contact is this package's alone.
func (h *Handler) stop(ctx context.Context, ev events.Event, member string) error {
	tokens := h.tokens(ev, member)
	if err := h.camp.MarkDoNotContact(ctx, tokens, events.DoNotContactStop); err != nil {
		return err
	}
	for _, tok := range tokens {
		prev, found, err := h.consent.Get(ctx, tok)
		if err != nil {
			return err
		}
		// A second /stop (or a redelivery) keeps the first objection's time: it decides which
		// of their events still credit others, and must not move.
		if !found || !prev.Suppressed() {
			rec := consent.Record{Status: consent.StatusStop, At: ev.At, Channel: ev.Platform,
				NoticeVersion: NoticeVersion, ObjectedAt: ev.At}
			if err := h.consent.Set(ctx, tok, rec); err != nil {
				return err
			}
			h.camp.CountObjection(ctx, tok)
		}
		if err := h.members.Object(ctx, tok); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		if err := h.publishStop(ctx, tok); err != nil {
			return err
		}
	}
	if err := h.camp.Forget(ctx, tokens); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	h.log.Info("member objected", "member", member)
	return h.send(ctx, h.here(ev, "stop", h.cat.Stopped))
}

// publishStop publishes the objector's contact state. A member relais never put in the CRM
// stays out of it: creating a contact only to say "do not contact" would be new processing.
func (h *Handler) publishStop(ctx context.Context, member string) error {
	last, seq, found, err := h.pub.LastContactChangeSeq(ctx, member)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	stopTag := h.cfg.TagPrefix + "stop"
	if !found || last.Op == events.OpErase || (last.DoNotContact && slices.Equal(last.Tags, []string{stopTag})) {
		return nil
	}
	c := last // identity as the CRM knows it; only tags and the flag change
	var remove []string
	for _, t := range append(slices.Clone(last.Tags), last.RemoveTags...) {
		if t != stopTag {
			remove = append(remove, t)
		}
	}
	slices.Sort(remove)
	c.RemoveTags = slices.Compact(remove)
	c.Tags = []string{stopTag}
	c.DoNotContact = true
	c.At = h.cfg.Now().UTC()
	// The id derives from the state it replaces: a redelivered /stop finds it already stored.
	sum := sha256.Sum256([]byte(last.ID))
	c.ID = "cc-" + member + "-stop-" + hex.EncodeToString(sum[:8])
	// Conditional on the change it replaces still being the last: if the bridge stored a
	// newer state meanwhile, decide again on that one.
	m, err := h.pub.ContactChangeMsg(c)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	_, err = h.pub.ReplaceContactChange(ctx, m, seq)
	if errors.Is(err, events.ErrLastChangeMoved) {
		return h.publishStop(ctx, member)
	}
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

// forget erases a member, in two steps the member sees: the request is recorded (and from
// then on nothing of theirs is processed), then, once the CRM confirmed, the erasure is
// complete. The suppression record is written first, so a failure at any later step leaves
// nothing processed, and the command is retried until every step is done: each is
// idempotent, and rights commands are never rate limited.
func (h *Handler) forget(ctx context.Context, ev events.Event, member string) error {
	tokens := h.tokens(ev, member)
	if err := h.camp.MarkDoNotContact(ctx, tokens, events.DoNotContactErased); err != nil {
		return err
	}
	recs := make([]consent.Record, len(tokens))
	for i, tok := range tokens {
		prev, found, err := h.consent.Get(ctx, tok)
		if err != nil {
			return err
		}
		if found && prev.Status == consent.StatusErased {
			recs[i] = prev
			continue
		}
		last, inCRM, err := h.pub.LastContactChange(ctx, tok)
		if err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		recs[i] = consent.Record{Status: consent.StatusErased, At: ev.At, Channel: ev.Platform,
			NoticeVersion: NoticeVersion, InCRM: inCRM && last.Op != events.OpErase}
		if err := h.consent.Set(ctx, tok, recs[i]); err != nil {
			return err
		}
	}
	if err := h.send(ctx, h.here(ev, "forget", h.cat.ForgetRequested)); err != nil {
		return err
	}
	pseudonym, err := events.NewPseudonym()
	if err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	// Queued campaign messages go first: the event log's scan below takes seconds to minutes.
	if err := h.camp.Forget(ctx, tokens); err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	inCRM := false
	for i, tok := range tokens {
		id, err := h.members.Identity(ctx, tok)
		if err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		pid, err := h.erasedPlatformID(ctx, ev, tok, id.PlatformID)
		if err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		who := events.ErasedMember{
			Token: tok, Platform: ev.Platform, PlatformID: pid, Pseudonym: pseudonym,
			Names:     compactStrings(append(id.Names, ev.Sender.Name, ev.Sender.FirstName, ev.Sender.LastName)),
			Usernames: compactStrings([]string{id.Username, ev.Sender.Username}),
			// The command's own message is the bridge's to delete, once every step below
			// succeeded: until then a failure has it redelivered.
			KeepSeq: events.EventSeq(ctx),
		}
		if pid != "" {
			report, err := events.EraseMember(ctx, h.js, h.pub, who)
			if err != nil {
				return fmt.Errorf("forget: %w", err)
			}
			h.log.Info("member erased from the log and the state", "member", tok, "own_events", report.OwnEvents, "rewritten", report.Rewritten, "replies", report.Replies, "dead_letters", report.DeadLetters)
		} else if err := events.EraseToken(ctx, h.js, h.names, tok); err != nil {
			// No event of this linked id is left and no state names it: what is left of it
			// is what its token selects.
			return fmt.Errorf("forget: %w", err)
		}
		if err := h.members.Erase(ctx, tok); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		inCRM = inCRM || recs[i].InCRM
	}
	notify := &events.Notify{Platform: ev.Platform, Chat: ev.Sender.ID, Done: h.cat.Forgotten, Failed: h.cat.ForgetFailed}
	for i, tok := range tokens {
		n := notify
		if i > 0 {
			n = nil // one confirmation is enough
		}
		if err := h.members.EraseContact(ctx, tok, recs[i].InCRM, n); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
	}
	// On a cluster the Raft logs still hold what was just deleted: the bridge flushes them
	// within RELAIS_ERASE_WITHIN (events.FlushRaftLogs).
	if err := events.RequestRaftFlush(ctx, h.js, h.names); err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	if !inCRM {
		// Nothing to wait for: relais never put them in the CRM.
		return h.send(ctx, h.private(ev, "forget-done", h.cat.Forgotten))
	}
	return nil
}

func compactStrings(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// rightsCommands declares the commands of a member's rights and of the information notice.
// Rights are never rate limited.
func (h *Handler) rightsCommands() []command.Spec {
	member := func(f func(ctx context.Context, ev events.Event, member string) error) command.Func {
		return func(ctx context.Context, r command.Request) error { return f(ctx, r.Event, r.Member) }
	}
	return []command.Spec{
		{Key: "aide", Names: []string{"aide", "help", "start", "commandes"}, English: "help",
			Who: command.Anyone, Rate: command.Limited, Arg: events.ArgNone, Listed: false,
			Run: func(ctx context.Context, r command.Request) error {
				return h.send(ctx, h.here(r.Event, "help", h.helpText(r.Organiser, r.Admin)))
			}},
		{Key: "oui", Names: []string{"oui", "consent", "consentement", "yes"}, English: "consent",
			Who: command.Anyone, Rate: command.Right, Arg: events.ArgNone, Listed: true, Run: member(h.yes)},
		{Key: "stop", Names: []string{"stop", "arret"},
			Who: command.Anyone, Rate: command.Right, Arg: events.ArgNone, Listed: true, Run: member(h.stop)},
		{Key: "moi", Names: []string{"moi", "mesdonnees", "mydata", "me"}, English: "mydata",
			Who: command.Anyone, Rate: command.Right, Arg: events.ArgFile, Listed: true, Run: member(h.meOrFile)},
		// Securely deleting a member's events costs a block rewrite each: off the batch loop.
		{Key: "oubli", Names: []string{"oubli", "oublier", "forget", "erase"}, English: "forget",
			Who: command.Anyone, Rate: command.Right, Arg: events.ArgNone, Listed: true, Background: true, Run: member(h.forget)},
		{Key: "confidentialite", Names: []string{"confidentialite", "vieprivee", "vie_privee", "privacy"}, English: "privacy",
			Who: command.Anyone, Rate: command.Limited, Arg: events.ArgNone, Listed: true,
			Run: func(ctx context.Context, r command.Request) error {
				return h.send(ctx, h.here(r.Event, "privacy", h.noticeText(h.groupPolicy(r.Event))))
			}},
	}
}
