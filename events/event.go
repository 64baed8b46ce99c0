// Package events is the contract every part of relais shares: the messages that cross NATS
// (group Event, ContactChange, Reply), their JSON codec, subject names, stream definitions and
// the publish and consume helpers. It depends on no other relais package.
package events

import "time"

// Version is the schema version written in the "v" field of every message.
const Version = 1

// MaxSize bounds one encoded message. Group events carry no text, so anything near this is
// a bug or an attack, not a real event.
const MaxSize = 64 << 10

// Kind says what happened in a group or a private chat.
type Kind string

const (
	KindMessage  Kind = "message"
	KindJoin     Kind = "join"
	KindLeave    Kind = "leave"
	KindReaction Kind = "reaction"
	KindCommand  Kind = "command"
	KindConsent  Kind = "consent"
)

// Valid reports whether k is one of the v1 kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindMessage, KindJoin, KindLeave, KindReaction, KindCommand, KindConsent:
		return true
	}
	return false
}

// Platform names a chat network. It is also a subject token.
type Platform string

const (
	Telegram Platform = "telegram"
	WhatsApp Platform = "whatsapp"
)

// Valid reports whether p is a platform relais knows.
func (p Platform) Valid() bool { return p == Telegram || p == WhatsApp }

// Event is one thing that happened in a group (or a private chat with the bot), as an adapter
// saw it. Message text never appears here: only its length.
type Event struct {
	V        int       `json:"v"`
	ID       string    `json:"id"` // globally unique, e.g. telegram:<chat>:<message>; also the Nats-Msg-Id
	Kind     Kind      `json:"kind"`
	Platform Platform  `json:"platform"`
	At       time.Time `json:"at"` // platform timestamp, UTC
	Group    *Group    `json:"group,omitempty"`
	Sender   Member    `json:"sender"`
	// ReplyTo is the platform id of the member replied to (for a reaction: the author of the
	// message reacted to, when the platform says).
	ReplyTo string `json:"reply_to,omitempty"`
	// Mentions are platform ids of members mentioned; an entry "@name" is a username the
	// adapter could not resolve, left for the bridge to resolve against members it knows.
	Mentions []string `json:"mentions,omitempty"`
	// Target is the platform message id a reply or reaction points at, so the bridge can find
	// its author when the platform does not name them.
	Target  string   `json:"target,omitempty"`
	Command *Command `json:"command,omitempty"`
	Chars   int      `json:"chars,omitempty"` // length of the text in characters
	// Document is a file sent to the bot privately, on the command UploadCommand only.
	Document *Document `json:"document,omitempty"`
}

// Group is where an event happened. MigratedFrom is set on the first event of a Telegram
// supergroup that replaced a basic group, so history moves to the new id.
type Group struct {
	ID           string `json:"id"`
	Title        string `json:"title,omitempty"`
	MigratedFrom string `json:"migrated_from,omitempty"`
}

// Member is a person as the platform names them. Phone is E.164 and only set where the
// platform gives it (WhatsApp, or a contact the member shared themselves on Telegram).
type Member struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	Phone     string `json:"phone,omitempty"`
	// Alias is another platform id of the same person that the adapter learned: on WhatsApp,
	// the phone-number id when ID is the LID. The bridge merges the two into one member.
	Alias string `json:"alias,omitempty"`
}

// PseudonymPrefix starts the sender id of an event rewritten at an erasure: the erased
// member's interactions keep crediting others under a random pseudonym that names nobody
// and never becomes a member of its own.
const PseudonymPrefix = "~"

// Pseudonymous reports whether a platform id is an erasure pseudonym.
func Pseudonymous(id string) bool { return len(id) > 0 && id[:1] == PseudonymPrefix }

// Command is a bot command addressed to relais: Name without the slash, lowercased.
type Command struct {
	Name string   `json:"name"`
	Args []string `json:"args,omitempty"`
	// Bang is set for the !cmd form, which people also type without meaning the bot.
	Bang bool `json:"bang,omitempty"`
}

// Private reports whether the event happened outside any group (a direct message to the bot).
func (e Event) Private() bool { return e.Group == nil }

// ContactOp is what the CRM worker must do with a contact.
type ContactOp string

const (
	OpUpsert ContactOp = "upsert"
	OpErase  ContactOp = "erase"
)

