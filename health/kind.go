// Package health owns relais's incidents: conditions that leave relais blind (a platform that
// logged it out, a group it was removed from, a CRM refusing its credentials, NATS
// unreachable...), turned into incidents that start and end once each, announced once across
// replicas to admins in chat (through a Notifier) and as a signed POST to
// RELAIS_ALERT_WEBHOOK. Probes say what is wrong now; the Monitor decides when that is an
// incident and when it is over. It also renders the /etat screen from a Snapshot.
//
// Incidents carry a kind and a subject (a group token, a platform): never a name, a phone
// number or a message.
package health

import "time"

// Kind is what went wrong, in a stable dotted form the webhook receiver can match on.
type Kind string

// The incidents relais announces.
const (
	WhatsAppLoggedOut      Kind = "whatsapp.logged_out"
	WhatsAppBanned         Kind = "whatsapp.temporary_ban"
	WhatsAppClientOutdated Kind = "whatsapp.client_outdated"
	WhatsAppStreamReplaced Kind = "whatsapp.stream_replaced"
	TelegramTokenRefused   Kind = "telegram.token_refused"
	TelegramConflict       Kind = "telegram.conflict"
	TelegramGroupRemoved   Kind = "telegram.group.removed"
	TelegramGroupBlind     Kind = "telegram.group.blind"
	GroupSilent            Kind = "group.silent"
	CRMFailing             Kind = "crm.failing"
	CRMCredentials         Kind = "crm.credentials"
	NATSUnreachable        Kind = "nats.unreachable"
	RedisUnreachable       Kind = "redis.unreachable"
	DeadLetters            Kind = "dead_letters"
	DiskLow                Kind = "disk.low"
)

// delayed kinds become incidents only once they lasted RELAIS_ALERT_AFTER: a CRM or a server
// that fails for a minute is an outage relais rides out by retrying, not news for admins.
var delayed = map[Kind]bool{CRMFailing: true, NATSUnreachable: true, RedisUnreachable: true}

// Delayed reports whether k waits RELAIS_ALERT_AFTER before it is an incident.
func (k Kind) Delayed() bool { return delayed[k] }

// texts are the admins' words for each kind: French first, then English.
var texts = map[Kind][2]string{
	WhatsAppLoggedOut:      {"WhatsApp a déconnecté relais (appareil délié ou banni) : relancez l'appairage.", "WhatsApp logged relais out (device unlinked or banned): pair again."},
	WhatsAppBanned:         {"WhatsApp bloque temporairement ce numéro.", "WhatsApp temporarily bans this number."},
	WhatsAppClientOutdated: {"WhatsApp refuse cette version : reconstruisez relais avec un whatsmeow récent.", "WhatsApp refuses this version: rebuild relais with a recent whatsmeow."},
	WhatsAppStreamReplaced: {"La session WhatsApp est ouverte ailleurs : un seul relais par session.", "The WhatsApp session is open elsewhere: one relais per session."},
	TelegramTokenRefused:   {"Telegram refuse le jeton du bot (401) : vérifiez TELEGRAM_TOKEN.", "Telegram refuses the bot token (401): check TELEGRAM_TOKEN."},
	TelegramConflict:       {"Un autre programme lit les mises à jour de ce bot (409).", "Another program reads this bot's updates (409)."},
	TelegramGroupRemoved:   {"Le bot a été retiré d'un groupe.", "The bot was removed from a group."},
	TelegramGroupBlind:     {"Le bot ne peut pas lire les messages d'un groupe (mode confidentialité, pas admin).", "The bot cannot read a group's messages (privacy mode, not admin)."},
	GroupSilent:            {"Un groupe actif est silencieux depuis bien plus longtemps que d'habitude.", "An active group has been silent far longer than usual."},
	CRMFailing:             {"Le CRM échoue depuis plus de RELAIS_ALERT_AFTER.", "The CRM has been failing longer than RELAIS_ALERT_AFTER."},
	CRMCredentials:         {"Le CRM refuse les identifiants de relais.", "The CRM refuses relais's credentials."},
	NATSUnreachable:        {"NATS est injoignable.", "NATS is unreachable."},
	RedisUnreachable:       {"Redis est injoignable.", "Redis is unreachable."},
	DeadLetters:            {"Des événements sont partis en lettres mortes.", "Events went to dead letters."},
	DiskLow:                {"Moins de 10 % d'espace disque libre dans le dossier de données.", "Less than 10 % free disk in the data dir."},
}

// Text is the admins' sentence for k in lang ("fr" unless "en").
func (k Kind) Text(lang string) string {
	t, ok := texts[k]
	if !ok {
		return string(k)
	}
	if lang == "en" {
		return t[1]
	}
	return t[0]
}

// Condition is something wrong now, as a probe sees it.
type Condition struct {
	Kind    Kind
	Subject string // a group token or a platform; "" for the deployment as a whole
	// Detail is a short reason without personal data ("HTTP 503", "code 101").
	Detail string
	// Until is when the condition ends by itself (a temporary ban), zero when unknown.
	Until time.Time
}

func (c Condition) key() string { return string(c.Kind) + "\x00" + c.Subject }
