package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Erasure on disk. What nats-server v2.15.2 does with the bytes of a removed message
// (server/filestore.go):
//
//   - fileStore.EraseMsg → removeMsg(seq, secure=true) → msgBlock.eraseMsg overwrites the
//     record in its block with random bytes and rewrites the block file. Only the
//     JetStream msg-delete API without no_erase reaches it: jetstream.Stream.SecureDeleteMsg.
//   - Everything else removes a message from the index and leaves its bytes in the .blk
//     file: Stream.DeleteMsg (no_erase), Purge (PurgeEx), a work-queue ack or Term
//     (stream.ackMsg → RemoveMsg), MaxMsgsPerSubject replacement and KV history
//     (enforcePerSubjectLimit → removeMsgViaLimits) and MaxAge expiry. Those bytes go only
//     when their block is compacted (compactWithFloor: never the last block, and only once
//     live bytes are under half the block, see syncBlocks and shouldCompactInline) or when
//     the block empties and its file is removed (removeMsgBlock). No client call forces
//     either, and eraseMsg rewrites the block from its cache as it is, residue included.
//
// So relais never lets a message holding personal data be removed any other way than by
// SecureDeleteMsg: this file has the helpers for that, and EraseMember, which removes one
// member from every stream.

// ErrDeleteDenied is returned for a stream that refuses message deletes: every KV bucket
// nats.go creates (DenyDelete, which the server never lets a stream drop). See
// ErasableKeyValue.
var ErrDeleteDenied = errors.New("stream denies message deletes")

// SecureDeleteSeq securely deletes one message: its bytes are overwritten on disk. A message
// already gone is not an error, so a retry after a crash or a lost answer is harmless.
func SecureDeleteSeq(ctx context.Context, s jetstream.Stream, seq uint64) error {
	name := streamName(s)
	if info := s.CachedInfo(); info != nil && info.Config.DenyDelete {
		return fmt.Errorf("secure delete in %s: %w", name, ErrDeleteDenied)
	}
	err := s.SecureDeleteMsg(ctx, seq)
	if err == nil {
		return nil
	}
	// The server's "no message found" comes back as text only: ask for the message instead.
	if _, gerr := s.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
		return nil
	}
	return fmt.Errorf("secure delete %s #%d: %w", name, seq, err)
}

