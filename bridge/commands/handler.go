// Package commands answers the bot commands of members (/aide, /oui, /stop, /oubli, /moi)
// and organisers (/stats, /actifs, /relais, /fiche, /sync), records consent given by sharing
// a phone number, and posts the information notice in groups under the notice policy.
//
// Answers go out as events.Reply messages. Anything naming or counting other people goes
// privately to the organiser who asked; everyone else asking gets a refusal that reveals
// nothing. Reply ids derive from the command's event id, so a redelivered command does not
// answer twice.
package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/relais-bot/relais/bridge/commands/digest"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge/commands/campaigns"
	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/commands/imports"
	"github.com/relais-bot/relais/bridge/commands/reply"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/journal"
)

// Config is the deployment's settings for commands.
type Config struct {
	// Lang is RELAIS_LANG: "fr" (default) or "en".
	Lang string
	// Organisers is RELAIS_ORGANISERS, parsed by ParseOrganisers.
	Organisers Organisers
	// Admins is RELAIS_ADMINS (same syntax): organisers who see every group. Any other
	// organiser sees only the groups Scopes says they are a member of.
	Admins Organisers
	// Scopes asks the platforms who is in which group; nil: only admins see any group.
	Scopes *scope.Resolver
	// DigestSections add sections to the weekly digest (campaign results).
	DigestSections []DigestSection
	// Dashboard makes /tableau login links; nil: /tableau says the dashboard is off.
	Dashboard LoginLinker
	// BotName is the bot's username without @, where the platform has one; it tells an
	// organiser whom to start a private chat with.
	BotName string
	// Controller names who is responsible for the data in the notice; default "l'équipe"
	// ("the team").
	Controller string
	// WindowDays and RetentionDays are RELAIS_WINDOW_DAYS and RELAIS_RETENTION_DAYS (30, 90).
	WindowDays, RetentionDays int
	// TagPrefix is RELAIS_TAG_PREFIX ("relais-"): an objector's contact carries
	// <prefix>stop.
	TagPrefix string
	// CommandsPerMinute bounds each member's commands (default 5).
	CommandsPerMinute int
	// Log gets operational logs, never personal data; nil discards.
	Log *slog.Logger
	// Now is the clock of the rate limit; nil is time.Now.
	Now func() time.Time
	// Rebuilding says whether the bridge's state is being rebuilt and how far (percent);
	// organisers are then told so rather than given partial figures. Nil: never.
	Rebuilding func() (bool, int)
	// Journal is the access journal organisers' and admins' reads are appended to; nil
	// keeps none (and /journal says so).
	Journal *journal.Journal
}

// Handler answers commands. It implements the bridge's CommandHandler.
type Handler struct {
	cfg     Config
	cat     Catalogue
	org     orgTexts
	pub     *events.Publisher
	hash    events.Hasher
	js      jetstream.JetStream
	names   events.Names
	query   Query
	members MemberOps
	sync    SyncReporter
	consent *consent.Store
	limit   *limiter
	log     *slog.Logger
	reply   *reply.Sender
	// camp is the campaigns feature, off until EnableCampaigns.
	camp campaignFeature
	// commands are the declarations of every command answered: dispatch and /aide read them.
	commands *command.Set
	help     helpTexts
	jtxt     journalTexts
	weekly   *digest.Weekly // the weekly digests' sending
	etat     etatDeps       // /etat's sources, set by EnableEtat
	// imports is the organiser's upload (imports_cmd.go), answering "unavailable" until
	// EnableImports.
	imports *imports.Feature
}

// maxLimitedMembers bounds the rate limiter's memory.
const maxLimitedMembers = 100_000

