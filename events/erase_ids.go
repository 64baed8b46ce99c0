package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// LoggedPlatformID finds a member token's platform id in the event log: the sender id of
// the newest of their own events (their subjects carry their token). An erasure of a person
// known under two linked ids needs each id, and an event may carry only one of them; "" when
// the log holds no event of the token.
func LoggedPlatformID(ctx context.Context, js jetstream.JetStream, n Names, token string) (string, error) {
	if !validToken(token) {
		return "", errors.New("logged platform id: invalid member token")
	}
	s, err := js.Stream(ctx, n.EventsStream())
	if err != nil {
		return "", fmt.Errorf("logged platform id: %w", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, n.MemberEventsFilter(token))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("logged platform id: %w", err)
	}
	ev, err := DecodeEvent(m.Data)
	if err != nil {
		return "", nil // an unreadable event names nobody relais can use
	}
	return ev.Sender.ID, nil
}

// EraseToken securely deletes what selects a member by token alone: their own events and
// their contact change. It is the erasure of a linked id that nothing names any more (no
// event of it in the log, no state): without its platform id, references to it in others'
// events cannot be told from anyone else's, and there are none relais could still read.
func EraseToken(ctx context.Context, js jetstream.JetStream, n Names, token string) error {
	if !validToken(token) {
		return errors.New("erase token: invalid member token")
	}
	for _, sel := range []struct{ stream, filter string }{
		{n.EventsStream(), n.MemberEventsFilter(token)},
		{n.CRMStream(), n.CRMSubject(token)},
	} {
		s, err := js.Stream(ctx, sel.stream)
		if err != nil {
			return fmt.Errorf("erase token: %w", err)
		}
		if _, err := SecureDelete(ctx, s, sel.filter); err != nil {
			return fmt.Errorf("erase token: %w", err)
		}
	}
	return nil
}