// SecureDelete securely deletes every message of s on a subject matching filter and returns
// how many it deleted. It reads with direct or API gets rather than a consumer, so it also
// works on a work-queue stream, where an ad-hoc consumer would be refused. Idempotent.
func SecureDelete(ctx context.Context, s jetstream.Stream, filter string) (int, error) {
	n := 0
	err := eachMsg(ctx, s, filter, func(m *jetstream.RawStreamMsg) error {
		if err := SecureDeleteSeq(ctx, s, m.Sequence); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// eachMsg calls fn with every message of s on filter, in stream order.
func eachMsg(ctx context.Context, s jetstream.Stream, filter string, fn func(*jetstream.RawStreamMsg) error) error {
	if filter == "" {
		return errors.New("erase: empty subject filter")
	}
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", streamName(s), err)
		}
		if err := fn(m); err != nil {
			return err
		}
		seq = m.Sequence + 1
	}
}

func streamName(s jetstream.Stream) string {
	if info := s.CachedInfo(); info != nil {
		return info.Config.Name
	}
	return "stream"
}

// ErasedMember is one platform identity of a member to erase. A person relais knows under
// two ids (a WhatsApp LID and phone id) is erased with one call per id, with the same
// pseudonym.
type ErasedMember struct {
	// Token is the member token (Hasher.Member) in the member's subjects.
	Token    string
	Platform Platform
	// PlatformID is the member's id on Platform: replies to it and mentions of it are
	// removed from other members' events.
	PlatformID string
	// Usernames are the member's handles, with or without "@"; Names every form of their
	// name (full, first, last). Both are matched without regard to case, as whole words, in
	// mentions, command arguments, pending replies and dead letters.
	Usernames []string
	Names     []string
	// Pseudonym replaces the member as the sender of their group messages, which keep
	// counting in their group's days and credit nobody. It starts with PseudonymPrefix; the caller draws
	// one at random per erasure and reuses it if it has to run the erasure again.
	Pseudonym string
}

// EraseReport counts what an erasure did; it names nobody, so it may be logged.
type EraseReport struct {
	OwnEvents      int // the member's events, securely deleted
	Anonymised     int // of those, copies kept under the pseudonym because they credit others
	Rewritten      int // others' events that referenced the member, replaced by a copy without it
	Unreadable     int // undecodable events that were the member's or named them: deleted
	DeadLetters    int
	Replies        int
	ContactChanges int
}

// Total is the number of messages securely deleted.
func (r EraseReport) Total() int {
	return r.OwnEvents + r.Rewritten + r.Unreadable + r.DeadLetters + r.Replies + r.ContactChanges
}

// Nats-Msg-Id suffixes of the copies an erasure publishes. They differ from the original's
// id because JetStream would drop a copy under the original id as a duplicate, deleted or
// not, for as long as the duplicate window lasts. Both end with the original's stream
// sequence, which the bridge deduplicates by: a copy of an event it applied is not applied
// again (see CopyOf).
const (
	anonIDSuffix    = "~anon-"
	rewriteIDSuffix = "~rw-"
)

// CopyOf returns the stream sequence of the original an erasure's copy replaces, from the
// copy's Nats-Msg-Id; ok is false for any other message.
func CopyOf(msgID string) (seq uint64, ok bool) {
	for _, suffix := range []string{anonIDSuffix, rewriteIDSuffix} {
		if i := strings.LastIndex(msgID, suffix); i >= 0 {
			n, err := strconv.ParseUint(msgID[i+len(suffix):], 10, 64)
			return n, err == nil && n > 0
		}
	}
	return 0, false
}

// EraseMember securely deletes, from every stream, what relais holds about one member:
//
//  1. their events in RELAIS_EVENTS; a message in a group is first copied under
//     who.Pseudonym, with the same event id, no name and no reference to anyone, so it
//     still counts in its group's messages per day (and nowhere else);
//  2. the references to them in other members' events (reply_to, mentions, command
//     arguments): each such event is replaced by a copy without them, same event id;
//  3. their dead letters, and any dead letter naming them;
//  4. pending replies to them or naming them (personal answers not sent yet);
//  5. their contact change in RELAIS_CRM. The caller publishes the erase change after.
//
// Each copy is published before its original is deleted, and a copy already published is
// recognised by its Nats-Msg-Id, so running EraseMember again after a crash completes the
// erasure without duplicating anything; on a finished erasure it changes nothing.
//
// It reads each stream up to where it stood when it began: the caller suppresses the
// member first, and since adapters keep storing what a suppressed member says, whoever
// consumes those events deletes them as it sees them (SecureDeleteSeq on the message's
// stream sequence).
func EraseMember(ctx context.Context, js jetstream.JetStream, p *Publisher, who ErasedMember) (EraseReport, error) {
	var rep EraseReport
	if err := who.validate(); err != nil {
		return rep, err
	}
	n := p.Names()
	m := newMatcher(who)

	evs, err := js.Stream(ctx, n.EventsStream())
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	if err := eraseEvents(ctx, js, p, evs, who, m, &rep); err != nil {
		return rep, err
	}

	dlq, err := js.Stream(ctx, n.DLQStream())
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	for _, f := range n.MemberDLQFilters(who.Token) {
		k, err := SecureDelete(ctx, dlq, f)
		rep.DeadLetters += k
		if err != nil {
			return rep, fmt.Errorf("erase dead letters: %w", err)
		}
	}
	var naming []uint64
	err = scan(ctx, js, n.DLQStream(), n.DLQFilter(), func(msg jetstream.Msg, seq uint64) error {
		if m.deadLetterNames(msg.Data()) {
			naming = append(naming, seq)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("erase dead letters: %w", err)
	}
	for _, seq := range naming {
		if err := SecureDeleteSeq(ctx, dlq, seq); err != nil {
			return rep, fmt.Errorf("erase dead letters: %w", err)
		}
		rep.DeadLetters++
	}

	replies, err := js.Stream(ctx, n.RepliesStream())
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	err = eachMsg(ctx, replies, n.RepliesFilter(), func(msg *jetstream.RawStreamMsg) error {
		if !m.replyNames(msg.Data) {
			return nil
		}
		if err := SecureDeleteSeq(ctx, replies, msg.Sequence); err != nil {
			return err
		}
		rep.Replies++
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("erase replies: %w", err)
	}

	crmStream, err := js.Stream(ctx, n.CRMStream())
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	if rep.ContactChanges, err = SecureDelete(ctx, crmStream, n.CRMSubject(who.Token)); err != nil {
		return rep, fmt.Errorf("erase contact change: %w", err)
	}
	return rep, nil
}

func (who ErasedMember) validate() error {
	// The token and id select what is deleted: an empty or wildcard one would select
	// everybody.
	if who.Token == "" || strings.ContainsFunc(who.Token, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return errors.New("erase: member token must be letters and digits")
	}
	if !who.Platform.Valid() || who.PlatformID == "" {
		return errors.New("erase: platform and platform id are required")
	}
	if !Pseudonymous(who.Pseudonym) || len(who.Pseudonym) < 2 {
		return fmt.Errorf("erase: pseudonym must start with %q", PseudonymPrefix)
	}
	return nil
}

// stored is one event read from the stream, kept until the scan is over.
type stored struct {
	seq uint64
	ev  Event
}

// eraseEvents does steps 1 and 2 in one pass over the event log: the scan is the slow part.
func eraseEvents(ctx context.Context, js jetstream.JetStream, p *Publisher, s jetstream.Stream, who ErasedMember, m *matcher, rep *EraseReport) error {
	n := p.Names()
	var own, refs []stored
	var undecodable []uint64
	copies := map[string]bool{} // Nats-Msg-Ids of the copies earlier runs published
	err := scan(ctx, js, n.EventsStream(), n.EventsFilter(), func(msg jetstream.Msg, seq uint64) error {
		if id := msg.Headers().Get(jetstream.MsgIDHeader); strings.Contains(id, anonIDSuffix) || strings.Contains(id, rewriteIDSuffix) {
			copies[id] = true
		}
		mine := false
		if tok, ok := n.MemberFromSubject(msg.Subject()); ok && tok == who.Token {
			mine = true
		}
		ev, err := DecodeEvent(msg.Data())
		switch {
		case err != nil && (mine || m.rawNames(msg.Data())):
			undecodable = append(undecodable, seq)
		case err != nil:
		case mine:
			own = append(own, stored{seq, ev})
		case m.eventRefers(ev):
			refs = append(refs, stored{seq, ev})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("erase events: %w", err)
	}

	for _, o := range own {
		if c, ok := m.anonymised(o.ev); ok {
			if id := o.ev.ID + anonIDSuffix + strconv.FormatUint(o.seq, 10); !copies[id] {
				if err := publishCopy(ctx, js, p, c, id); err != nil {
					return err
				}
			}
			rep.Anonymised++
		}
		if err := SecureDeleteSeq(ctx, s, o.seq); err != nil {
			return fmt.Errorf("erase events: %w", err)
		}
		rep.OwnEvents++
	}
	for _, r := range refs {
		c := m.withoutRefs(r.ev)
		// An erasure pseudonym's message still counts in its group; anything else of theirs
		// that no longer credits anyone is worth nothing to keep.
		keep := !Pseudonymous(c.Sender.ID) || c.Kind == KindMessage || c.ReplyTo != "" || len(c.Mentions) > 0
		if id := r.ev.ID + rewriteIDSuffix + strconv.FormatUint(r.seq, 10); keep && !copies[id] {
			if err := publishCopy(ctx, js, p, c, id); err != nil {
				return err
			}
		}
		if err := SecureDeleteSeq(ctx, s, r.seq); err != nil {
			return fmt.Errorf("erase events: %w", err)
		}
		rep.Rewritten++
	}
	for _, seq := range undecodable {
		if err := SecureDeleteSeq(ctx, s, seq); err != nil {
			return fmt.Errorf("erase events: %w", err)
		}
		rep.Unreadable++
	}
	return nil
}

func publishCopy(ctx context.Context, js jetstream.JetStream, p *Publisher, e Event, msgID string) error {
	m, err := p.EventMsg(e)
	if err != nil {
		return fmt.Errorf("erase: copy of an event: %w", err)
	}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("erase: publish copy: %w", err)
	}
	return nil
}

// scanIdle bounds the wait for a message a stream said it held: one deleted meanwhile (by
// MaxAge, say) must not hang the scan.
const scanIdle = 5 * time.Second

// scan calls fn with every message of a limits stream on filter, up to the last one stored
// when it starts, through an ordered consumer (one pull stream, not one request a message:
// the event log can hold millions).
func scan(ctx context.Context, js jetstream.JetStream, stream, filter string, fn func(jetstream.Msg, uint64) error) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msg, err := it.Next(jetstream.NextMaxWait(scanIdle))
		if errors.Is(err, nats.ErrTimeout) {
			return nil
		}
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		if err := fn(msg, md.Sequence.Stream); err != nil {
			return err
		}
		if md.NumPending == 0 || md.Sequence.Stream >= last {
			return nil
		}
	}
}

// matcher recognises the erased member in events, replies and dead letters.
type matcher struct {
	who ErasedMember
	// handles are lowercased usernames without "@"; words lowercased usernames and names.
	handles []string
	words   []string
}

func newMatcher(who ErasedMember) *matcher {
	m := &matcher{who: who}
	for _, u := range who.Usernames {
		if u = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(u), "@")); u != "" {
			m.handles = append(m.handles, u)
			m.words = append(m.words, u)
		}
	}
	for _, name := range who.Names {
		// A one-letter "name" would match half the replies in the queue.
		if name = strings.ToLower(strings.TrimSpace(name)); utf8.RuneCountInString(name) >= 2 {
			m.words = append(m.words, name)
		}
	}
	return m
}

func (m *matcher) isMember(id string) bool { return id != "" && id == m.who.PlatformID }

// isMention reports whether a mentions entry is the member: their id, or "@username".
func (m *matcher) isMention(entry string) bool {
	if m.isMember(entry) {
		return true
	}
	handle, ok := strings.CutPrefix(entry, "@")
	return ok && slices.Contains(m.handles, strings.ToLower(handle))
}

// names reports whether text names the member as a whole word.
func (m *matcher) names(text string) bool {
	if text == "" {
		return false
	}
	lower := strings.ToLower(text)
	for _, w := range m.words {
		if containsWord(lower, w) {
			return true
		}
	}
	return false
}

// containsWord reports whether word occurs in s with no letter, digit or underscore on
// either side: "Léa" is in "merci Léa !" but not in "Léandre".
func containsWord(s, word string) bool {
	for from := 0; from <= len(s)-len(word); {
		i := strings.Index(s[from:], word)
		if i < 0 {
			return false
		}
		i += from
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+len(word):])
		if !wordRune(before) && !wordRune(after) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		from = i + size
	}
	return false
}

func wordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_')
}

// argsName reports whether a command's arguments name the member.
func (m *matcher) argsName(c *Command) bool {
	if c == nil {
		return false
	}
	for _, a := range c.Args {
		if m.isMention(a) || m.isMember(a) {
			return true
		}
	}
	return m.names(strings.Join(c.Args, " "))
}

// eventRefers reports whether someone else's event points at the member.
func (m *matcher) eventRefers(e Event) bool {
	if m.argsName(e.Command) {
		return true
	}
	if e.Platform != m.who.Platform {
		return false
	}
	return m.isMember(e.ReplyTo) || slices.ContainsFunc(e.Mentions, m.isMention)
}

// withoutRefs is e without what points at the member; everything else is unchanged.
func (m *matcher) withoutRefs(e Event) Event {
	if e.Platform == m.who.Platform {
		if m.isMember(e.ReplyTo) {
			// Target is then the member's own message: without it, no one can work the
			// author back out of it.
			e.ReplyTo, e.Target = "", ""
		}
		e.Mentions = slices.DeleteFunc(slices.Clone(e.Mentions), m.isMention)
		if len(e.Mentions) == 0 {
			e.Mentions = nil
		}
	}
	if m.argsName(e.Command) {
		c := *e.Command
		c.Args = nil
		e.Command = &c
	}
	return e
}

