package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

type noticeRecord struct {
	Version int       `json:"version"`
	At      time.Time `json:"at"`
}

// ClaimNotice reserves the posting of notice version in a group. Exactly one caller, across
// restarts and replicas, gets true for a given group and version (a newer version can be
// claimed again). The caller that got true posts the notice, and calls ReleaseNotice if it
// could not, so the next attempt posts it.
func (s *Store) ClaimNotice(ctx context.Context, group string, version int) (bool, error) {
	if err := checkToken("group", group); err != nil {
		return false, err
	}
	key := noticePrefix + group
	data, err := json.Marshal(noticeRecord{Version: version, At: time.Now().UTC()})
	if err != nil {
		return false, fmt.Errorf("consent: encode notice: %w", err)
	}
	for {
		_, err := s.kv.Create(ctx, key, data)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return false, fmt.Errorf("consent: claim notice: %w", err)
		}
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile: try to create again
		}
		if err != nil {
			return false, fmt.Errorf("consent: read notice: %w", err)
		}
		var old noticeRecord
		if err := json.Unmarshal(e.Value(), &old); err == nil && old.Version >= version {
			return false, nil
		}
		if _, err := s.kv.Update(ctx, key, data, e.Revision()); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
				return false, nil // another replica claimed it first
			}
			return false, fmt.Errorf("consent: claim notice: %w", err)
		}
		return true, nil
	}
}

// ReleaseNotice undoes a claim whose notice could not be posted.
func (s *Store) ReleaseNotice(ctx context.Context, group string) error {
	if err := checkToken("group", group); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, noticePrefix+group); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("consent: release notice: %w", err)
	}
	return nil
}

// NoticeVersion returns the version of the notice posted in a group, 0 if none.
func (s *Store) NoticeVersion(ctx context.Context, group string) (int, error) {
	if err := checkToken("group", group); err != nil {
		return 0, err
	}
	e, err := s.kv.Get(ctx, noticePrefix+group)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("consent: read notice: %w", err)
	}
	var n noticeRecord
	if err := json.Unmarshal(e.Value(), &n); err != nil {
		return 0, fmt.Errorf("consent: read notice: %w", err)
	}
	return n.Version, nil
}

func isWrongSequence(err error) bool { return events.IsWrongLastSequence(err) }
