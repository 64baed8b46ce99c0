// Package consent keeps each member's consent (opt-in, objection, erasure), the per-group sync
// policy and the record of information notices posted, in the NATS KV bucket of the
// deployment.
//
// The KV bucket is the authority, not Redis: Redis is a rebuildable cache in relais, and an
// objection must survive its loss. Every Store keeps a watch-fed copy of the bucket in memory,
// so Decide costs a map lookup, and replicas see each other's writes within a watch round trip.
// There is deliberately no Redis mirror: it would be a second copy to keep in step and to
// erase, and nothing reads consent from Redis.
package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events"
)

// Consent statuses of a member.
const (
	StatusYes    = "yes"    // said /oui: may reach the CRM
	StatusStop   = "stop"   // objected: never processed or synced again
	StatusErased = "erased" // asked for erasure: as stop, and their data is gone
)

// Sync policies, as the bridge names them.
const (
	PolicyOptIn  = bridge.PolicyOptIn  // only members who said yes reach the CRM
	PolicyNotice = bridge.PolicyNotice // active members reach the CRM unless they objected
)

// Key prefixes in the bucket. Member tokens are bare keys: tokens hold no dot, so they never
// collide with these.
const (
	policyPrefix = "policy."
	noticePrefix = "notice."
	// aliasPrefix links another token of the same person to their member token: on WhatsApp
	// one person may be known by LID and by phone number. The value is the member token.
	aliasPrefix = "alias."
)

// Record is one member's consent as stored.
type Record struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	// Channel is the platform the member answered on.
	Channel events.Platform `json:"channel,omitempty"`
	// NoticeVersion is the version of the information text the member was shown.
	NoticeVersion int `json:"notice_version,omitempty"`
	// Phone is E.164, only when the member shared it themselves to be recontacted.
	Phone string `json:"phone,omitempty"`
	// ObjectedAt is the time of the member's last objection, kept when they say yes again:
	// their activity from before it stays forgotten, live and in a replay.
	ObjectedAt time.Time `json:"objected_at,omitzero"`
	// InCRM, on an erasure, records that the CRM held the member when it was asked, so a
	// retried erasure still erases the CRM contact.
	InCRM bool `json:"in_crm,omitempty"`
	// NoCampaigns: the member answered "Ne plus me solliciter": no campaign reaches them,
	// without the full objection of /stop.
	NoCampaigns bool `json:"no_campaigns,omitempty"`
	// Relayed are the campaigns (slugs) the member answered "Je relaie" to, newest last.
	Relayed []string `json:"relayed,omitempty"`
}

// Suppressed reports whether the record forbids any processing of the member.
func (r Record) Suppressed() bool { return r.Status == StatusStop || r.Status == StatusErased }

func (r Record) validate() error {
	switch r.Status {
	case StatusYes, StatusStop, StatusErased:
	default:
		return fmt.Errorf("consent: unknown status %q", r.Status)
	}
	if r.At.IsZero() {
		return errors.New("consent: record without time")
	}
	if r.Phone != "" && r.Status != StatusYes {
		return errors.New("consent: phone kept only with consent")
	}
	if (r.NoCampaigns || len(r.Relayed) > 0) && r.Status != StatusYes {
		return errors.New("consent: campaign answers kept only with consent")
	}
	return nil
}

// ParsePolicy checks a policy name (RELAIS_SYNC_POLICY or a group override). Empty means the
// default, opt-in.
func ParsePolicy(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", PolicyOptIn, "optin", "opt_in":
		return PolicyOptIn, nil
	case PolicyNotice:
		return PolicyNotice, nil
	}
	return "", fmt.Errorf("consent: policy %q: want %s or %s", s, PolicyOptIn, PolicyNotice)
}

// tokenPattern accepts member and group tokens (events.Hasher output, or test names) and
// refuses anything that could address another key of the bucket.
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func checkToken(what, s string) error {
	if !tokenPattern.MatchString(s) {
		return fmt.Errorf("consent: invalid %s token", what)
	}
	return nil
}

type cached[T any] struct {
	rev uint64
	val T
}