// anonymised is the member's own message as the pseudonym: it names nobody and credits
// nobody (an erasure withdraws the member's credits to others, as the bridge does live), and
// only keeps counting in its group's messages per day, so a replay of the log gives the
// group the figures it had live.
func (m *matcher) anonymised(e Event) (Event, bool) {
	if e.Group == nil || e.Kind != KindMessage {
		return Event{}, false
	}
	return Event{
		V: Version, ID: e.ID, Kind: e.Kind, Platform: e.Platform, At: e.At,
		Group:  &Group{ID: e.Group.ID, Title: e.Group.Title},
		Sender: Member{ID: m.who.Pseudonym},
	}, true
}

// replyNames reports whether a pending reply goes to the member or names them.
func (m *matcher) replyNames(data []byte) bool {
	r, err := DecodeReply(data)
	if err != nil {
		return m.rawNames(data)
	}
	if r.Platform == m.who.Platform && (m.isMember(r.Chat) || m.isMember(r.FallbackChat)) {
		return true
	}
	return m.names(r.Text) || m.names(r.FallbackText)
}

// deadLetterNames reports whether a dead letter holds anything of the member: dead letters
// are never replayed, so one that does is deleted rather than rewritten.
func (m *matcher) deadLetterNames(data []byte) bool {
	if e, err := DecodeEvent(data); err == nil {
		sender := e.Platform == m.who.Platform && (m.isMember(e.Sender.ID) || m.isMention("@"+e.Sender.Username))
		return sender || m.eventRefers(e)
	}
	if _, err := DecodeReply(data); err == nil {
		return m.replyNames(data)
	}
	return m.rawNames(data)
}

