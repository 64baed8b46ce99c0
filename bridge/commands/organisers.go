package commands

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/relais-bot/relais/events"
)

// Organisers is the allowlist of people who may ask for stats and member cards
// (RELAIS_ORGANISERS). The zero value allows nobody.
type Organisers struct {
	telegram map[string]bool // user ids
	whatsapp map[string]bool // phones, E.164
}

var (
	telegramUserID = regexp.MustCompile(`^[0-9]{1,20}$`)
	e164           = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// ParseOrganisers reads a comma-separated list of telegram:<user id> and
// whatsapp:<phone E.164> entries. Errors name the entry by position, never by value: the
// value may be a phone number and the error may be logged.
func ParseOrganisers(s string) (Organisers, error) {
	o := Organisers{telegram: map[string]bool{}, whatsapp: map[string]bool{}}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		platform, id, ok := strings.Cut(entry, ":")
		if !ok {
			return Organisers{}, fmt.Errorf("organisers: entry %d: want telegram:<user id> or whatsapp:<phone>", i+1)
		}
		id = strings.TrimSpace(id)
		switch events.Platform(strings.ToLower(strings.TrimSpace(platform))) {
		case events.Telegram:
			if !telegramUserID.MatchString(id) {
				return Organisers{}, fmt.Errorf("organisers: entry %d: telegram needs a numeric user id", i+1)
			}
			o.telegram[id] = true
		case events.WhatsApp:
			phone, ok := normalisePhone(id)
			if !ok {
				return Organisers{}, fmt.Errorf("organisers: entry %d: whatsapp needs a phone in E.164 form, like +33612345678", i+1)
			}
			o.whatsapp[phone] = true
		default:
			return Organisers{}, fmt.Errorf("organisers: entry %d: unknown platform, want telegram or whatsapp", i+1)
		}
	}
	return o, nil
}

// normalisePhone accepts E.164 with the usual separators people type (spaces, dots, dashes).
func normalisePhone(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '.', '-', '(', ')':
			return -1
		}
		return r
	}, s)
	return s, e164.MatchString(s)
}

// Len is the number of organisers.
func (o Organisers) Len() int { return len(o.telegram) + len(o.whatsapp) }

// Contains reports whether a sender is an organiser. On WhatsApp the sender is matched by
// phone: the one the platform gave, else the user part of a phone-number JID
// (33612345678@s.whatsapp.net). A LID (123@lid) without a phone matches nobody.
func (o Organisers) Contains(p events.Platform, m events.Member) bool {
	switch p {
	case events.Telegram:
		return o.telegram[m.ID]
	case events.WhatsApp:
		if phone, ok := normalisePhone(m.Phone); ok {
			return o.whatsapp[phone]
		}
		if phone, ok := phoneFromJID(m.ID); ok {
			return o.whatsapp[phone]
		}
	}
	return false
}

// phoneFromJID reads the phone of a user JID: user[.agent][:device]@s.whatsapp.net.
func phoneFromJID(jid string) (string, bool) {
	user, server, ok := strings.Cut(jid, "@")
	if !ok || (server != "s.whatsapp.net" && server != "c.us") {
		return "", false
	}
	user, _, _ = strings.Cut(user, ":")
	user, _, _ = strings.Cut(user, ".")
	phone := "+" + user
	return phone, e164.MatchString(phone)
}
