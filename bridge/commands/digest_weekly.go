package commands

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge/commands/digest"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/journal"
)

// The weekly digest's sending (leases, once per organiser and week, retries) is package
// digest's; what a digest says is built here from the organiser's scope.

// Schedule is RELAIS_DIGEST_AT (see digest.Schedule).
type Schedule = digest.Schedule

// DefaultDigestAt is RELAIS_DIGEST_AT's default.
const DefaultDigestAt = digest.DefaultDigestAt

// ParseSchedule reads RELAIS_DIGEST_AT.
func ParseSchedule(s string) (Schedule, error) { return digest.ParseSchedule(s) }

// ISOWeek names the ISO week of t: 2026-W11.
func ISOWeek(t time.Time) string { return digest.ISOWeek(t) }

// DigestTick sends the week's digest to every organiser whose digest is due and was not sent
// yet, by this replica or another. It returns how many this call sent.
func (h *Handler) DigestTick(ctx context.Context, kv jetstream.KeyValue, s Schedule, now time.Time) (int, error) {
	return h.weekly.Tick(ctx, kv, s, now)
}

// RunDigests checks every minute whether the weekly digest is due, until ctx ends.
func (h *Handler) RunDigests(ctx context.Context, kv jetstream.KeyValue, s Schedule) error {
	return h.weekly.Run(ctx, kv, s)
}

// BuildWeekly builds one organiser's weekly digest; send is false when their scope holds
// nothing to report. An incomplete scope is digest.ErrScopeIncomplete while the digest may wait.
func (h *Handler) BuildWeekly(ctx context.Context, o digest.Recipient, who, week string, now time.Time, patient bool) (r events.Reply, send bool, err error) {
	sc, err := h.Scope(ctx, scope.Who{Platform: o.Platform, ID: o.ScopeID, Phone: o.Phone, Admin: o.Admin})
	if err != nil {
		return r, false, err
	}
	if !sc.Complete() && patient {
		return r, false, digest.ErrScopeIncomplete
	}
	if sc.Empty() && sc.Complete() {
		return r, false, nil // nothing of theirs to report
	}
	ctx, reads := journal.Collect(ctx)
	d, err := h.BuildDigest(ctx, sc, now)
	if err != nil {
		return r, false, err
	}
	r = events.Reply{V: events.Version, ID: "digest-" + who + "-" + week, Platform: o.Platform,
		Chat: o.Chat, Private: true, Text: h.DigestText(d)}
	if h.cfg.Journal != nil {
		// Before it is sent: a digest that went out is in the journal.
		token := h.consent.Canonical(h.hash.Member(o.Platform, o.ScopeID))
		err := h.cfg.Journal.Append(ctx, journal.Entry{ID: r.ID, Who: token, Role: role(o.Admin), What: "bilan-hebdo", Members: reads.Members()})
		if err != nil {
			return r, false, err
		}
	}
	return r, true, nil
}

// rebuilding says whether the bridge's state is being rebuilt from the event log.
func (h *Handler) rebuilding() bool {
	if h.cfg.Rebuilding == nil {
		return false
	}
	active, _ := h.cfg.Rebuilding()
	return active
}
