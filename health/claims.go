package health

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Store is the part of a NATS KV bucket Claims uses (jetstream.KeyValue has it).
type Store interface {
	Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error)
	Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error)
	Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error)
}

// bounded gives each store call ProbeTimeout: an unreachable NATS is an answer, soon.
type bounded struct{ kv Store }

func (b bounded) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	return b.kv.Get(ctx, key)
}

func (b bounded) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	return b.kv.Create(ctx, key, value, opts...)
}

func (b bounded) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	return b.kv.Update(ctx, key, value, revision)
}

// Claims makes each incident's start and end announced by one replica: a key per incident
// (kind and subject) written create-only or at the revision read, as events.Lock does, so
// of replicas racing one write wins and only the winner announces.
type Claims struct {
	kv Store
}

// NewClaims coordinates through kv (the health bucket, events.Names.HealthBucket).
func NewClaims(kv Store) *Claims { return &Claims{kv: bounded{kv}} }

type claimResult int

const (
	claimLost    claimResult = iota // another replica announced it
	claimWon                        // this process announces it
	claimSettled                    // another replica announced its start and its end already
)

// record is an incident key's value: no name, only the kind, a token and times.
type record struct {
	Kind    Kind      `json:"kind"`
	Subject string    `json:"subject,omitempty"`
	Open    bool      `json:"open"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
}

// incidentKey is a KV-safe key for kind and subject (tokens may hold any character).
func incidentKey(prefix string, k Kind, subject string) string {
	h := sha256.Sum256([]byte(string(k) + "\x00" + subject))
	return prefix + hex.EncodeToString(h[:12])
}

// open records inc as open. It returns who announces and, when another replica opened it,
// that replica's start.
func (c *Claims) open(ctx context.Context, inc Incident) (claimResult, time.Time, error) {
	key := incidentKey("incident_", inc.Kind, inc.Subject)
	value, _ := json.Marshal(record{Kind: inc.Kind, Subject: inc.Subject, Open: true, Started: inc.Started})
	for range 3 {
		e, err := c.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err := c.kv.Create(ctx, key, value)
			if err == nil {
				return claimWon, inc.Started, nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return claimLost, time.Time{}, fmt.Errorf("open incident: %w", err)
			}
			continue // another replica wrote it first: read what it wrote
		case err != nil:
			return claimLost, time.Time{}, fmt.Errorf("open incident: %w", err)
		}
		var r record
		_ = json.Unmarshal(e.Value(), &r) // a damaged value reads as closed long ago
		if r.Open {
			return claimLost, r.Started, nil
		}
		if r.Ended.After(inc.Started) {
			// Another replica saw this same stretch start and end: it said all there was.
			return claimSettled, r.Started, nil
		}
		_, err = c.kv.Update(ctx, key, value, e.Revision())
		if err == nil {
			return claimWon, inc.Started, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return claimLost, time.Time{}, fmt.Errorf("open incident: %w", err)
		}
	}
	return claimLost, inc.Started, nil
}

// close records inc as ended; the replica whose write wins announces the end, with the start
// the record holds.
func (c *Claims) close(ctx context.Context, inc Incident) (claimResult, time.Time, error) {
	key := incidentKey("incident_", inc.Kind, inc.Subject)
	for range 3 {
		e, err := c.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return claimLost, inc.Started, nil
		}
		if err != nil {
			return claimLost, time.Time{}, fmt.Errorf("close incident: %w", err)
		}
		var r record
		if json.Unmarshal(e.Value(), &r) != nil || !r.Open {
			return claimLost, inc.Started, nil // ended by another replica
		}
		r.Open, r.Ended = false, inc.Ended
		value, _ := json.Marshal(r)
		_, err = c.kv.Update(ctx, key, value, e.Revision())
		if err == nil {
			return claimWon, r.Started, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return claimLost, time.Time{}, fmt.Errorf("close incident: %w", err)
		}
	}
	return claimLost, inc.Started, nil
}

// claimLate claims the telling in chat of an announcement made while NATS was down. Replicas
// that all saw the outage noticed it at slightly different times: the start is rounded to the
// minute, so those within one minute tell it once (others may tell it twice).
func (c *Claims) claimLate(ctx context.Context, a Announcement) (bool, error) {
	at := a.Started.Truncate(time.Minute).Unix()
	what := "start"
	if a.Ending() {
		what = "end"
	}
	key := incidentKey(fmt.Sprintf("late_%s_%d_", what, at), a.Kind, a.Subject)
	_, err := c.kv.Create(ctx, key, []byte(`{}`))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return false, fmt.Errorf("claim late incident: %w", err)
}
