// Package campaigns is the bot's calls to action: an organiser's /mobiliser sends a message
// privately to the relays of their groups who said /oui, after a preview and a confirmation.
//
// It owns the campaigns bucket and its records (campaigns, drafts, deliveries, answers,
// reachability, the weekly count of each member, the objectors' anonymous counts), the
// audience of a campaign and its counts, the weekly cap (RELAIS_CAMPAIGN_MAX_PER_WEEK), the
// bridge's side of the do-not-contact marker (set on /stop, /oubli and "Ne plus me
// solliciter", lifted on a new /oui), the campaign reports and the digest's campaign
// section, and the commands of campaigns: the organiser's (/mobiliser, /campagnes,
// /campagne, Envoyer, Annuler) and the buttons members press (Je relaie, Pas cette fois, Ne
// plus me solliciter).
//
// What it needs from the rest of the commands comes through the small interfaces of Deps:
// answering, the organisers' scopes, the group and member directory, the consent store and
// the member resync.
package campaigns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/commands/reply"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// AudienceQuery finds a campaign's audience among the groups the organiser may address.
type AudienceQuery interface {
	Audience(ctx context.Context, groups []string, want bridge.AudienceTags, ledger bridge.ContactLedger, perWeek int) ([]bridge.Candidate, error)
	GroupTokens(ctx context.Context) ([]string, error)
	// Seat is where a member stands, whatever their consent: an objection is counted there.
	Seat(ctx context.Context, member string) (bridge.Seat, error)
}

// Config turns campaigns on.
type Config struct {
	// MaxPerWeek is RELAIS_CAMPAIGN_MAX_PER_WEEK (default 2).
	MaxPerWeek int
	Audience   AudienceQuery
	// AllowedGroups returns the group tokens an organiser may address. Nil: the groups of
	// the organiser's scope (Deps.Scopes).
	AllowedGroups func(ctx context.Context, p events.Platform, organiserID string) ([]string, error)
	Registerer    prometheus.Registerer
}

// Replier answers a command (package reply's Sender).
type Replier interface {
	// Here answers in the chat the command came from; Private in a private chat with the
	// sender.
	Here(ev events.Event, kind, text string) events.Reply
	Private(ev events.Event, kind, text string) events.Reply
	Send(ctx context.Context, r events.Reply) error
	// SendPrivately sends a private answer and says so in the group the command came from.
	SendPrivately(ctx context.Context, ev events.Event, r events.Reply) error
}

// Scopes are the organisers' scopes, and how the commands word the groups a scope could not
// check.
type Scopes interface {
	// OrganiserScope is the groups the organiser m may see.
	OrganiserScope(ctx context.Context, p events.Platform, m events.Member) (scope.Scope, error)
	// Unchecked says which groups sc could not check; "" when it checked them all.
	Unchecked(sc scope.Scope) string
	// UncheckedTitles lists the groups sc could not check, within one message.
	UncheckedTitles(sc scope.Scope) string
	// WithUnchecked puts what sc could not check above an answer built on it.
	WithUnchecked(sc scope.Scope, text string) string
}

// Directory finds groups by title and members by token, from the bridge's state.
type Directory interface {
	FindGroup(ctx context.Context, title string) ([]bridge.GroupStats, error)
	Member(ctx context.Context, member string) (bridge.MemberCard, bool, error)
}

// Resyncer publishes a member's CRM state again, after their consent record changed.
type Resyncer interface {
	Resync(ctx context.Context, member string) error
}

// Queue queues a campaign message for the adapters (*events.Publisher does).
type Queue interface {
	QueueCampaign(ctx context.Context, r events.Reply) error
}

// Deps are what campaigns use of the rest of the bridge.
type Deps struct {
	// Lang is RELAIS_LANG: "fr" (default) or "en".
	Lang string
	// Controller names who is responsible for the data, in the footer of a campaign message.
	Controller string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log gets operational logs, never personal data; nil discards.
	Log *slog.Logger
	// JS and Names reach the campaigns bucket and stream.
	JS        jetstream.JetStream
	Names     events.Names
	Consent   *consent.Store
	Members   Resyncer
	Queue     Queue
	Replies   Replier
	Directory Directory
	Scopes    Scopes
	// Date formats a day in the organiser's language.
	Date func(time.Time) string
}

// Feature is the campaigns of one deployment. Until Enable its commands answer that
// campaigns are not available here, and what the other commands ask of it does nothing.
type Feature struct {
	d   Deps
	txt CampaignTexts
	st  *store // nil until Enable
}

