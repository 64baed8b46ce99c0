package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Membership questions ("is this organiser in that group?") go from the bridge to the
// adapter of the platform over NATS request/reply: only the adapter holds the platform's
// session, and adapters and bridge meet only on NATS. Nothing is stored: a question and its
// answer are platform ids and a yes or no, never kept in a stream.

// MembershipSubject is relais.member.<platform>.
func (n Names) MembershipSubject(p Platform) string { return n.root + ".member." + string(p) }

// MembershipQuestion asks whether User is a member of Group (platform ids).
type MembershipQuestion struct {
	V     int    `json:"v"`
	Group string `json:"group"`
	User  string `json:"user"`
}

// MembershipAnswer is the adapter's answer; Error is set when the platform could not say.
// NotInGroup is the platform's own answer that the bot (or the WhatsApp account) is not in
// the group: nobody is a member of it as far as relais can know, which is an answer, not a
// failure.
type MembershipAnswer struct {
	Member     bool   `json:"member"`
	NotInGroup bool   `json:"not_in_group,omitempty"`
	Error      string `json:"error,omitempty"`
}

// membershipParallel bounds the questions an adapter answers at once.
const membershipParallel = 8

// maxMembershipBytes bounds a question: two platform ids.
const maxMembershipBytes = 1024

// DecodeMembershipQuestion reads a question, refusing oversize or incomplete ones.
func DecodeMembershipQuestion(b []byte) (MembershipQuestion, error) {
	var q MembershipQuestion
	if len(b) > maxMembershipBytes {
		return q, errors.New("membership: question too large")
	}
	if err := json.Unmarshal(b, &q); err != nil {
		return q, fmt.Errorf("membership: %w", err)
	}
	if q.V != Version {
		return q, fmt.Errorf("membership: unknown version %d", q.V)
	}
	if q.Group == "" || q.User == "" || len(q.Group) > 256 || len(q.User) > 256 {
		return q, errors.New("membership: group and user are required")
	}
	return q, nil
}

// MembershipFunc answers one question from the platform.
type MembershipFunc func(ctx context.Context, group, user string) (bool, error)

// ErrNotHere is what a MembershipFunc returns when this process cannot ask the platform (it
// does not hold the session): it stays silent, and the replica that holds it answers.
var ErrNotHere = errors.New("membership: not this replica")

// ErrNotInGroup is what a MembershipFunc and MembershipClient.IsMember return when the
// platform says the bot (or the WhatsApp account) is not in the group: Telegram's 403 after
// the bot was removed, WhatsApp's "not participating" or "no such group". A scope counts
// that group as not the organiser's; any other error leaves the group unchecked.
var ErrNotInGroup = errors.New("membership: the bot is not in this group")

// ServeMembership answers membership questions for a platform until ctx ends. With a queue
// group, one replica answers each question (any replica can ask the platform, as with a
// bot token); without one every replica hears it and only the one whose check does not
// return ErrNotHere answers (a WhatsApp session lives in one process).
func ServeMembership(ctx context.Context, nc *nats.Conn, names Names, p Platform, queue string, check MembershipFunc) error {
	if nc == nil || check == nil {
		return errors.New("membership: connection and check are required")
	}
	// Questions are answered side by side (a scope asks about each group), a few at a time.
	slots := make(chan struct{}, membershipParallel)
	answer := func(m *nats.Msg) {
		defer func() { <-slots }()
		var a MembershipAnswer
		q, err := DecodeMembershipQuestion(m.Data)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			a.Member, err = check(cctx, q.Group, q.User)
			cancel()
		}
		if errors.Is(err, ErrNotHere) {
			return
		}
		switch {
		case errors.Is(err, ErrNotInGroup):
			a = MembershipAnswer{NotInGroup: true}
		case err != nil:
			a = MembershipAnswer{Error: err.Error()}
		}
		b, _ := json.Marshal(a)
		_ = m.Respond(b)
	}
	sub, err := nc.QueueSubscribe(names.MembershipSubject(p), queue, func(m *nats.Msg) {
		select {
		case slots <- struct{}{}:
			go answer(m)
		case <-ctx.Done():
		}
	})
	if err != nil {
		return fmt.Errorf("membership: subscribe: %w", err)
	}
	<-ctx.Done()
	_ = sub.Drain()
	return nil
}

// MembershipClient asks the adapters over NATS.
type MembershipClient struct {
	NC    *nats.Conn
	Names Names
	// Timeout bounds one question (default 5s).
	Timeout time.Duration
}

// IsMember asks the adapter of platform p whether user is a member of group. No adapter
// answering is an error: the caller decides (scopes fail closed and say so). The platform
// saying the bot is not in the group is ErrNotInGroup, wrapped.
func (c MembershipClient) IsMember(ctx context.Context, p Platform, group, user string) (bool, error) {
	if !p.Valid() {
		return false, fmt.Errorf("membership: unknown platform %q", p)
	}
	b, err := json.Marshal(MembershipQuestion{V: Version, Group: group, User: user})
	if err != nil {
		return false, fmt.Errorf("membership: %w", err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := c.NC.RequestWithContext(ctx, c.Names.MembershipSubject(p), b)
	if err != nil {
		return false, fmt.Errorf("membership: ask %s: %w", p, err)
	}
	var a MembershipAnswer
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return false, fmt.Errorf("membership: answer: %w", err)
	}
	if a.NotInGroup {
		return false, fmt.Errorf("membership: %s: %w", p, ErrNotInGroup)
	}
	if a.Error != "" {
		return false, fmt.Errorf("membership: %s: %s", p, a.Error)
	}
	return a.Member, nil
}