// ContactChange is the desired state of one contact in the CRM, as the bridge wants it now.
// Only the newest change per member is kept in RELAIS_CRM, so it always carries the whole
// state, never a delta.
type ContactChange struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`     // unique per change; the Nats-Msg-Id
	Member     string    `json:"member"` // member token (keyed hash)
	ExternalID string    `json:"external_id"`
	Op         ContactOp `json:"op"`
	FirstName  string    `json:"first_name,omitempty"`
	LastName   string    `json:"last_name,omitempty"`
	Name       string    `json:"name,omitempty"`
	Phone      string    `json:"phone,omitempty"` // E.164
	Handles    []Handle  `json:"handles,omitempty"`
	// Tags is the full set of relais tags the contact must carry; RemoveTags the relais tags
	// it may carry from earlier states and must lose.
	Tags         []string  `json:"tags,omitempty"`
	RemoveTags   []string  `json:"remove_tags,omitempty"`
	Groups       []string  `json:"groups,omitempty"`
	LastActive   time.Time `json:"last_active,omitzero"`
	DoNotContact bool      `json:"do_not_contact,omitempty"`
	At           time.Time `json:"at"` // when the bridge decided this state
	// Notify, on an erase, is the private message the CRM worker sends once the CRM confirmed
	// the erasure (or failed it for good). The worker then securely deletes this change.
	Notify *Notify `json:"notify,omitempty"`
}

// Notify tells the CRM worker whom to tell that an erasure is done, and in which words: the
// bridge renders the texts in the deployment's language.
type Notify struct {
	Platform Platform `json:"platform"`
	Chat     string   `json:"chat"` // the member's private chat
	Done     string   `json:"done"`
	// Failed is a format with one %s, the reason without personal data.
	Failed string `json:"failed"`
}

// Handle is one platform identity of a contact.
type Handle struct {
	Platform Platform `json:"platform"`
	ID       string   `json:"id"`
	Username string   `json:"username,omitempty"`
}

// ExternalID is the stable id of a member in every CRM.
func ExternalID(memberToken string) string { return "relais-" + memberToken }

// Reply is a message the bridge asks an adapter to send.
type Reply struct {
	V        int      `json:"v"`
	ID       string   `json:"id"` // unique; the Nats-Msg-Id
	Platform Platform `json:"platform"`
	// Chat is the platform chat id to send to: a group id, or a member id for a private answer.
	Chat    string `json:"chat"`
	Private bool   `json:"private,omitempty"`
	Text    string `json:"text"`
	// InReplyTo is the platform message id to quote, when any.
	InReplyTo string `json:"in_reply_to,omitempty"`
	// AskPhone asks the adapter to offer a share-my-phone button (Telegram private chats).
	AskPhone bool `json:"ask_phone,omitempty"`
	// OnUnreachable is sent to FallbackChat when Chat cannot be reached (e.g. the organiser
	// never started a private chat with the bot on Telegram).
	FallbackChat string `json:"fallback_chat,omitempty"`
	FallbackText string `json:"fallback_text,omitempty"`
	// Buttons are choices offered under the text, one row. On Telegram each is an inline
	// button whose press comes back as the command in its Data ("/relaie <slug>"); a platform
	// without buttons lists their texts as reply words instead (the bridge writes them into
	// Text).
	Buttons []Button `json:"buttons,omitempty"`
	// Campaign marks one recipient of a campaign: delivered at most once, whatever restarts
	// or replicas (see ClaimDelivery), its outcome recorded for the campaign report.
	Campaign *CampaignTarget `json:"campaign,omitempty"`
	// Photo is a PNG to send as a picture, with Text as its caption (a chart of counts:
	// never a person's picture). The adapter securely deletes the reply once sent.
	Photo []byte `json:"photo,omitempty"`
	// Attachment is a file to send, with Text as its caption: a member's own data (/moi
	// fichier), only ever privately. The adapter securely deletes the reply once sent, and
	// a fallback to a group gets the text only.
	Attachment *Attachment `json:"attachment,omitempty"`
	// Delete is the platform id of a message in Chat to delete (an uploaded export, once
	// read). A reply with Delete and no Text only deletes.
	Delete string `json:"delete,omitempty"`
}

// Attachment is a file a reply carries.
type Attachment struct {
	// Name is the file name the member sees (letters, digits, . _ -).
	Name string `json:"name"`
	// Mime is its media type; only AttachmentMimes are sent.
	Mime string `json:"mime"`
	Data []byte `json:"data"`
}

// AttachmentMimes are the media types a reply's attachment may have.
var AttachmentMimes = []string{"application/json"}

// MaxAttachmentBytes bounds a reply's attachment, so the reply stays within MaxSize once
// encoded (base64 adds a third).
const MaxAttachmentBytes = 40 << 10

// Button is one choice under a reply: its label and the command a press sends back.
type Button struct {
	Text string `json:"text"`
	Data string `json:"data"`
}

// CampaignTarget names the campaign and the recipient (member token) of a campaign message.
type CampaignTarget struct {
	Slug   string `json:"slug"`
	Member string `json:"member"`
}

// MaxPhotoBytes bounds a reply's picture, so the reply stays within MaxSize once encoded.
const MaxPhotoBytes = 40 << 10

// MaxCaptionRunes is the longest caption a picture may carry (Telegram's limit).
const MaxCaptionRunes = 1024