// store is an enabled deployment's campaigns bucket and settings.
type store struct {
	cfg     Config
	kv      jetstream.KeyValue
	metrics campaignMetrics
}

// New returns the campaigns feature, off; it fails only when the language has no campaign
// texts.
func New(d Deps) (*Feature, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	txt, err := campaignTextsFor(d.Lang)
	if err != nil {
		return nil, err
	}
	return &Feature{d: d, txt: txt}, nil
}

// Enable opens the campaigns bucket and answers /mobiliser, /campagnes, /campagne and the
// campaign buttons.
func (f *Feature) Enable(ctx context.Context, c Config) error {
	if c.Audience == nil {
		return errors.New("campaigns: an audience query is needed")
	}
	if c.MaxPerWeek < 0 {
		return errors.New("campaigns: campaigns a week must not be negative")
	}
	kv, err := f.d.JS.KeyValue(ctx, f.d.Names.CampaignsBucket())
	if err != nil {
		return fmt.Errorf("campaigns: bucket: %w", err)
	}
	f.st = &store{cfg: c, kv: kv, metrics: newCampaignMetrics(c.Registerer)}
	return nil
}

// NoticeLine is the information notice's sentence on campaigns: how many a week at most;
// "" when campaigns are off.
func (f *Feature) NoticeLine() string {
	if f.st == nil {
		return ""
	}
	return f.txt.NoticeCap.N(f.st.cfg.MaxPerWeek)
}

// Commands declares the campaign commands: the organiser's (write, preview, send or cancel,
// follow) and the buttons of a campaign message, which any member who received it presses.
// Until Enable they answer that campaigns are not available here.
func (f *Feature) Commands() []command.Spec {
	off := func() bool { return f.st == nil }
	org := func(key string, names []string, english string, arg events.ArgKind, listed bool, run organiserFunc) command.Spec {
		return command.Spec{Key: key, Names: names, English: english, Who: command.Organisers, Rate: command.Limited,
			Arg: arg, Listed: listed, Off: off, Background: true, Run: f.organiserCommand(run)}
	}
	list := func(text func(ctx context.Context, r command.Request) (string, error)) organiserFunc {
		return func(ctx context.Context, r command.Request) (events.Reply, error) {
			s, err := text(ctx, r)
			return f.d.Replies.Private(r.Event, "answer", reply.Clip(s)), err
		}
	}
	button := func(key string, names []string, english, answer string) command.Spec {
		return command.Spec{Key: key, Names: names, English: english, Who: command.Anyone, Rate: command.Limited,
			Arg: events.ArgSlug, Off: off, Run: func(ctx context.Context, r command.Request) error {
				return f.answer(ctx, r.Event, r.Member, answer)
			}}
	}
	return []command.Spec{
		org("mobiliser", []string{"mobiliser", "mobilise"}, "mobilise", events.ArgText, true, f.mobilise),
		org("campagnes", []string{"campagnes", "campaigns"}, "campaigns", events.ArgNone, true,
			list(func(ctx context.Context, r command.Request) (string, error) { return f.listCampaigns(ctx, r.Member) })),
		org("campagne", []string{"campagne", "campaign"}, "campaign", events.ArgSlug, true, list(f.campaignDetail)),
		// The buttons of a preview: pressed, or typed as reply words on WhatsApp.
		org("envoyer", []string{"envoyer", "send"}, "send", events.ArgSlug, false, f.confirmCampaign),
		org("annuler", []string{"annuler", "cancel"}, "cancel", events.ArgSlug, false, f.cancelCampaign),
		button("jerelaie", []string{"jerelaie", "relay"}, "relay", answerRelay),
		button("pascettefois", []string{"pascettefois", "notthistime"}, "notthistime", answerNotNow),
		button("neplusmesolliciter", []string{"neplusmesolliciter", "nomorecalls"}, "nomorecalls", answerNoMore),
	}
}

// organiserFunc answers one of an organiser's campaign commands; r.Member is the organiser.
type organiserFunc func(ctx context.Context, r command.Request) (events.Reply, error)

// organiserCommand answers the organiser side of campaigns, privately.
func (f *Feature) organiserCommand(run organiserFunc) command.Func {
	return func(ctx context.Context, r command.Request) error {
		if f.st == nil {
			return f.d.Replies.SendPrivately(ctx, r.Event, f.d.Replies.Private(r.Event, "campaign", f.txt.Disabled))
		}
		answer, err := run(ctx, r)
		if err != nil {
			return err
		}
		return f.d.Replies.SendPrivately(ctx, r.Event, answer)
	}
}
