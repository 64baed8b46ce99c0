package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"hash"
	"io"
	"sync"
)

// tokenEncoding is lowercase base32 without padding: letters and digits only, so a token is
// always a valid NATS subject token and Redis key part.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenBytes of HMAC output give 80 bits: collisions need ~2^40 members, far beyond any party.
const tokenBytes = 10

// Hasher turns platform ids into keyed tokens, so subjects, Redis keys and CRM external ids
// never carry a raw phone number or user id, and cannot be reversed without the secret.
//
// Keying an HMAC hashes the secret twice, which cost more than the token itself: the bridge
// computes several tokens per event (relais bench --cpuprofile: HMAC keying was half of
// token time), so keyed HMACs are reused through a pool shared by the Hasher's copies.
type Hasher struct {
	key  []byte
	macs *sync.Pool // of hash.Hash keyed with key
}

// ErrShortSecret is returned for a secret too short to key the hashes.
var ErrShortSecret = errors.New("secret shorter than 16 bytes")

// NewHasher keys a Hasher with the deployment secret.
func NewHasher(secret []byte) (Hasher, error) {
	if len(secret) < 16 {
		return Hasher{}, ErrShortSecret
	}
	key := append([]byte(nil), secret...)
	return Hasher{key: key, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}, nil
}

func (h Hasher) token(parts ...string) string {
	var m hash.Hash
	if h.macs != nil {
		m = h.macs.Get().(hash.Hash)
		defer h.macs.Put(m)
		m.Reset()
	} else {
		m = hmac.New(sha256.New, h.key) // a zero Hasher: keyed with nothing, as before
	}
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{0})
		}
		io.WriteString(m, p)
	}
	var sum [sha256.Size]byte
	return tokenEncoding.EncodeToString(m.Sum(sum[:0])[:tokenBytes])
}

// Member is the token of a member: the same person on two platforms gets two tokens.
func (h Hasher) Member(p Platform, id string) string { return h.token("member", string(p), id) }

// Group is the token of a group.
func (h Hasher) Group(p Platform, id string) string { return h.token("group", string(p), id) }

// Event is the token of an event id, for dedup keys: ids carry platform user ids (phone
// numbers on WhatsApp), which keys must not.
func (h Hasher) Event(id string) string { return h.token("event", id) }
