package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
)

// tokenEncoding is lowercase base32 without padding: letters and digits only, so a token is
// always a valid NATS subject token and Redis key part.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenBytes of HMAC output give 80 bits: collisions need ~2^40 members, far beyond any party.
const tokenBytes = 10

// Hasher turns platform ids into keyed tokens, so subjects, Redis keys and CRM external ids
// never carry a raw phone number or user id, and cannot be reversed without the secret.
type Hasher struct{ key []byte }

// ErrShortSecret is returned for a secret too short to key the hashes.
var ErrShortSecret = errors.New("secret shorter than 16 bytes")

// NewHasher keys a Hasher with the deployment secret.
func NewHasher(secret []byte) (Hasher, error) {
	if len(secret) < 16 {
		return Hasher{}, ErrShortSecret
	}
	return Hasher{key: append([]byte(nil), secret...)}, nil
}

func (h Hasher) token(parts ...string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return tokenEncoding.EncodeToString(m.Sum(nil)[:tokenBytes])
}

// Member is the token of a member: the same person on two platforms gets two tokens.
func (h Hasher) Member(p Platform, id string) string { return h.token("member", string(p), id) }

// Group is the token of a group.
func (h Hasher) Group(p Platform, id string) string { return h.token("group", string(p), id) }

// Event is the token of an event id, for dedup keys: ids carry platform user ids (phone
// numbers on WhatsApp), which keys must not.
func (h Hasher) Event(id string) string { return h.token("event", id) }
