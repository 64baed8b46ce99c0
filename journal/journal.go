// Package journal is the access journal: every read of personal data by an organiser or an
// admin (a command that names members, a dashboard page, a campaign report, an export, the
// journal itself) is appended with who, what, which members and when. Who and which are
// member tokens (keyed hashes), never names: the journal names nobody, and an erased
// member's tokens in it stay what they are, tokens.
//
// The journal is a JetStream stream of its own, kept RELAIS_JOURNAL_DAYS (MaxAge). Each
// entry carries its stream sequence, the hash of the entry before it and that entry's time,
// and its own hash over all of that: a removed, rewritten or altered entry breaks the chain
// (Verify). Entries are appended with an expected last sequence, so several bridge replicas
// writing at once still make one chain. When old entries expire the chain's start moves:
// verification starts at the first entry kept, and accepts that its predecessor is gone only
// if that predecessor was old enough to have expired.
package journal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// Roles of who read.
const (
	RoleOrganiser = "organiser"
	RoleAdmin     = "admin"
	// RoleOperator is someone at the command line (relais export): no member token.
	RoleOperator = "operator"
)

// Entry is one read of personal data.
type Entry struct {
	// Seq is the stream sequence the entry was appended at: a rewritten entry lands elsewhere.
	Seq uint64    `json:"seq"`
	At  time.Time `json:"at"`
	// ID names the request read for (a command's event id): a retried command is one entry.
	// It is stored as a hash: an event id holds a chat id.
	ID string `json:"id,omitempty"`
	// Who is the reader's member token; "" for the operator.
	Who  string `json:"who,omitempty"`
	Role string `json:"role"`
	// What was read: a command key ("fiche"), "page:overview", "page:group", "export"...
	What string `json:"what"`
	// Members are the tokens of the members the answer named, sorted.
	Members []string `json:"members,omitempty"`
	// Prev is the hash of the entry before, PrevAt its time; both empty for the first.
	Prev   string    `json:"prev,omitempty"`
	PrevAt time.Time `json:"prev_at,omitzero"`
	Hash   string    `json:"hash"`
}

