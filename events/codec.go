package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"unicode/utf8"
)

// Decode errors. Each names one way a message can be wrong; test with errors.Is.
var (
	ErrOversize        = errors.New("message too large")
	ErrInvalidUTF8     = errors.New("invalid utf-8")
	ErrMalformed       = errors.New("malformed json")
	ErrUnknownVersion  = errors.New("unknown schema version")
	ErrMissingID       = errors.New("missing id")
	ErrUnknownKind     = errors.New("unknown kind")
	ErrUnknownPlatform = errors.New("unknown platform")
	ErrInvalidField    = errors.New("invalid field")
)

// maxIDLen bounds ids, which become Nats-Msg-Id headers and Redis keys.
const maxIDLen = 256

// DecodeError says why a message was rejected. Its text is what the dead-letter header carries.
type DecodeError struct {
	Err    error  // one of the Err* sentinels
	Detail string // what exactly, without personal data
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "decode: " + e.Err.Error()
	}
	return "decode: " + e.Err.Error() + ": " + e.Detail
}

func (e *DecodeError) Unwrap() error { return e.Err }

func reject(err error, format string, a ...any) error {
	return &DecodeError{Err: err, Detail: fmt.Sprintf(format, a...)}
}

// Encode validates v and marshals it. Only the three message types of the contract encode.
func Encode(v interface {
	Validate() error
}) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if len(b) > MaxSize {
		return nil, reject(ErrOversize, "%d bytes, limit %d", len(b), MaxSize)
	}
	return b, nil
}

// unmarshal runs the checks every message shares, in an order that gives the most specific
// reason: size and encoding first (json.Unmarshal would silently replace bad bytes), then
// syntax, then the version, before any field is looked at.
//
// A well-formed message of this version is parsed once: the bridge decodes every event it
// reads, and a separate pass for the version took about a third of decoding (relais bench
// --cpuprofile). Only a message that fails is parsed again, to say which check it fails first.
func unmarshal(data []byte, v versioned) error {
	if len(data) > MaxSize {
		return reject(ErrOversize, "%d bytes, limit %d", len(data), MaxSize)
	}
	if !utf8.Valid(data) {
		return reject(ErrInvalidUTF8, "")
	}
	err := json.Unmarshal(data, v)
	if err == nil && v.version() == Version {
		return nil
	}
	var head struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return reject(ErrMalformed, "%s", JSONErrorReason(err))
	}
	if head.V == nil {
		return reject(ErrUnknownVersion, "field v missing")
	}
	if *head.V != Version {
		return reject(ErrUnknownVersion, "v=%d, this build reads v=%d", *head.V, Version)
	}
	if err != nil {
		return reject(ErrMalformed, "%s", JSONErrorReason(err))
	}
	return nil
}

// versioned is a message type of the contract: it says which schema version it was read as.
type versioned interface{ version() int }

func (e *Event) version() int         { return e.V }
func (c *ContactChange) version() int { return c.V }
func (r *Reply) version() int         { return r.V }

// JSONErrorReason describes a JSON decoding error by position and type, never echoing the
// input, which may carry personal data: safe for logs and dead-letter reasons.
func JSONErrorReason(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: want %s, got %s", typ.Field, typ.Type, typ.Value)
	default:
		return "not a json object"
	}
}

