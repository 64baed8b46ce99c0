package telegram

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"

	"github.com/relais-bot/relais/health"
)

// Health is what the adapter knows of its own blindness, for the health monitor: nothing
// here names a person or a group, groups are tokens.
type Health struct {
	TokenRefused bool // getUpdates or deleteWebhook answered 401
	Conflict     bool // getUpdates answers 409: another poller or a webhook
	// PrivacyModeOff is getMe's can_read_all_group_messages.
	PrivacyModeOff bool
	// Removed are the groups my_chat_member said the bot was removed from (left or kicked),
	// until it is added back.
	Removed []string
	// Blind are the groups where the bot is a plain member while privacy mode is on: it sees
	// only commands and replies to it there.
	Blind []string
	// Admin are the groups where the bot is an administrator: it receives messages,
	// reactions and members' comings and goings there.
	Admin []string
}

// sight records what Health reports. Only the process receiving updates (the poll lock's
// holder, or the webhook's) sees my_chat_member; it remembers them until it stops.
type sight struct {
	mu         sync.Mutex
	refused    bool
	conflict   bool
	canReadAll bool
	status     map[string]string // group token → the bot's status there
}

func newSight(canReadAll bool) *sight {
	return &sight{canReadAll: canReadAll, status: map[string]string{}}
}

// polled records a getUpdates outcome: 0 for success, else the Bot API error code.
func (s *sight) polled(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch code {
	case http.StatusUnauthorized:
		s.refused = true
	case http.StatusConflict:
		s.conflict = true
	case 0:
		s.refused, s.conflict = false, false
	}
}

// update records the bot's own membership changes (my_chat_member).
func (s *sight) update(a *Adapter, u Update) {
	cm := u.MyChatMember
	if cm == nil || cm.Chat.ID >= 0 {
		return
	}
	token := a.chatToken(cm.Chat.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[token] = cm.NewChatMember.Status
}

func (s *sight) health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Health{TokenRefused: s.refused, Conflict: s.conflict, PrivacyModeOff: s.canReadAll}
	for token, st := range s.status {
		switch st {
		case "left", "kicked":
			h.Removed = append(h.Removed, token)
		case "member", "restricted":
			if !s.canReadAll {
				h.Blind = append(h.Blind, token)
			}
		case "administrator", "creator":
			h.Admin = append(h.Admin, token)
		}
	}
	sort.Strings(h.Removed)
	sort.Strings(h.Blind)
	sort.Strings(h.Admin)
	return h
}

// Health reports what the adapter knows of its own blindness.
func (a *Adapter) Health() Health { return a.sight.health() }

// Conditions are the adapter's health incidents: the token refused, another poller, groups
// the bot was removed from or cannot read.
func (a *Adapter) Conditions(context.Context) []health.Condition {
	h := a.Health()
	var out []health.Condition
	if h.TokenRefused {
		out = append(out, health.Condition{Kind: health.TelegramTokenRefused, Subject: "telegram", Detail: "HTTP 401"})
	}
	if h.Conflict {
		out = append(out, health.Condition{Kind: health.TelegramConflict, Subject: "telegram", Detail: "HTTP 409"})
	}
	for _, g := range h.Removed {
		out = append(out, health.Condition{Kind: health.TelegramGroupRemoved, Subject: g})
	}
	for _, g := range h.Blind {
		out = append(out, health.Condition{Kind: health.TelegramGroupBlind, Subject: g})
	}
	return out
}

// TokenRefused reports whether err is Telegram refusing the token (401), as New's getMe or
// the poll loop return it: the role cannot start, and that is an incident of its own.
func TokenRefused(err error) bool {
	return errors.Is(err, ErrUnauthorized) || apiCode(err) == http.StatusUnauthorized
}