// Store reads and writes consent. Create it with New and stop it with Close.
type Store struct {
	kv            jetstream.KeyValue
	js            jetstream.JetStream
	bucket        string
	defaultPolicy string
	log           *slog.Logger

	mu       sync.RWMutex
	members  map[string]cached[Record]
	policies map[string]cached[string]
	aliases  map[string]string   // alias token → member token
	aliasOf  map[string][]string // member token → alias tokens
	// gone remembers the revision of deleted keys, so a late watch update cannot revive them.
	gone map[string]uint64

	watcher jetstream.KeyWatcher
	done    chan struct{}
}

// Option changes a Store.
type Option func(*Store)

// WithLogger logs watch problems (never personal data: keys are tokens).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// New opens the consent bucket (events.Setup created it), loads it and keeps following it.
// defaultPolicy is RELAIS_SYNC_POLICY ("" means opt-in).
func New(ctx context.Context, js jetstream.JetStream, names events.Names, defaultPolicy string, opts ...Option) (*Store, error) {
	policy, err := ParsePolicy(defaultPolicy)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, names.ConsentBucket())
	if err != nil {
		return nil, fmt.Errorf("consent: open bucket: %w", err)
	}
	s := &Store{
		kv:            kv,
		js:            js,
		bucket:        names.ConsentBucket(),
		defaultPolicy: policy,
		log:           slog.New(slog.DiscardHandler),
		members:       map[string]cached[Record]{},
		policies:      map[string]cached[string]{},
		aliases:       map[string]string{},
		aliasOf:       map[string][]string{},
		gone:          map[string]uint64{},
		done:          make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	// The watch outlives New's context: it runs until Close.
	w, err := kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("consent: watch bucket: %w", err)
	}
	s.watcher = w
	// Load the current values before answering anything: a Decide made on an empty cache
	// would let an objector through.
	for loaded := false; !loaded; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("consent: watch closed while loading")
			}
			if e == nil {
				loaded = true
				continue
			}
			s.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("consent: load bucket: %w", ctx.Err())
		}
	}
	go s.follow()
	return s, nil
}

func (s *Store) follow() {
	defer close(s.done)
	for e := range s.watcher.Updates() {
		if e != nil {
			s.apply(e)
		}
	}
}

// Close stops following the bucket.
func (s *Store) Close() error {
	err := s.watcher.Stop()
	<-s.done
	return err
}

// apply puts one bucket entry into the cache, unless the cache already holds a newer one.
func (s *Store) apply(e jetstream.KeyValueEntry) {
	key, rev := e.Key(), e.Revision()
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev <= s.revLocked(key) {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		if g, ok := strings.CutPrefix(key, policyPrefix); ok {
			delete(s.policies, g)
		} else {
			delete(s.members, key)
		}
		s.gone[key] = rev
		return
	}
	delete(s.gone, key)
	switch {
	case strings.HasPrefix(key, noticePrefix):
		// Notices are read from the bucket when claimed; nothing to cache.
	case strings.HasPrefix(key, aliasPrefix):
		s.linkLocked(strings.TrimPrefix(key, aliasPrefix), string(e.Value()))
	case strings.HasPrefix(key, policyPrefix):
		p, err := ParsePolicy(string(e.Value()))
		if err != nil {
			s.log.Warn("consent: ignoring bad group policy", "key", key, "err", err)
			return
		}
		s.policies[strings.TrimPrefix(key, policyPrefix)] = cached[string]{rev, p}
	default:
		var r Record
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			// Unreadable: keep the member suppressed rather than guess they agreed.
			s.log.Warn("consent: unreadable record, treating as stop", "member", key, "err", err)
			r = Record{Status: StatusStop, At: e.Created()}
		}
		s.members[key] = cached[Record]{rev, r}
	}
}

func (s *Store) revLocked(key string) uint64 {
	if r, ok := s.gone[key]; ok {
		return r
	}
	if strings.HasPrefix(key, policyPrefix) {
		return s.policies[strings.TrimPrefix(key, policyPrefix)].rev
	}
	return s.members[key].rev
}