// DecodeEvent parses and validates one group event.
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	if err := unmarshal(data, &e); err != nil {
		return Event{}, err
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// DecodeContactChange parses and validates one contact change.
func DecodeContactChange(data []byte) (ContactChange, error) {
	var c ContactChange
	if err := unmarshal(data, &c); err != nil {
		return ContactChange{}, err
	}
	if err := c.Validate(); err != nil {
		return ContactChange{}, err
	}
	return c, nil
}

// DecodeReply parses and validates one reply.
func DecodeReply(data []byte) (Reply, error) {
	var r Reply
	if err := unmarshal(data, &r); err != nil {
		return Reply{}, err
	}
	if err := r.Validate(); err != nil {
		return Reply{}, err
	}
	return r, nil
}

func validID(id string) error {
	switch {
	case id == "":
		return reject(ErrMissingID, "")
	case len(id) > maxIDLen:
		return reject(ErrInvalidField, "id longer than %d bytes", maxIDLen)
	}
	return nil
}

// Validate checks an event against the v1 contract.
func (e Event) Validate() error {
	if e.V != Version {
		return reject(ErrUnknownVersion, "v=%d", e.V)
	}
	if err := validID(e.ID); err != nil {
		return err
	}
	if !e.Kind.Valid() {
		return reject(ErrUnknownKind, "%q", truncate(string(e.Kind), 32))
	}
	if !e.Platform.Valid() {
		return reject(ErrUnknownPlatform, "%q", truncate(string(e.Platform), 32))
	}
	switch {
	case e.At.IsZero():
		return reject(ErrInvalidField, "at is missing")
	case e.Sender.ID == "":
		return reject(ErrInvalidField, "sender.id is missing")
	case e.Group != nil && e.Group.ID == "":
		return reject(ErrInvalidField, "group.id is missing")
	case e.Kind == KindCommand && (e.Command == nil || e.Command.Name == ""):
		return reject(ErrInvalidField, "command kind without command name")
	case e.Kind != KindCommand && e.Command != nil:
		return reject(ErrInvalidField, "command set on a %s event", e.Kind)
	case e.Chars < 0:
		return reject(ErrInvalidField, "chars is negative")
	case e.Document != nil && (e.Kind != KindCommand || e.Command.Name != UploadCommand || e.Group != nil):
		return reject(ErrInvalidField, "document outside a private %s command", UploadCommand)
	case e.Document != nil:
		return e.Document.validate()
	}
	return nil
}

// Validate checks a contact change.
func (c ContactChange) Validate() error {
	if c.V != Version {
		return reject(ErrUnknownVersion, "v=%d", c.V)
	}
	if err := validID(c.ID); err != nil {
		return err
	}
	switch {
	case c.Member == "":
		return reject(ErrInvalidField, "member is missing")
	case c.ExternalID != ExternalID(c.Member):
		return reject(ErrInvalidField, "external_id does not match member")
	case c.Op != OpUpsert && c.Op != OpErase:
		return reject(ErrInvalidField, "op %q", truncate(string(c.Op), 32))
	case c.Notify != nil && (c.Op != OpErase || !c.Notify.Platform.Valid() || c.Notify.Chat == "" || c.Notify.Done == ""):
		return reject(ErrInvalidField, "notify needs an erase, a platform, a chat and a text")
	}
	return nil
}

// Validate checks a reply.
func (r Reply) Validate() error {
	if r.V != Version {
		return reject(ErrUnknownVersion, "v=%d", r.V)
	}
	if err := validID(r.ID); err != nil {
		return err
	}
	switch {
	case !r.Platform.Valid():
		return reject(ErrUnknownPlatform, "%q", truncate(string(r.Platform), 32))
	case r.Chat == "":
		return reject(ErrInvalidField, "chat is missing")
	case r.Text == "" && r.Delete == "":
		return reject(ErrInvalidField, "text is empty")
	case len(r.Delete) > maxDocMsgLen:
		return reject(ErrInvalidField, "delete over %d bytes", maxDocMsgLen)
	case len(r.Buttons) > MaxButtons:
		return reject(ErrInvalidField, "%d buttons", len(r.Buttons))
	case r.Campaign != nil && (!ValidSlug(r.Campaign.Slug) || !validToken(r.Campaign.Member)):
		return reject(ErrInvalidField, "campaign slug or member is invalid")
	case r.Campaign != nil && !r.Private:
		return reject(ErrInvalidField, "a campaign message is private")
	case len(r.Photo) > MaxPhotoBytes:
		return reject(ErrInvalidField, "photo of %d bytes, limit %d", len(r.Photo), MaxPhotoBytes)
	case len(r.Photo) > 0 && !bytes.HasPrefix(r.Photo, pngSignature):
		return reject(ErrInvalidField, "photo is not a PNG")
	case len(r.Photo) > 0 && utf8.RuneCountInString(r.Text) > MaxCaptionRunes:
		return reject(ErrInvalidField, "caption over %d characters", MaxCaptionRunes)
	case len(r.Photo) > 0 && len(r.Buttons) > 0:
		return reject(ErrInvalidField, "a photo carries no buttons")
	}
	if d := r.Attachment; d != nil {
		switch {
		case !r.Private:
			return reject(ErrInvalidField, "a document is sent privately")
		case len(r.Photo) > 0 || len(r.Buttons) > 0 || r.AskPhone:
			return reject(ErrInvalidField, "a document carries no photo, button or phone request")
		case len(d.Data) == 0 || len(d.Data) > MaxAttachmentBytes:
			return reject(ErrInvalidField, "document of %d bytes, limit %d", len(d.Data), MaxAttachmentBytes)
		case !slices.Contains(AttachmentMimes, d.Mime):
			return reject(ErrInvalidField, "document type %q", truncate(d.Mime, 32))
		case !documentName.MatchString(d.Name):
			return reject(ErrInvalidField, "document name %q", truncate(d.Name, 32))
		case utf8.RuneCountInString(r.Text) > MaxCaptionRunes:
			return reject(ErrInvalidField, "caption over %d characters", MaxCaptionRunes)
		}
	}
	for _, b := range r.Buttons {
		// Telegram's limits: callback data 1-64 bytes; a label is kept short.
		if b.Text == "" || len(b.Text) > 64 || b.Data == "" || len(b.Data) > 64 {
			return reject(ErrInvalidField, "button text or data out of bounds")
		}
	}
	return nil
}

// documentName is what a document's file name may be.
var documentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
