package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/relais-bot/relais/events"
)

// IsMember asks Telegram (getChatMember) whether user is in group: creator, administrator,
// member, or restricted but still a member. Left and kicked are not. A chat the bot was
// removed from (403) or that Telegram does not know to it (400 "chat not found") is
// events.ErrNotInGroup; a 429, a 5xx or a timeout is another error: Telegram did not say.
func (a *Adapter) IsMember(ctx context.Context, group, user string) (bool, error) {
	chat, err := strconv.ParseInt(group, 10, 64)
	if err != nil {
		// Not a Telegram group: asking again would never tell more.
		return false, fmt.Errorf("telegram: membership: group id is not a number: %w", events.ErrNotInGroup)
	}
	uid, err := strconv.ParseInt(user, 10, 64)
	if err != nil {
		return false, nil // not a Telegram user: a member of no Telegram group
	}
	params := tgbotapi.Params{}
	params.AddNonZero64("chat_id", chat)
	params.AddNonZero64("user_id", uid)
	raw, err := a.request(ctx, "getChatMember", params)
	if err != nil {
		switch code := apiCode(err); {
		case code == http.StatusForbidden || (code == http.StatusBadRequest && strings.Contains(err.Error(), "chat not found")):
			return false, fmt.Errorf("telegram: membership: %w (%w)", events.ErrNotInGroup, err)
		case code == http.StatusBadRequest && notAParticipant(err):
			return false, nil // user unknown to Telegram or to the chat: not a member
		}
		return false, fmt.Errorf("telegram: membership: %w", err)
	}
	var m tgbotapi.ChatMember
	if err := json.Unmarshal(raw, &m); err != nil {
		return false, fmt.Errorf("telegram: membership: %w", err)
	}
	switch m.Status {
	case "creator", "administrator", "member":
		return true, nil
	case "restricted":
		return m.IsMember, nil
	}
	return false, nil
}

// ServeMembership answers the bridge's membership questions until ctx ends.
func (a *Adapter) ServeMembership(ctx context.Context) error {
	return events.ServeMembership(ctx, a.js.Conn(), a.publisher.Names(), events.Telegram, "membership", a.IsMember)
}

// notAParticipant: Telegram's 400 descriptions that mean the user is not in the chat. Any
// other 400 says nothing of membership: the group stays unchecked rather than silently out
// of the scope.
func notAParticipant(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, d := range []string{"user not found", "user_id_invalid", "participant_id_invalid", "member not found", "user_not_participant"} {
		if strings.Contains(msg, d) {
			return true
		}
	}
	return false
}
