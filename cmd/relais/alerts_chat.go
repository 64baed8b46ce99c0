package main

import (
	"context"
	"slices"

	"github.com/relais-bot/relais/bots/telegram"
	"github.com/relais-bot/relais/bots/whatsapp"
	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
	incident "github.com/relais-bot/relais/health"
)

// adminAlerts is the chat side of incidents: each announcement privately to every admin
// (RELAIS_ADMINS) on each platform the deployment runs. Any process may win an incident's
// announcement, so each builds it, whatever its roles: the replies go through the replies
// stream to whichever process serves the platform.
func adminAlerts(rt *runtime) (*commands.AdminAlerts, error) {
	admins, err := commands.ParseOrganisers(rt.cfg.Admins)
	if err != nil {
		return nil, &ConfigError{Var: "RELAIS_ADMINS", Want: err.Error()}
	}
	platforms := []events.Platform{}
	if rt.cfg.TelegramToken != "" {
		platforms = append(platforms, events.Telegram)
	}
	if rt.cfg.WhatsAppEnabled {
		platforms = append(platforms, events.WhatsApp)
	}
	return commands.NewAdminAlerts(commands.AdminAlertsConfig{
		Admins: admins, Lang: rt.cfg.Lang, Platforms: platforms, Log: rt.log.With("role", "alerts"),
	}, rt.pub), nil
}

// etatSource is what /etat learns from this process: its adapters (the probes the roles
// registered) and its health monitor. A platform served by another replica is judged by the
// incidents open.
type etatSource struct{ rt *runtime }

func (e etatSource) Incidents() []incident.Incident {
	if e.rt.monitor == nil {
		return nil
	}
	return e.rt.monitor.Open()
}

func (e etatSource) Platforms(context.Context) []incident.PlatformState {
	open := map[incident.Kind]bool{}
	for _, in := range e.Incidents() {
		open[in.Kind] = true
	}
	var out []incident.PlatformState
	if e.rt.cfg.TelegramToken != "" {
		out = append(out, e.telegram(open))
	}
	if e.rt.cfg.WhatsAppEnabled {
		out = append(out, e.whatsapp(open))
	}
	return out
}

// elsewhere is the state of a platform this process does not serve and no incident names.
const elsewhere = "ok (another replica)"

func (e etatSource) telegram(open map[incident.Kind]bool) incident.PlatformState {
	st := incident.PlatformState{Name: "Telegram", OK: true, State: "polling"}
	if e.rt.cfg.TelegramWebhookURL != "" {
		st.State = "webhook"
	}
	switch p := e.rt.probes.get("telegram").(type) {
	case *telegram.Adapter:
		h := p.Health()
		open = map[incident.Kind]bool{incident.TelegramTokenRefused: h.TokenRefused, incident.TelegramConflict: h.Conflict}
	case tokenRefused:
		open = map[incident.Kind]bool{incident.TelegramTokenRefused: true}
	default:
		st.State = elsewhere
	}
	switch {
	case open[incident.TelegramTokenRefused]:
		st.OK, st.State = false, "token_refused (401)"
	case open[incident.TelegramConflict]:
		st.OK, st.State = false, "conflict (409)"
	}
	return st
}

func (e etatSource) whatsapp(open map[incident.Kind]bool) incident.PlatformState {
	if a, ok := e.rt.probes.get("whatsapp").(*whatsapp.Adapter); ok {
		h := a.Health()
		return incident.PlatformState{Name: "WhatsApp", OK: h.Ready(), State: h.State, Since: h.Since}
	}
	for kind, state := range map[incident.Kind]string{incident.WhatsAppLoggedOut: whatsapp.StateLoggedOut,
		incident.WhatsAppBanned: whatsapp.StateTemporaryBan, incident.WhatsAppClientOutdated: whatsapp.StateClientOutdated,
		incident.WhatsAppStreamReplaced: whatsapp.StateStreamReplaced} {
		if open[kind] {
			return incident.PlatformState{Name: "WhatsApp", State: state}
		}
	}
	return incident.PlatformState{Name: "WhatsApp", OK: true, State: elsewhere}
}

// Sight is what the Telegram adapter of this process knows of the bot's status in a group;
// elsewhere /etat judges by the platform and the incidents open.
func (e etatSource) Sight(p events.Platform, group string) (commands.Sight, bool) {
	a, ok := e.rt.probes.get("telegram").(*telegram.Adapter)
	if p != events.Telegram || !ok {
		return commands.Sight{}, false
	}
	h := a.Health()
	switch {
	case slices.Contains(h.Removed, group), slices.Contains(h.Blind, group):
		return commands.Sight{}, true
	case slices.Contains(h.Admin, group):
		return commands.Sight{Messages: true, Reactions: true, Members: true}, true
	}
	return commands.Sight{}, false
}

// get returns the probe registered under name, nil when none.
func (p *probeSet) get(name string) incident.Probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes[name]
}

// enableEtat gives /etat its sources, and the health monitor the groups' event times for
// the silence rule.
func enableEtat(rt *runtime, h *commands.Handler, q *bridge.Query) {
	h.EnableEtat(etatSource{rt}, q)
	rt.probes.add("silence", incident.SilenceProbe(q.GroupActivity, nil))
}