// Get returns a member's record; found is false when the member never answered.
func (s *Store) Get(_ context.Context, member string) (Record, bool, error) {
	if err := checkToken("member", member); err != nil {
		return Record{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.members[member]
	return c.val, ok, nil
}

// Set stores a member's record. Stop and erased records also drop every earlier revision of
// the member's key, so a phone number given with an earlier consent does not linger in the
// bucket's history.
func (s *Store) Set(ctx context.Context, member string, rec Record) error {
	if err := checkToken("member", member); err != nil {
		return err
	}
	rec.At = rec.At.UTC()
	if err := rec.validate(); err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("consent: encode: %w", err)
	}
	rev, err := s.kv.Put(ctx, member, data)
	if err != nil {
		return fmt.Errorf("consent: put: %w", err)
	}
	s.remember(member, rev, rec)
	if rec.Suppressed() {
		if err := s.dropHistory(ctx, member); err != nil {
			return err
		}
	}
	return nil
}

// dropHistory keeps only the newest revision of key, securely: the older ones' bytes (a
// phone number given with an earlier consent) are overwritten on disk. The newest is written
// first, so a failure here never leaves the member without their objection on record.
func (s *Store) dropHistory(ctx context.Context, key string) error {
	err := events.SecureDropHistory(ctx, s.js, s.bucket, key)
	if !errors.Is(err, events.ErrDeleteDenied) {
		if err != nil {
			return fmt.Errorf("consent: drop history: %w", err)
		}
		return nil
	}
	// A bucket an earlier version created denies deletes (events.Setup migrates it at the
	// next start): unindex the history at least.
	st, err := s.js.Stream(ctx, "KV_"+s.bucket)
	if err != nil {
		return fmt.Errorf("consent: drop history: %w", err)
	}
	subject := "$KV." + s.bucket + "." + key
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeKeep(1)); err != nil {
		return fmt.Errorf("consent: drop history: %w", err)
	}
	return nil
}

func (s *Store) remember(member string, rev uint64, rec Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev > s.revLocked(member) {
		delete(s.gone, member)
		s.members[member] = cached[Record]{rev, rec}
	}
}

// Decide says what the bridge may do with a member's activity in a group. It implements
// bridge.Consent; package bridge never imports this one.
func (s *Store) Decide(_ context.Context, member, group string) (bridge.ConsentDecision, error) {
	s.mu.RLock()
	// One person, one decision: the records of every token of theirs count. An objection
	// under any of them is an objection; a yes under one is their yes.
	main := s.canonicalLocked(member)
	var recs []Record
	for _, tok := range append([]string{main}, s.aliasOf[main]...) {
		if c, ok := s.members[tok]; ok {
			recs = append(recs, c.val)
		}
	}
	s.mu.RUnlock()
	d := bridge.ConsentDecision{Policy: s.Policy(group)}
	for _, r := range recs {
		d.OptedIn = d.OptedIn || r.Status == StatusYes
		d.Suppressed = d.Suppressed || r.Suppressed()
		d.Erased = d.Erased || r.Status == StatusErased
		if r.At.After(d.Since) {
			d.Since = r.At
		}
		objected := r.ObjectedAt
		if r.Status == StatusStop && objected.IsZero() {
			objected = r.At
		}
		if objected.After(d.ObjectedAt) {
			d.ObjectedAt = objected
		}
		if r.Status == StatusYes && r.Phone != "" {
			d.Phone = r.Phone
		}
		if r.Status == StatusYes {
			d.NoCampaigns = d.NoCampaigns || r.NoCampaigns
			for _, slug := range r.Relayed {
				if !slices.Contains(d.Relayed, slug) {
					d.Relayed = append(d.Relayed, slug)
				}
			}
		}
	}
	if d.Suppressed {
		d.OptedIn, d.Phone, d.Relayed = false, "", nil
	}
	return d, nil
}

// Suppressed lists the member tokens that objected or asked for erasure: the suppression
// set. It is rebuilt from the bucket at every start, never from Redis.
func (s *Store) Suppressed() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for m, c := range s.members {
		if c.val.Suppressed() {
			out = append(out, m)
		}
	}
	return out
}
