package telegram

import (
	"encoding/json"
	"errors"
	"fmt"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/relais-bot/relais/events"
)

// allowedUpdates is the explicit list sent with getUpdates and setWebhook. Telegram keeps the
// last list server-side, and chat_member and message_reaction are only sent when listed.
// callback_query carries the presses of inline buttons (campaign previews and answers).
var allowedUpdates = []string{"message", "edited_message", "my_chat_member", "chat_member", "message_reaction", "callback_query"}

// maxUpdateSize bounds one update. Telegram's largest (a 4096-character message with
// entities and a quoted reply) is far below it.
const maxUpdateSize = 1 << 20

// Update is one Telegram update: the library's type plus what Bot API 5.5 lacks, decoded from
// the same JSON.
type Update struct {
	tgbotapi.Update
	MessageReaction *MessageReaction `json:"message_reaction,omitempty"`
	// Topic data of Message or EditedMessage (Bot API 6.3), which v5 does not decode.
	Topic topicInfo `json:"-"`
}

// MessageReaction is a member's change of reactions on a message (Bot API 7.0).
type MessageReaction struct {
	Chat        tgbotapi.Chat     `json:"chat"`
	MessageID   int               `json:"message_id"`
	User        *tgbotapi.User    `json:"user,omitempty"`
	ActorChat   *tgbotapi.Chat    `json:"actor_chat,omitempty"`
	Date        int64             `json:"date"`
	OldReaction []json.RawMessage `json:"old_reaction"`
	NewReaction []json.RawMessage `json:"new_reaction"`
}

type topicInfo struct {
	ThreadID     int  `json:"message_thread_id"`
	TopicMessage bool `json:"is_topic_message"`
}

// ErrBadUpdate is returned for an update that cannot be read.
var ErrBadUpdate = errors.New("bad update")

// DecodeUpdate reads one update from its raw JSON. It never panics; its errors quote no input.
func DecodeUpdate(raw []byte) (Update, error) {
	if len(raw) > maxUpdateSize {
		return Update{}, fmt.Errorf("%w: %d bytes", ErrBadUpdate, len(raw))
	}
	var u Update
	if err := json.Unmarshal(raw, &u); err != nil {
		return Update{}, fmt.Errorf("%w: %s", ErrBadUpdate, events.JSONErrorReason(err))
	}
	var extra struct {
		Message       *topicInfo `json:"message"`
		EditedMessage *topicInfo `json:"edited_message"`
	}
	if err := json.Unmarshal(raw, &extra); err == nil {
		switch {
		case extra.Message != nil:
			u.Topic = *extra.Message
		case extra.EditedMessage != nil:
			u.Topic = *extra.EditedMessage
		}
	}
	return u, nil
}

// updateID reads just the id of an update that may not decode otherwise, so the poll loop
// can move past it.
func updateID(raw []byte) (int, bool) {
	var head struct {
		ID *int `json:"update_id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ID == nil {
		return 0, false
	}
	return *head.ID, true
}