// rawNames looks for the member in bytes that are not a message relais can read: a name or
// handle as a word, or the platform id as a JSON string.
func (m *matcher) rawNames(data []byte) bool {
	s := string(data)
	return m.names(s) || strings.Contains(s, strconv.Quote(m.who.PlatformID))
}

// SecureDropHistory securely deletes every revision of a KV key but the newest, so the
// values a key held before (a phone number shared then withdrawn) are gone from disk. The
// bucket must allow message deletes (see ErasableKeyValue), else ErrDeleteDenied.
func SecureDropHistory(ctx context.Context, js jetstream.JetStream, bucket, key string) error {
	return secureKeyRevisions(ctx, js, bucket, key, true)
}

// SecureDeleteKey securely deletes every revision of a KV key and leaves no delete marker:
// a Get then finds nothing, and nothing of the key stays on disk. The bucket must allow
// message deletes (see ErasableKeyValue), else ErrDeleteDenied.
func SecureDeleteKey(ctx context.Context, js jetstream.JetStream, bucket, key string) error {
	return secureKeyRevisions(ctx, js, bucket, key, false)
}

func secureKeyRevisions(ctx context.Context, js jetstream.JetStream, bucket, key string, keepNewest bool) error {
	if key == "" || strings.ContainsAny(key, "*> \t") {
		return fmt.Errorf("kv %s: invalid key", bucket)
	}
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return fmt.Errorf("kv %s: %w", bucket, err)
	}
	if s.CachedInfo().Config.DenyDelete {
		return fmt.Errorf("kv %s: %w", bucket, ErrDeleteDenied)
	}
	var seqs []uint64
	if err := eachMsg(ctx, s, "$KV."+bucket+"."+key, func(m *jetstream.RawStreamMsg) error {
		seqs = append(seqs, m.Sequence)
		return nil
	}); err != nil {
		return fmt.Errorf("kv %s: %w", bucket, err)
	}
	if keepNewest && len(seqs) > 0 {
		seqs = seqs[:len(seqs)-1]
	}
	for _, seq := range seqs {
		if err := SecureDeleteSeq(ctx, s, seq); err != nil {
			return fmt.Errorf("kv %s: %w", bucket, err)
		}
	}
	return nil
}

// ErasableKeyValue creates or updates a KV bucket the way nats.go's CreateOrUpdateKeyValue
// does, except that its stream allows message deletes, without which SecureDropHistory and
// SecureDeleteKey cannot overwrite anything. A bucket nats.go created already denies
// deletes for good (the server refuses to lift DenyDelete): it must be deleted and created
// again with this function, and this returns an error saying so.
func ErasableKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	history := int64(max(cfg.History, 1))
	dup := 2 * time.Minute
	if cfg.TTL > 0 && cfg.TTL < dup {
		dup = cfg.TTL
	}
	sc := jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Description:       cfg.Description,
		Subjects:          []string{"$KV." + cfg.Bucket + ".>"},
		MaxMsgsPerSubject: history,
		MaxBytes:          -1,
		MaxAge:            cfg.TTL,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           cfg.Storage,
		Replicas:          max(cfg.Replicas, 1),
		AllowRollup:       true,
		Duplicates:        dup,
		// Direct gets only with one replica: with several, a KV Get may be answered by a
		// lagging replica, and a do-not-contact marker or a consent record read there
		// would be missed (see the CRM stream in setup.go).
		AllowDirect: max(cfg.Replicas, 1) == 1,
		Discard:     jetstream.DiscardNew,
		Metadata:    cfg.Metadata,
	}
	if cfg.MaxBytes > 0 {
		sc.MaxBytes = cfg.MaxBytes
	}
	if cfg.MaxValueSize > 0 {
		sc.MaxMsgSize = cfg.MaxValueSize
	}
	if cfg.Compression {
		sc.Compression = jetstream.S2Compression
	}
	if s, err := js.Stream(ctx, sc.Name); err == nil && s.CachedInfo().Config.DenyDelete {
		return nil, fmt.Errorf("kv %s was created denying deletes: delete it and create it again with ErasableKeyValue: %w", cfg.Bucket, ErrDeleteDenied)
	}
	if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
		return nil, fmt.Errorf("kv %s: %w", cfg.Bucket, err)
	}
	return js.KeyValue(ctx, cfg.Bucket)
}

