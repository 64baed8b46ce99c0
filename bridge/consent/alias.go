package consent

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

func (s *Store) linkLocked(alias, member string) {
	if _, ok := s.aliases[alias]; ok || alias == member || checkToken("member", member) != nil {
		return // links are written once and never change
	}
	s.aliases[alias] = member
	s.aliasOf[member] = append(s.aliasOf[member], alias)
}

// maxAliasHops bounds how far Canonical follows links (a chain is possible, a loop is not:
// a link is only written between two canonical tokens).
const maxAliasHops = 4

// Canonical returns the member token a token stands for: itself, or the member it is an
// alias of.
func (s *Store) Canonical(token string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.canonicalLocked(token)
}

func (s *Store) canonicalLocked(token string) string {
	for range maxAliasHops {
		next, ok := s.aliases[token]
		if !ok {
			break
		}
		token = next
	}
	return token
}

// Link records that alias is another token of member. It reports whether this call made
// the link: exactly one caller across replicas does, and merges the alias's state into the
// member's. A token already linked stays as it is.
func (s *Store) Link(ctx context.Context, member, alias string) (bool, error) {
	if err := checkToken("member", member); err != nil {
		return false, err
	}
	if err := checkToken("alias", alias); err != nil {
		return false, err
	}
	member, alias = s.Canonical(member), s.Canonical(alias)
	if member == alias {
		return false, nil
	}
	_, err := s.kv.Create(ctx, aliasPrefix+alias, []byte(member))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("consent: link alias: %w", err)
	}
	s.mu.Lock()
	s.linkLocked(alias, member)
	s.mu.Unlock()
	return true, nil
}

// Aliases returns the tokens linked to a member token.
func (s *Store) Aliases(member string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.aliasOf[s.canonicalLocked(member)])
}
