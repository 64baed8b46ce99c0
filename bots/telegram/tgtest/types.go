package tgtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// User is a Telegram user as the Bot API serialises it.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	// CanReadAllGroupMessages is getMe's privacy-mode flag (true: privacy mode off); only
	// the bot's own User carries it.
	CanReadAllGroupMessages bool `json:"can_read_all_group_messages,omitempty"`
}

// Chat is a Telegram chat as the Bot API serialises it.
type Chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"` // private, group, supergroup, channel
	Title     string `json:"title,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Group returns a basic group chat.
func Group(id int64, title string) Chat { return Chat{ID: id, Type: "group", Title: title} }

// Supergroup returns a supergroup chat (ids start with -100).
func Supergroup(id int64, title string) Chat { return Chat{ID: id, Type: "supergroup", Title: title} }

// Channel returns a channel chat.
func Channel(id int64, title string) Chat { return Chat{ID: id, Type: "channel", Title: title} }

// Private returns the private chat between the bot and u.
func Private(u User) Chat {
	return Chat{ID: u.ID, Type: "private", FirstName: u.FirstName, Username: u.Username}
}

// Entity is a message entity. Offset and Length count UTF-16 code units, as in Telegram.
type Entity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	User   *User  `json:"user,omitempty"`
}

// EntityOf returns an entity of type typ covering the first occurrence of part in text, with
// UTF-16 offsets. It returns a zero-length entity when part is absent.
func EntityOf(text, part, typ string) Entity {
	i := strings.Index(text, part)
	if i < 0 {
		return Entity{Type: typ}
	}
	return Entity{Type: typ, Offset: utf16Len(text[:i]), Length: utf16Len(part)}
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// Message describes a message to queue. Only Chat is required.
type Message struct {
	Chat       Chat
	From       *User
	SenderChat *Chat
	Text       string
	Caption    string
	Entities   []Entity // for Text, or for Caption when Text is empty
	ReplyTo    int      // message id in the same chat
	// Photo marks a media message (with Caption, or none).
	Photo bool
	// Contact is a shared contact (phone and the user it belongs to).
	Contact *Contact
	// ThreadID and TopicMessage place the message in a forum topic.
	ThreadID     int
	TopicMessage bool
	// Extra fields merged into the message object as they are, for shapes the helpers lack.
	Extra map[string]any
}

// Contact is a shared phone contact.
type Contact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	UserID      int64  `json:"user_id,omitempty"`
}

// APIError is an error the fake answers, shaped as Telegram's.
type APIError struct {
	Code        int
	Description string
	RetryAfter  int   // seconds, for 429
	MigrateTo   int64 // for 400 on a migrated group
}

// Errors Telegram sends, for InjectError.
func TooManyRequests(retryAfter int) APIError {
	return APIError{Code: 429, Description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter), RetryAfter: retryAfter}
}
func Conflict() APIError {
	return APIError{Code: 409, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
}
func Unauthorized() APIError { return APIError{Code: 401, Description: "Unauthorized"} }
func InternalError() APIError {
	return APIError{Code: 500, Description: "Internal Server Error"}
}
func Forbidden(desc string) APIError { return APIError{Code: 403, Description: "Forbidden: " + desc} }

// Sent is a message the bot sent through sendMessage.
type Sent struct {
	At          time.Time // when the fake received it
	ChatID      int64
	Text        string
	ReplyTo     int
	ReplyMarkup json.RawMessage // nil when none
}

// Webhook is what the bot registered with setWebhook.
type Webhook struct {
	URL            string
	SecretToken    string
	AllowedUpdates []string
}
