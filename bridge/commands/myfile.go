package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/relais-bot/relais/bridge/commands/campaigns"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

// /moi fichier (/mydata file): everything relais holds about the member, as a JSON file sent
// privately (GDPR articles 15 and 20). Everything in it is read by the member's own tokens
// (their ids on every platform linked to them): nothing about anyone else, not even who
// replied to them or which organiser read their card.

// myFile is the file's content. Field names are English and stable: a machine reads it too.
type myFile struct {
	Format      string    `json:"format"`
	GeneratedAt time.Time `json:"generated_at"`
	Controller  string    `json:"controller"`
	// Tokens are the keyed hashes relais knows the member by (one per linked id).
	Tokens   []string       `json:"tokens"`
	Identity *fileIdentity  `json:"identity,omitempty"`
	Groups   []string       `json:"groups,omitempty"`
	Activity *fileActivity  `json:"activity,omitempty"`
	Tags     []string       `json:"tags,omitempty"`
	Consent  *fileConsent   `json:"consent,omitempty"`
	Campaign campaigns.Mine `json:"campaigns"`
	// CRM is the last contact state relais sent to the CRM, and when it decided it.
	CRM *events.ContactChange `json:"crm_last_sent,omitempty"`
	// Reads are when organisers' answers or pages named the member (access journal), not who.
	Reads []fileRead `json:"read_by_organisers,omitempty"`
	// Kept says how long each kind of data is kept.
	Kept map[string]string `json:"retention"`
}

type fileIdentity struct {
	Platform  events.Platform `json:"platform,omitempty"`
	Name      string          `json:"name,omitempty"`
	Username  string          `json:"username,omitempty"`
	Phone     string          `json:"phone,omitempty"`
	FirstSeen time.Time       `json:"first_seen,omitzero"`
	LastSeen  time.Time       `json:"last_seen,omitzero"`
}

type fileActivity struct {
	WindowDays      int `json:"window_days"`
	Messages        int `json:"messages"`
	ActiveDays      int `json:"active_days"`
	People          int `json:"distinct_people_who_replied_or_mentioned"`
	RepliesReceived int `json:"replies_received"`
}

type fileConsent struct {
	Current consent.Record   `json:"current"`
	History []consent.Record `json:"history,omitempty"`
}

type fileRead struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// meOrFile answers /moi, or with "fichier" the member's file.
func (h *Handler) meOrFile(ctx context.Context, ev events.Event, member string) error {
	if ev.Command == nil || !slices.Contains(ev.Command.Args, events.FileArg) {
		return h.me(ctx, ev, member)
	}
	f, err := h.buildMyFile(ctx, ev, member)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("my file: %w", err)
	}
	if len(data) > events.MaxAttachmentBytes {
		return h.sendPrivately(ctx, ev, h.private(ev, "me-file", h.jtxt.FileTooBig))
	}
	r := h.private(ev, "me-file", h.jtxt.FileCaption)
	r.Attachment = &events.Attachment{Name: "relais-" + f.GeneratedAt.Format("20060102") + ".json", Mime: "application/json", Data: data}
	return h.sendPrivately(ctx, ev, r)
}

// buildMyFile gathers what relais holds about the member.
func (h *Handler) buildMyFile(ctx context.Context, ev events.Event, member string) (myFile, error) {
	f := myFile{Format: "relais-member-file/1", GeneratedAt: h.cfg.Now().UTC().Truncate(time.Second),
		Controller: h.cfg.Controller, Tokens: h.tokens(ev, member), Kept: h.retention()}
	card, found, err := h.query.Member(ctx, member)
	if err != nil {
		return f, fmt.Errorf("my file: %w", err)
	}
	if found {
		f.Identity = &fileIdentity{Platform: card.Platform, Name: card.Name, Username: card.Username, Phone: card.Phone,
			FirstSeen: card.FirstSeen, LastSeen: card.LastSeen}
		f.Groups = card.Groups
		f.Activity = &fileActivity{WindowDays: h.cfg.WindowDays, Messages: card.Messages, ActiveDays: card.ActiveDays,
			People: card.People, RepliesReceived: card.RepliesReceived}
		f.Tags = card.Tags
	}
	if rec, ok, err := h.consent.Get(ctx, member); err != nil {
		return f, err
	} else if ok {
		hist, err := h.consent.History(ctx, member)
		if err != nil {
			return f, err
		}
		f.Consent = &fileConsent{Current: rec, History: hist}
	}
	if f.Campaign, err = h.camp.Mine(ctx, member); err != nil {
		return f, fmt.Errorf("my file: %w", err)
	}
	for _, tok := range f.Tokens {
		last, ok, err := h.pub.LastContactChange(ctx, tok)
		if err != nil {
			return f, fmt.Errorf("my file: %w", err)
		}
		if ok && (f.CRM == nil || last.At.After(f.CRM.At)) {
			last.Notify = nil // the bot's own words, not the member's data
			f.CRM = &last
		}
	}
	if h.cfg.Journal != nil {
		log, err := h.cfg.Journal.Read(ctx)
		if err != nil {
			return f, fmt.Errorf("my file: %w", err)
		}
		for _, e := range log.Since(time.Time{}) {
			if slices.ContainsFunc(f.Tokens, func(t string) bool { return slices.Contains(e.Members, t) }) {
				f.Reads = append(f.Reads, fileRead{At: e.At, What: e.What})
			}
		}
		if n := len(f.Reads); n > maxFileReads {
			f.Reads = f.Reads[n-maxFileReads:]
		}
	}
	return f, nil
}

// maxFileReads keeps the file within one document: the latest reads.
const maxFileReads = 200

// retention says, in the file, how long each kind of data is kept.
func (h *Handler) retention() map[string]string {
	days := func(n int) string { return fmt.Sprintf("%d days", n) }
	out := map[string]string{
		"group_events":     days(h.cfg.RetentionDays),
		"activity_figures": days(h.cfg.WindowDays) + " window",
		"consent":          "until you change it",
		"crm":              "the controller's CRM policy",
	}
	if h.cfg.Journal != nil {
		out["access_journal"] = fmt.Sprintf("%d days", int(h.cfg.Journal.Keep().Hours()/24))
	}
	return out
}
