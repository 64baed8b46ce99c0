package main

import (
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
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
