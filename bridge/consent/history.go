package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// History returns the revisions of a member's record the bucket still keeps, oldest first:
// their consent history for their own file. An objection or erasure dropped the earlier ones.
func (s *Store) History(ctx context.Context, member string) ([]Record, error) {
	if err := checkToken("member", member); err != nil {
		return nil, err
	}
	entries, err := s.kv.History(ctx, member)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("consent: history: %w", err)
	}
	var out []Record
	for _, e := range entries {
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		var r Record
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			continue // unreadable revision: not the member's record any more
		}
		out = append(out, r)
	}
	return out, nil
}
