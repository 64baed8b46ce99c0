package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// SetGroupPolicy overrides the deployment policy for one group; policy "" removes the
// override.
func (s *Store) SetGroupPolicy(ctx context.Context, group, policy string) error {
	if err := checkToken("group", group); err != nil {
		return err
	}
	key := policyPrefix + group
	if strings.TrimSpace(policy) == "" {
		if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("consent: clear group policy: %w", err)
		}
		s.mu.Lock()
		delete(s.policies, group)
		s.mu.Unlock()
		return nil
	}
	p, err := ParsePolicy(policy)
	if err != nil {
		return err
	}
	rev, err := s.kv.Put(ctx, key, []byte(p))
	if err != nil {
		return fmt.Errorf("consent: put group policy: %w", err)
	}
	s.mu.Lock()
	if rev > s.revLocked(key) {
		delete(s.gone, key)
		s.policies[group] = cached[string]{rev, p}
	}
	s.mu.Unlock()
	return nil
}

// Policy returns the policy that applies in a group (its override, else the default). An
// empty group (a private chat) gets the default.
func (s *Store) Policy(group string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.policies[group]; ok && group != "" {
		return c.val
	}
	return s.defaultPolicy
}

// DefaultPolicy is the deployment's policy.
func (s *Store) DefaultPolicy() string { return s.defaultPolicy }
