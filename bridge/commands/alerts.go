package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/relais-bot/relais/bridge/commands/digest"
	"github.com/relais-bot/relais/bridge/commands/reply"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/health"
)

// AdminAlerts tells every admin (RELAIS_ADMINS) of an incident, privately, on every platform
// they are listed on: it is the chat side of health.Notifier. It needs no bridge state, so a
// process running any role can announce an incident its monitor won.
type AdminAlerts struct {
	admins    Organisers
	lang      string
	pub       reply.Publisher
	platforms map[events.Platform]bool
	log       *slog.Logger
}

// AdminAlertsConfig configures AdminAlerts.
type AdminAlertsConfig struct {
	Admins Organisers
	Lang   string // RELAIS_LANG
	// Platforms are the platforms this deployment runs (nil: all): an admin listed on a
	// platform nobody serves would only fill its reply stream.
	Platforms []events.Platform
	Log       *slog.Logger
}

// alertPublishTimeout bounds each reply's publish, so one admin's publish waiting on NATS
// holds nobody else's.
const alertPublishTimeout = 5 * time.Second

// NewAdminAlerts returns the chat notifier of incidents, publishing through pub.
func NewAdminAlerts(cfg AdminAlertsConfig, pub reply.Publisher) *AdminAlerts {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &AdminAlerts{admins: cfg.Admins, lang: cfg.Lang, pub: pub, log: log}
	if cfg.Platforms != nil {
		a.platforms = map[events.Platform]bool{}
		for _, p := range cfg.Platforms {
			a.platforms[p] = true
		}
	}
	return a
}

// Notify publishes the announcement to each admin's private chat on each platform. Each
// publish is independent: a platform that is down (its adapter cannot send, or its reply
// stream refuses) does not keep the message from the others. Reply ids derive from the
// incident, the admin and start or end, so a replica or a retry announcing it again is
// dropped by the replies stream's deduplication.
func (a *AdminAlerts) Notify(ctx context.Context, ann health.Announcement) error {
	text := reply.Clip(ann.Text(a.lang))
	var errs []error
	sent := 0
	for _, r := range recipients(a.admins, true) {
		if a.platforms != nil && !a.platforms[r.Platform] {
			continue
		}
		rep := events.Reply{V: events.Version, ID: AlertReplyID(ann, r.Platform, r.ID), Platform: r.Platform,
			Chat: r.Chat, Private: true, Text: text}
		pctx, cancel := context.WithTimeout(ctx, alertPublishTimeout)
		err := a.pub.Reply(pctx, rep)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s admin: %w", r.Platform, err))
			continue
		}
		sent++
	}
	a.log.Info("incident told to admins", "kind", ann.Kind, "ending", ann.Ending(), "sent", sent, "failed", len(errs))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("alert admins: %w", err)
	}
	return nil
}

// AlertReplyID is the reply id of an announcement to one admin: the same for every replica
// and redelivery of that start (or end), another for the incident's end or another admin.
// Hashed: the subject is a group token and the admin id may be a phone number.
func AlertReplyID(ann health.Announcement, p events.Platform, admin string) string {
	what := "start"
	if ann.Ending() {
		what = "end"
	}
	sum := sha256.Sum256([]byte(string(ann.Kind) + "\x00" + ann.Subject + "\x00" +
		strconv.FormatInt(ann.Started.UnixNano(), 10) + "\x00" + string(p) + "\x00" + admin))
	return "incident-" + hex.EncodeToString(sum[:12]) + "-" + what
}

// recipients lists the people of o with their private chat per platform; admin marks them
// as admins.
func recipients(o Organisers, admin bool) []digest.Recipient {
	var out []digest.Recipient
	for id := range o.telegram {
		out = append(out, digest.Recipient{Platform: events.Telegram, ID: id, Chat: id, ScopeID: id, Admin: admin})
	}
	for phone := range o.whatsapp {
		jid := strings.TrimPrefix(phone, "+") + "@s.whatsapp.net"
		out = append(out, digest.Recipient{Platform: events.WhatsApp, ID: phone, Chat: jid, ScopeID: jid, Phone: phone, Admin: admin})
	}
	return out
}
