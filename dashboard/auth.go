package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// Login links and sessions live in a NATS KV bucket, keyed by the SHA-256 of their secret:
// every replica sees them, and the bucket never holds a secret that would let its reader
// log in. A link is used by deleting its key on the condition that it is still the
// revision just read: of two uses, even on two replicas, only one deletes it.

// grant is what a link or a session stands for.
type grant struct {
	Platform events.Platform `json:"platform"`
	ID       string          `json:"id"`
	Phone    string          `json:"phone,omitempty"`
	Admin    bool            `json:"admin,omitempty"`
	Expires  time.Time       `json:"expires"`
}

func (g grant) who() scope.Who {
	return scope.Who{Platform: g.Platform, ID: g.ID, Phone: g.Phone, Admin: g.Admin}
}

// ErrInvalid is a link or session that is unknown, used or expired.
var ErrInvalid = errors.New("dashboard: invalid or expired")

// newSecret returns 32 random bytes, base64url: the link token or the session id.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("dashboard: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func keyOf(kind, secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return kind + "." + hex.EncodeToString(sum[:])
}

// store keeps grants in KV.
type store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

func (s store) put(ctx context.Context, kind, secret string, g grant) error {
	b, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	if _, err := s.kv.Create(ctx, keyOf(kind, secret), b); err != nil {
		return fmt.Errorf("dashboard: store %s: %w", kind, err)
	}
	return nil
}

// get reads a grant that has not expired; with take, it also deletes it, once.
func (s store) get(ctx context.Context, kind, secret string, take bool) (grant, error) {
	if secret == "" || len(secret) > 128 {
		return grant{}, ErrInvalid
	}
	key := keyOf(kind, secret)
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return grant{}, ErrInvalid
	}
	if err != nil {
		return grant{}, fmt.Errorf("dashboard: read %s: %w", kind, err)
	}
	var g grant
	if err := json.Unmarshal(e.Value(), &g); err != nil {
		return grant{}, ErrInvalid
	}
	if take {
		if err := s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
			return grant{}, ErrInvalid // used meanwhile, here or on another replica
		}
	}
	if !s.now().Before(g.Expires) {
		if !take {
			_ = s.kv.Delete(ctx, key)
		}
		return grant{}, ErrInvalid
	}
	return g, nil
}

func (s store) drop(ctx context.Context, kind, secret string) error {
	if secret == "" || len(secret) > 128 {
		return nil
	}
	if err := s.kv.Delete(ctx, keyOf(kind, secret)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("dashboard: drop %s: %w", kind, err)
	}
	return nil
}