// Sum is the entry's hash: SHA-256 over its JSON without the hash.
func (e Entry) Sum() string {
	e.Hash = ""
	b, _ := json.Marshal(e) // a struct of strings, times and a slice: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Journal appends to and reads the access journal.
type Journal struct {
	js      jetstream.JetStream
	stream  string
	subject string
	keep    time.Duration
	now     func() time.Time
	mu      sync.Mutex // one append at a time from this process; replicas meet on the sequence
}

// Config says how long entries are kept and on how many replicas.
type Config struct {
	Days     int // RELAIS_JOURNAL_DAYS; 0 is 365
	Replicas int // 0 is 1
	// ReplicasGuessed says Replicas was computed from the connection, not chosen: an
	// existing journal then keeps its own (a server down while it was computed, or a
	// command-line tool, must not shrink it).
	ReplicasGuessed bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Open creates or updates the journal's stream and returns the journal.
func Open(ctx context.Context, js jetstream.JetStream, names events.Names, cfg Config) (*Journal, error) {
	if cfg.Days <= 0 {
		cfg.Days = 365
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	j := &Journal{js: js, stream: names.JournalStream(), subject: names.JournalSubject(),
		keep: time.Duration(cfg.Days) * 24 * time.Hour, now: cfg.Now}
	if s, err := js.Stream(ctx, j.stream); err == nil && cfg.ReplicasGuessed {
		cfg.Replicas = s.CachedInfo().Config.Replicas
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        j.stream,
		Description: "relais access journal: reads of personal data, hash-chained, tokens only",
		Subjects:    []string{j.subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      j.keep,
		Duplicates:  time.Hour,
		Replicas:    max(cfg.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("journal: stream: %w", err)
	}
	return j, nil
}

// Keep is how long entries are kept.
func (j *Journal) Keep() time.Duration { return j.keep }

// maxAppendTries bounds the retries when other replicas append at the same time.
const maxAppendTries = 50

// Append chains e after the last entry and stores it. e.At defaults to now; Seq, Prev,
// PrevAt and Hash are set here. An entry whose ID was appended within the hour is not
// appended again.
func (j *Journal) Append(ctx context.Context, e Entry) error {
	if e.What == "" || e.Role == "" {
		return errors.New("journal: an entry needs what and a role")
	}
	if e.At.IsZero() {
		e.At = j.now()
	}
	e.At = e.At.UTC().Truncate(time.Millisecond)
	if e.ID != "" {
		sum := sha256.Sum256([]byte("relais-journal\x00" + e.ID))
		e.ID = hex.EncodeToString(sum[:16])
	}
	e.Members = slices.Compact(slices.Sorted(slices.Values(e.Members)))
	j.mu.Lock()
	defer j.mu.Unlock()
	s, err := j.js.Stream(ctx, j.stream)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	for range maxAppendTries {
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		e.Prev, e.PrevAt = "", time.Time{}
		if info.State.Msgs > 0 {
			last, err := s.GetLastMsgForSubject(ctx, j.subject)
			if err != nil {
				return fmt.Errorf("journal: last entry: %w", err)
			}
			var prev Entry
			if err := json.Unmarshal(last.Data, &prev); err != nil {
				return fmt.Errorf("journal: last entry: %w", err)
			}
			e.Prev, e.PrevAt = prev.Hash, prev.At
		}
		e.Seq = info.State.LastSeq + 1
		e.Hash = e.Sum()
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequence(info.State.LastSeq)}
		if e.ID != "" {
			opts = append(opts, jetstream.WithMsgID(e.ID))
		}
		_, err = j.js.Publish(ctx, j.subject, data, opts...)
		if isWrongLastSequence(err) {
			continue // another replica appended first: chain after its entry
		}
		if err != nil {
			return fmt.Errorf("journal: append: %w", err)
		}
		return nil
	}
	return errors.New("journal: append: the journal kept moving")
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Stored is an entry as read back: the sequence the stream keeps it at, and its bytes'
// decoding (Bad when they are not an entry).
type Stored struct {
	StreamSeq uint64
	Entry     Entry
	Bad       bool
}

// Log is the whole journal as kept: its entries in order and the stream's last sequence
// (a removed last entry leaves the sequence behind it).
type Log struct {
	Entries []Stored
	LastSeq uint64
}

// Read returns every entry kept.
func (j *Journal) Read(ctx context.Context) (Log, error) {
	s, err := j.js.Stream(ctx, j.stream)
	if err != nil {
		return Log{}, fmt.Errorf("journal: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return Log{}, fmt.Errorf("journal: %w", err)
	}
	log := Log{LastSeq: info.State.LastSeq}
	if info.State.Msgs == 0 {
		return log, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return Log{}, fmt.Errorf("journal: read: %w", err)
	}
	for {
		// Never more than what is kept: a fetch asking for more waits out its timeout.
		want := int(min(256, max(info.State.Msgs-uint64(len(log.Entries)), 1)))
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return Log{}, fmt.Errorf("journal: read: %w", err)
		}
		n := 0
		var pending uint64
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return Log{}, fmt.Errorf("journal: read: %w", err)
			}
			st := Stored{StreamSeq: meta.Sequence.Stream}
			if err := json.Unmarshal(m.Data(), &st.Entry); err != nil {
				st.Bad = true
			}
			log.Entries = append(log.Entries, st)
			pending = meta.NumPending
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return Log{}, fmt.Errorf("journal: read: %w", err)
		}
		if n == 0 || pending == 0 {
			return log, nil
		}
	}
}

// Problem is one place where the chain is broken.
type Problem struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return fmt.Sprintf("entry %d: %s", p.Seq, p.Reason) }

// Verify walks the chain from the first entry kept. keep is how long entries are kept:
// the first entry's predecessor may be missing only if it was that old at now.
func Verify(log Log, keep time.Duration, now time.Time) []Problem {
	var out []Problem
	var prev *Entry
	for i := range log.Entries {
		st := log.Entries[i]
		e := st.Entry
		switch {
		case st.Bad:
			out = append(out, Problem{st.StreamSeq, "not a journal entry"})
			prev = nil
			continue
		case e.Hash != e.Sum():
			out = append(out, Problem{st.StreamSeq, "altered: its hash does not match its content"})
		case e.Seq != st.StreamSeq:
			out = append(out, Problem{st.StreamSeq, fmt.Sprintf("rewritten: written as entry %d", e.Seq)})
		}
		switch {
		case prev == nil && i == 0:
			if e.Prev != "" && !e.PrevAt.IsZero() && now.Sub(e.PrevAt) < keep {
				out = append(out, Problem{st.StreamSeq, fmt.Sprintf("the entries before it were removed: the one before dates from %s, not yet expired", e.PrevAt.Format(time.RFC3339))})
			}
		case prev == nil:
		case e.Prev != prev.Hash:
			out = append(out, Problem{st.StreamSeq, fmt.Sprintf("chain broken: it follows an entry that is not entry %d as kept (removed or altered)", prev.Seq)})
		}
		prev = &log.Entries[i].Entry
	}
	if n := len(log.Entries); n > 0 && log.LastSeq > log.Entries[n-1].StreamSeq {
		out = append(out, Problem{log.LastSeq, fmt.Sprintf("removed: the journal's last %d entries are gone", log.LastSeq-log.Entries[n-1].StreamSeq)})
	}
	return out
}

// Verify reads the journal and verifies its chain.
func (j *Journal) Verify(ctx context.Context) (Log, []Problem, error) {
	log, err := j.Read(ctx)
	if err != nil {
		return log, nil, err
	}
	return log, Verify(log, j.keep, j.now()), nil
}

// Since returns the entries at or after t.
func (l Log) Since(t time.Time) []Entry {
	var out []Entry
	for _, st := range l.Entries {
		if !st.Bad && !st.Entry.At.Before(t) {
			out = append(out, st.Entry)
		}
	}
	return out
}