// New returns a Handler. sync may be nil when this process does not run the CRM worker:
// /sync then says the state is not available here.
func New(cfg Config, pub *events.Publisher, hasher events.Hasher, js jetstream.JetStream, names events.Names,
	q Query, m MemberOps, sync SyncReporter, c *consent.Store) (*Handler, error) {
	cat, err := CatalogueFor(cfg.Lang)
	if err != nil {
		return nil, err
	}
	org, err := orgTextsFor(cat.Lang)
	if err != nil {
		return nil, err
	}
	help, err := helpTextsFor(cat.Lang)
	if err != nil {
		return nil, err
	}
	jtxt, err := journalTextsFor(cat.Lang)
	if err != nil {
		return nil, err
	}
	switch {
	case pub == nil:
		return nil, errors.New("commands: publisher is required")
	case js == nil:
		return nil, errors.New("commands: jetstream is required")
	case q == nil:
		return nil, errors.New("commands: query is required")
	case m == nil:
		return nil, errors.New("commands: member operations are required")
	case c == nil:
		return nil, errors.New("commands: consent store is required")
	}
	if strings.TrimSpace(cfg.Controller) == "" {
		cfg.Controller = cat.Controller
	}
	if cfg.WindowDays <= 0 {
		cfg.WindowDays = 30
	}
	if cfg.RetentionDays <= 0 {
		cfg.RetentionDays = 90
	}
	if cfg.TagPrefix == "" {
		cfg.TagPrefix = "relais-"
	}
	if cfg.CommandsPerMinute <= 0 {
		cfg.CommandsPerMinute = 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.BotName = strings.TrimPrefix(strings.TrimSpace(cfg.BotName), "@")
	h := &Handler{
		cfg: cfg, cat: cat, org: org, help: help, jtxt: jtxt, pub: pub, hash: hasher, js: js, names: names,
		query: q, members: m, sync: sync, consent: c,
		limit: newLimiter(cfg.CommandsPerMinute, maxLimitedMembers),
		log:   log,
		reply: reply.NewSender(pub, cfg.BotName, reply.Texts{StartMeFirst: cat.StartMeFirst, AnsweredPrivately: cat.AnsweredPrivately}),
	}
	h.weekly = &digest.Weekly{Recipients: h.organiserList, Build: h, Send: h.send, Rebuilding: h.rebuilding, Now: cfg.Now, Log: log}
	camp, err := campaigns.New(campaigns.Deps{
		Lang: cat.Lang, Controller: cfg.Controller, Now: cfg.Now, Log: log, JS: js, Names: names,
		Consent: c, Members: m, Queue: pub, Replies: h.reply, Directory: q, Scopes: campaignScopes{h}, Date: cat.date,
	})
	if err != nil {
		return nil, err
	}
	h.camp = camp
	if h.imports, err = imports.New(h.importDeps()); err != nil {
		return nil, err
	}
	set, err := command.NewSet(h.declarations()...)
	if err != nil {
		return nil, err
	}
	h.commands = set
	return h, nil
}

// declarations are every command's, each declared beside its handler; /aide lists them in
// this order.
func (h *Handler) declarations() []command.Spec {
	return slices.Concat(h.rightsCommands(), h.queryCommands(), h.digestCommands(),
		h.dashboardCommands(), h.etatCommands(), h.journalCommands(), h.importCommands(), h.camp.Commands())
}

// Catalogue returns the texts the handler speaks.
func (h *Handler) Catalogue() Catalogue { return h.cat }

// Handle answers one event of kind command or consent; other kinds are ignored. Errors are
// retryable unless marked permanent (a malformed event).
func (h *Handler) Handle(ctx context.Context, ev events.Event) error {
	switch ev.Kind {
	case events.KindConsent:
		return h.sharedPhone(ctx, ev)
	case events.KindCommand:
	default:
		return nil
	}
	if ev.Command == nil || ev.Sender.ID == "" || !ev.Platform.Valid() {
		return events.Permanent(errors.New("commands: command event without command, sender or platform"))
	}
	spec, known := h.commands.Lookup(ev.Command.Name)
	if !known && ev.Command.Bang && ev.Group != nil {
		// "!bravo tout le monde" in a group is someone talking, not a command for us.
		return nil
	}
	// The member, whichever of their platform ids this chat knows them by.
	member := h.consent.Canonical(h.hash.Member(ev.Platform, ev.Sender.ID))
	organiser := h.isOrganiser(ev.Platform, ev.Sender)
	// A member's rights (/oui, /stop, /oubli, /moi) are never limited away; everything else
	// is, and a limited command is answered, never dropped in silence. Organisers are
	// trusted and ask several questions in a row: they are not limited.
	if spec.Rate != command.Right && !organiser && !h.limit.allow(member, ev.ID, h.cfg.Now()) {
		h.log.Info("command rate limited", "member", member)
		return h.send(ctx, h.here(ev, "slow", h.cat.SlowDown))
	}
	h.log.Debug("command", "name", logName(spec, known), "member", member, "organiser", organiser)
	if err := h.camp.NoteReachable(ctx, ev, member); err != nil {
		return fmt.Errorf("commands: %w", err)
	}
	if !known {
		return h.send(ctx, h.here(ev, "unknown", h.cat.Unknown+"\n\n"+h.helpText(organiser, h.cfg.Admins.Contains(ev.Platform, ev.Sender))))
	}
	admin := h.cfg.Admins.Contains(ev.Platform, ev.Sender)
	if (spec.Who == command.Organisers && !organiser) || (spec.Who == command.Admins && !admin) {
		return h.send(ctx, h.here(ev, "refused", h.cat.Refused))
	}
	if spec.Who != command.Anyone && h.cfg.Rebuilding != nil {
		if active, pct := h.cfg.Rebuilding(); active {
			return h.send(ctx, h.private(ev, "rebuilding", fmt.Sprintf(h.cat.Rebuilding, pct)))
		}
	}
	req := command.Request{Event: ev, Member: member, Organiser: organiser, Admin: admin}
	if err := h.run(ctx, spec, req); err != nil {
		return fmt.Errorf("commands: %s: %w", spec.Key, err)
	}
	return nil
}

// Background reports whether a command may be answered off the bridge's batch loop: an
// organiser's query (a search over every member may take a while) or an erasure (securely
// deleting a member's events costs a block rewrite each: seconds for an active member).
// An erasure records the suppression first, so activity that arrives meanwhile is already
// refused; /stop and /oui stay in the loop, in order with the activity.
func (h *Handler) Background(ev events.Event) bool {
	if ev.Kind != events.KindCommand || ev.Command == nil {
		return false
	}
	spec, known := h.commands.Lookup(ev.Command.Name)
	return known && spec.Background
}

// logName keeps unknown command names out of the logs: they are free text.
func logName(spec command.Spec, known bool) string {
	if !known {
		return "unknown"
	}
	return spec.Key
}

func (h *Handler) groupPolicy(ev events.Event) string {
	if ev.Group == nil {
		return h.consent.DefaultPolicy()
	}
	return h.consent.Policy(h.hash.Group(ev.Platform, ev.Group.ID))
}

func (h *Handler) noticeText(policy string) string {
	sentence := h.cat.NoticeOptIn
	if policy == consent.PolicyNotice {
		sentence = h.cat.NoticeNotice
	}
	text := fmt.Sprintf(h.cat.Notice, h.cfg.Controller, h.cat.Days.N(h.cfg.WindowDays), h.cat.Days.N(h.cfg.RetentionDays), sentence)
	if line := h.camp.NoticeLine(); line != "" {
		text += "\n" + line
	}
	return text
}

// tokens are the member tokens of the sender: their id's, and their alias's when the
// platform gave one (on WhatsApp the same person may be known by LID and by phone). Consent
// commands apply to every one of them.
func (h *Handler) tokens(ev events.Event, member string) []string {
	out := []string{member}
	add := func(tok string) {
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	if ev.Sender.Alias != "" && ev.Sender.Alias != ev.Sender.ID {
		add(h.hash.Member(ev.Platform, ev.Sender.Alias))
	}
	for _, tok := range h.consent.Aliases(member) {
		add(tok)
	}
	return out
}

// yes records an opt-in and makes the bridge publish the member's CRM state.
func (h *Handler) yes(ctx context.Context, ev events.Event, member string) error {
	for _, tok := range h.tokens(ev, member) {
		if err := h.recordYes(ctx, tok, ev, ""); err != nil {
			return err
		}
	}
	text := fmt.Sprintf(h.cat.Yes, h.cfg.Controller)
	if ev.Platform != events.Telegram {
		return h.send(ctx, h.here(ev, "yes", text))
	}
	// On Telegram the share-my-phone button only works in a private chat.
	r := h.private(ev, "yes", text+"\n\n"+h.cat.YesAskPhone)
	r.AskPhone = true
	return h.sendPrivately(ctx, ev, r)
}

// recordYes stores a yes (keeping a number shared earlier, or the one given) and resyncs.
// An erased member who says yes starts afresh; an objector's earlier objection time is kept,
// so their activity from before it stays forgotten, live and in a replay alike.
func (h *Handler) recordYes(ctx context.Context, member string, ev events.Event, phone string) error {
	rec := consent.Record{Status: consent.StatusYes, At: ev.At, Channel: ev.Platform, NoticeVersion: NoticeVersion, Phone: phone}
	prev, found, err := h.consent.Get(ctx, member)
	if err != nil {
		return err
	}
	if found {
		if prev.Status == consent.StatusYes && phone == "" {
			rec.Phone = prev.Phone // saying yes again keeps the number shared earlier
		}
		if prev.Status == consent.StatusYes {
			// Saying yes again keeps the campaign answers given under this yes.
			rec.NoCampaigns, rec.Relayed = prev.NoCampaigns, prev.Relayed
		}
		rec.ObjectedAt = prev.ObjectedAt
		if prev.Status == consent.StatusStop && rec.ObjectedAt.IsZero() {
			rec.ObjectedAt = prev.At
		}
		if prev.Status == consent.StatusErased {
			rec.ObjectedAt = prev.At // nothing from before the erasure is left to count
		}
		if prev.At.After(rec.At) && prev.Suppressed() {
			// An older /oui redelivered after a /stop or /oubli: the objection stands.
			return nil
		}
		if !prev.At.Before(rec.At) && prev.Status == rec.Status && prev.Phone == rec.Phone {
			return h.members.Resync(ctx, member) // a redelivery: recorded already
		}
	}
	if err := h.consent.Set(ctx, member, rec); err != nil {
		return err
	}
	if !rec.NoCampaigns {
		if err := h.camp.ClearDoNotContact(ctx, member); err != nil {
			return err
		}
	}
	if err := h.members.Resync(ctx, member); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}

// sharedPhone records the phone a member shared with the share-my-phone button: an opt-in
// with a way to call them back.
func (h *Handler) sharedPhone(ctx context.Context, ev events.Event) error {
	if ev.Sender.ID == "" || !ev.Platform.Valid() {
		return events.Permanent(errors.New("commands: consent event without sender or platform"))
	}
	if ev.Sender.Phone == "" {
		return nil // nothing shared: nothing to record
	}
	phone, ok := normalisePhone(ev.Sender.Phone)
	if !ok {
		return events.Permanent(errors.New("commands: consent event with a phone not in E.164 form"))
	}
	member := h.consent.Canonical(h.hash.Member(ev.Platform, ev.Sender.ID))
	for _, tok := range h.tokens(ev, member) {
		if err := h.recordYes(ctx, tok, ev, phone); err != nil {
			return fmt.Errorf("commands: phone: %w", err)
		}
	}
	h.log.Info("phone shared for consent", "member", member)
	return h.send(ctx, h.private(ev, "phone", h.cat.PhoneSaved))
}

// me answers privately what relais holds about the member asking.
func (h *Handler) me(ctx context.Context, ev events.Event, member string) error {
	card, found, err := h.query.Member(ctx, member)
	if err != nil {
		return fmt.Errorf("member: %w", err)
	}
	rec, hasConsent, err := h.consent.Get(ctx, member)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(h.cat.MyDataTitle)
	if found {
		b.WriteString("\n")
		h.writeCard(&b, card, rec, hasConsent)
	} else {
		b.WriteString("\n" + h.cat.MyDataNothing)
		h.line(&b, h.cat.LabelConsent, h.consentText(rec, hasConsent))
		if rec.Phone != "" {
			h.line(&b, h.cat.LabelPhone, rec.Phone)
		}
	}
	b.WriteString("\n\n" + h.cat.MyDataFooter.N(h.cfg.RetentionDays))
	return h.sendPrivately(ctx, ev, h.private(ev, "me", b.String()))
}

func (h *Handler) consentText(rec consent.Record, found bool) string {
	if !found {
		return h.cat.ConsentNone
	}
	switch rec.Status {
	case consent.StatusYes:
		return fmt.Sprintf(h.cat.ConsentYes, h.cat.date(rec.At))
	case consent.StatusStop:
		return fmt.Sprintf(h.cat.ConsentStop, h.cat.date(rec.At))
	case consent.StatusErased:
		return h.cat.ConsentErased
	}
	return h.cat.ConsentNone
}

// writeCard writes a member's card, one "label : value" line per fact.
func (h *Handler) writeCard(b *strings.Builder, c MemberCard, rec consent.Record, hasConsent bool) {
	if c.Name != "" {
		h.line(b, h.cat.LabelName, c.Name)
	}
	if c.Username != "" {
		h.line(b, h.cat.LabelUsername, "@"+strings.TrimPrefix(c.Username, "@"))
	}
	phone := c.Phone
	if phone == "" {
		phone = rec.Phone
	}
	if phone != "" {
		h.line(b, h.cat.LabelPhone, phone)
	}
	if c.Platform != "" {
		h.line(b, h.cat.LabelPlatform, platformName(c.Platform))
	}
	if len(c.Groups) > 0 {
		h.line(b, h.cat.LabelGroups, strings.Join(c.Groups, ", "))
	}
	h.line(b, h.cat.LabelMessages.N(h.cfg.WindowDays), fmt.Sprint(c.Messages))
	h.line(b, h.cat.LabelActiveDays, fmt.Sprint(c.ActiveDays))
	h.line(b, h.cat.LabelPeople, fmt.Sprint(c.People))
	h.line(b, fmt.Sprintf(h.cat.LabelReplies, h.cfg.WindowDays), fmt.Sprint(c.RepliesReceived))
	h.line(b, h.cat.LabelFirstSeen, h.cat.date(c.FirstSeen))
	h.line(b, h.cat.LabelLastSeen, h.cat.date(c.LastSeen))
	if len(c.Tags) > 0 {
		h.line(b, h.cat.LabelTags, strings.Join(c.Tags, ", "))
	}
	h.line(b, h.cat.LabelConsent, h.consentText(rec, hasConsent))
}

// line appends "label : value" on its own line, with the language's colon spacing.
func (h *Handler) line(b *strings.Builder, label, value string) {
	if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	b.WriteString(label + h.cat.Colon + value)
}

func platformName(p events.Platform) string {
	switch p {
	case events.Telegram:
		return "Telegram"
	case events.WhatsApp:
		return "WhatsApp"
	}
	return string(p)
}

// --- replies (package reply) -----------------------------------------------------------

func (h *Handler) here(ev events.Event, kind, text string) events.Reply {
	return h.reply.Here(ev, kind, text)
}

func (h *Handler) private(ev events.Event, kind, text string) events.Reply {
	return h.reply.Private(ev, kind, text)
}

func (h *Handler) sendPrivately(ctx context.Context, ev events.Event, r events.Reply) error {
	return h.reply.SendPrivately(ctx, ev, r)
}

func (h *Handler) send(ctx context.Context, r events.Reply) error { return h.reply.Send(ctx, r) }