// SecureReplace publishes m on a stream that keeps one message per subject (RELAIS_CRM)
// after securely deleting the message it replaces: the server would drop that one through
// MaxMsgsPerSubject and leave its bytes on disk, names and phone included. When the stored
// message has m's Nats-Msg-Id, nothing is published and the ack says Duplicate, as the
// server would.
//
// Between the delete and the publish the subject holds nothing; a crash there loses the
// change, which the caller republishes when it finds none.
func SecureReplace(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, m *nats.Msg) (*jetstream.PubAck, error) {
	last, err := s.GetLastMsgForSubject(ctx, m.Subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return nil, fmt.Errorf("secure replace: %w", err)
	case m.Header.Get(jetstream.MsgIDHeader) != "" && last.Header.Get(jetstream.MsgIDHeader) == m.Header.Get(jetstream.MsgIDHeader):
		return &jetstream.PubAck{Stream: streamName(s), Sequence: last.Sequence, Duplicate: true}, nil
	default:
		if err := SecureDeleteSeq(ctx, s, last.Sequence); err != nil {
			return nil, fmt.Errorf("secure replace: %w", err)
		}
	}
	return js.PublishMsg(ctx, m)
}

// ErasingHandler wraps the handler of a consumer whose messages hold personal data and are
// done with once handled (RELAIS_REPLIES, a work queue: an ack removes the message but
// leaves its bytes on disk). Once h has settled a message for good, the message is securely
// deleted, then acked:
//
//   - h succeeded: deleted, acked.
//   - h failed for good: dead-lettered here (the Settler would Term it, leaving its bytes),
//     deleted, acked.
//   - h failed and asked for a retry: the message stays, as before.
//
// If the delete fails, the message is retried but h does not run again: this process
// remembers the sequences it settled, so a reply already sent is not sent twice. A crash
// between h and the delete redelivers it to a fresh process, which sends it again, as a
// crash between h and the ack always did; a deleted message is never redelivered.
func ErasingHandler(s jetstream.Stream, pub *Publisher, log *slog.Logger, h Handler) Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	settled := &seqSet{at: map[uint64]time.Time{}}
	return func(ctx context.Context, msg jetstream.Msg) error {
		md, err := msg.Metadata()
		if err != nil {
			return h(ctx, msg)
		}
		seq := md.Sequence.Stream
		if !settled.has(seq) {
			herr := h(ctx, msg)
			switch {
			case herr == nil:
			case IsPermanent(herr):
				if err := pub.DeadLetter(ctx, msg, herr.Error()); err != nil {
					return err
				}
				log.Warn("dead-lettered", "subject", msg.Subject(), "reason", herr.Error())
			default:
				return herr
			}
			settled.add(seq)
		}
		if err := SecureDeleteSeq(ctx, s, seq); err != nil {
			return RetryAfter(err, time.Second)
		}
		settled.remove(seq)
		return nil
	}
}

// seqSet remembers settled sequences whose delete has not succeeded yet: normally for a
// moment, longer only while NATS refuses deletes.
type seqSet struct {
	mu sync.Mutex
	at map[uint64]time.Time
}

// seqSetMax bounds the memory; past it the oldest entries go (their messages, if they come
// back, are handled again, as without this set).
const seqSetMax = 10000

func (s *seqSet) has(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.at[seq]
	return ok
}

func (s *seqSet) add(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.at) >= seqSetMax {
		var oldest uint64
		var t time.Time
		for k, v := range s.at {
			if t.IsZero() || v.Before(t) {
				oldest, t = k, v
			}
		}
		delete(s.at, oldest)
	}
	s.at[seq] = time.Now()
}

func (s *seqSet) remove(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.at, seq)
}
