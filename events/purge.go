package events

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// PurgeSubject removes every message of s on a subject matching filter and returns how many
// it removed, without moving the stream's consumers.
//
// nats-server before 2.9.12 moved every consumer whose filter covers a purged subject past
// the end of the stream, whatever the purge removed, even nothing (fixed by nats-server
// commit 46af979, "Fix current consumers not getting messages after purge"): the bridge
// consumer, on relais.ev.>, then silently skipped every event stored and not yet delivered,
// and reported nothing pending. On such a server the messages are deleted one by one, which
// moves no consumer. A filter matching nothing is not purged at all.
func PurgeSubject(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, filter string) (uint64, error) {
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", filter, err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	if n == 0 {
		return 0, nil
	}
	if purgeMovesConsumers(js.Conn().ConnectedServerVersion()) {
		deleted, err := SecureDelete(ctx, s, filter)
		return uint64(deleted), err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(filter)); err != nil {
		return 0, fmt.Errorf("purge %s: %w", filter, err)
	}
	return n, nil
}

// purgeMovesConsumers reports whether a server version ("2.9.10", "v2.10.0-beta") has the
// subject purge that moves consumers: before 2.9.12. An unreadable version is taken as new.
func purgeMovesConsumers(version string) bool {
	v := strings.TrimPrefix(version, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) < 3 {
		return false
	}
	var n [3]int
	for i := range n {
		x, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		n[i] = x
	}
	fixed := [3]int{2, 9, 12}
	for i := range n {
		if n[i] != fixed[i] {
			return n[i] < fixed[i]
		}
	}
	return false
}
