package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers relais sets on dead letters.
const (
	HeaderReason    = "Relais-Reason"
	HeaderStream    = "Relais-Stream"
	HeaderSubject   = "Relais-Subject"
	HeaderSequence  = "Relais-Sequence"
	HeaderDelivered = "Relais-Delivered"
)

// Publisher writes the contract's messages to JetStream and waits for the stream's ack, so a
// caller that got nil knows the message is stored.
type Publisher struct {
	js        jetstream.JetStream
	names     Names
	hash      Hasher
	crmMu     sync.Mutex
	crmStream jetstream.Stream // looked up once: each lookup is a JetStream API request

	// noBatchGet is set once the server answered that it does not know batch gets (before
	// nats-server 2.11): LastContactChanges stops asking.
	noBatchGet atomic.Bool
}

// NewPublisher returns a Publisher for one deployment.
func NewPublisher(js jetstream.JetStream, n Names, h Hasher) *Publisher {
	return &Publisher{js: js, names: n, hash: h}
}

// Names returns the deployment's names.
func (p *Publisher) Names() Names { return p.names }

// Hasher returns the deployment's hasher.
func (p *Publisher) Hasher() Hasher { return p.hash }

// EventSubject is where e is published: its group and sender as tokens.
func (p *Publisher) EventSubject(e Event) string {
	group := DirectGroup
	if e.Group != nil {
		group = p.hash.Group(e.Platform, e.Group.ID)
	}
	return p.names.EventSubject(e.Platform, group, p.hash.Member(e.Platform, e.Sender.ID))
}

// EventMsg encodes e as a NATS message with its subject and Nats-Msg-Id, for callers that
// publish asynchronously.
func (p *Publisher) EventMsg(e Event) (*nats.Msg, error) {
	data, err := Encode(e)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(p.EventSubject(e))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	return m, nil
}

// Event publishes one group event. duplicate is true when the stream already held this id.
func (p *Publisher) Event(ctx context.Context, e Event) (duplicate bool, err error) {
	m, err := p.EventMsg(e)
	if err != nil {
		return false, err
	}
	ack, err := p.js.PublishMsg(ctx, m)
	if err != nil {
		return false, fmt.Errorf("publish event: %w", err)
	}
	return ack.Duplicate, nil
}

// ContactChangeMsg encodes c for RELAIS_CRM.
func (p *Publisher) ContactChangeMsg(c ContactChange) (*nats.Msg, error) {
	data, err := Encode(c)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(p.names.CRMSubject(c.Member))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, c.ID)
	return m, nil
}

// ContactChange publishes the desired state of one contact. opts may make it conditional
// (jetstream.WithExpectLastSequencePerSubject): see IsWrongLastSequence.
func (p *Publisher) ContactChange(ctx context.Context, c ContactChange, opts ...jetstream.PublishOpt) error {
	m, err := p.ContactChangeMsg(c)
	if err != nil {
		return err
	}
	if _, err := p.js.PublishMsg(ctx, m, opts...); err != nil {
		return fmt.Errorf("publish contact change: %w", err)
	}
	return nil
}

// ErrLastChangeMoved says a member's last contact change is no longer the one a decision
// read: someone stored a newer one, and the decision must be made again.
var ErrLastChangeMoved = errors.New("last contact change moved")

// ReplaceContactChange stores m (from ContactChangeMsg) in place of the member's change at
// lastSeq (0: none) if that one is still the last, else returns ErrLastChangeMoved. The
// stream keeps one change per member and would drop the older one leaving its bytes (name,
// phone) on disk: it is securely deleted first, then m published on the condition that the
// member has no change left, so a writer that stored a newer change in between wins.
func (p *Publisher) ReplaceContactChange(ctx context.Context, m *nats.Msg, lastSeq uint64) (*jetstream.PubAck, error) {
	if lastSeq > 0 {
		s, err := p.CRMStream(ctx)
		if err != nil {
			return nil, fmt.Errorf("replace contact change: %w", err)
		}
		// The stream keeps one message per member, so the change read is still the last as
		// long as it exists: deleting it is the check. Gone, another writer replaced it.
		if info := s.CachedInfo(); info != nil && info.Config.DenyDelete {
			return nil, fmt.Errorf("replace contact change: %w", ErrDeleteDenied)
		}
		if err := s.SecureDeleteMsg(ctx, lastSeq); err != nil {
			if _, gerr := s.GetMsg(ctx, lastSeq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
				return nil, ErrLastChangeMoved
			}
			p.DropCRMStream() // its configuration may have changed
			return nil, fmt.Errorf("replace contact change: %w", err)
		}
	}
	ack, err := p.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(0))
	if IsWrongLastSequence(err) {
		return nil, ErrLastChangeMoved
	}
	if err != nil {
		return nil, fmt.Errorf("replace contact change: %w", err)
	}
	return ack, nil
}

// IsWrongLastSequence reports whether a conditional publish failed because the subject's
// last message is no longer the one expected: someone stored a newer one. A replicated
// stream answers with a code of its own for the same refusal.
func IsWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// ReplyMsg encodes r for its platform's reply subject.
func (p *Publisher) ReplyMsg(r Reply) (*nats.Msg, error) {
	data, err := Encode(r)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(p.names.ReplySubject(r.Platform))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, r.ID)
	return m, nil
}

// Reply asks an adapter to send a message.
func (p *Publisher) Reply(ctx context.Context, r Reply) error {
	m, err := p.ReplyMsg(r)
	if err != nil {
		return err
	}
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish reply: %w", err)
	}
	return nil
}

// LastContactChange returns the newest contact change kept for a member, or found=false.
// The bridge compares against it so restarts and rebuilds publish only real changes.
func (p *Publisher) LastContactChange(ctx context.Context, member string) (c ContactChange, found bool, err error) {
	c, _, found, err = p.LastContactChangeSeq(ctx, member)
	return c, found, err
}

// LastContactChangeSeq is LastContactChange with the change's stream sequence (0 when none),
// for a publish conditional on it still being the last.
func (p *Publisher) LastContactChangeSeq(ctx context.Context, member string) (c ContactChange, seq uint64, found bool, err error) {
	s, err := p.js.Stream(ctx, p.names.CRMStream())
	if err != nil {
		return c, 0, false, fmt.Errorf("last contact change: %w", err)
	}
	raw, err := s.GetLastMsgForSubject(ctx, p.names.CRMSubject(member))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return c, 0, false, nil
	}
	if err != nil {
		return c, 0, false, fmt.Errorf("last contact change: %w", err)
	}
	c, err = DecodeContactChange(raw.Data)
	if err != nil {
		return c, raw.Sequence, false, fmt.Errorf("last contact change: %w", err)
	}
	return c, raw.Sequence, true, nil
}

// DeadLetter copies msg to RELAIS_DLQ with the reason in a header. The copy's id derives from
// the original's stream and sequence, so dead-lettering twice stores it once.
func (p *Publisher) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	dl := nats.NewMsg(p.names.DLQSubject(msg.Subject()))
	dl.Data = msg.Data()
	dl.Header.Set(HeaderReason, truncate(reason, 512))
	dl.Header.Set(HeaderSubject, msg.Subject())
	id := "dlq-" + msg.Subject() + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if md, err := msg.Metadata(); err == nil {
		dl.Header.Set(HeaderStream, md.Stream)
		dl.Header.Set(HeaderSequence, strconv.FormatUint(md.Sequence.Stream, 10))
		dl.Header.Set(HeaderDelivered, strconv.FormatUint(md.NumDelivered, 10))
		id = "dlq-" + md.Stream + "-" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	dl.Header.Set(jetstream.MsgIDHeader, id)
	if _, err := p.js.PublishMsg(ctx, dl); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound)
}

// ErrNoBatchRead says LastContactChanges cannot be answered: the contact changes stream has
// several replicas, and only its leader's reads are current (see Setup), or the server is
// older than nats-server 2.11.
var ErrNoBatchRead = errors.New("contact changes: no batch read (replicated stream, or nats-server before 2.11)")

// lastChangesPerRequest stays under the 1,024 messages a server answers one batch get with.
const lastChangesPerRequest = 1000

// LastContactChanges reads the last contact change of each member in one direct batch get
// per thousand members (nats-server ≥ 2.11, ADR-31 "multi_last"), instead of a request each.
// A member with no change kept is absent from the result. It returns ErrNoBatchRead when the
// stream may only be read through its leader.
//
// s is the contact changes stream as the caller holds it: looking it up is a JetStream API
// request, the queue batch gets avoid.
func (p *Publisher) LastContactChanges(ctx context.Context, s jetstream.Stream, members []string) (map[string]*jetstream.RawStreamMsg, error) {
	if info := s.CachedInfo(); info == nil || !info.Config.AllowDirect || info.Config.Replicas > 1 || p.noBatchGet.Load() {
		return nil, ErrNoBatchRead
	}
	out := make(map[string]*jetstream.RawStreamMsg, len(members))
	bySubject := make(map[string]string, len(members))
	for from := 0; from < len(members); from += lastChangesPerRequest {
		var subjects []string
		for _, m := range members[from:min(from+lastChangesPerRequest, len(members))] {
			subj := p.names.CRMSubject(m)
			bySubject[subj] = m
			subjects = append(subjects, subj)
		}
		err := directMultiLast(ctx, p.js, p.names.CRMStream(), subjects, func(m *jetstream.RawStreamMsg) {
			if member, ok := bySubject[m.Subject]; ok {
				out[member] = m
			}
		})
		if errors.Is(err, ErrNoBatchRead) {
			p.noBatchGet.Store(true)
		}
		if err != nil {
			return nil, fmt.Errorf("last contact changes: %w", err)
		}
	}
	return out, nil
}

// directMultiLast sends one batch direct get for the last message of each subject and hands
// every message of the answer to each, until the server's end-of-batch status.
func directMultiLast(ctx context.Context, js jetstream.JetStream, stream string, subjects []string, each func(*jetstream.RawStreamMsg)) error {
	req, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
	}{subjects})
	if err != nil {
		return err
	}
	nc := js.Conn()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	prefix := js.Options().APIPrefix
	switch {
	case prefix != "":
	case js.Options().Domain != "":
		prefix = "$JS." + js.Options().Domain + ".API."
	default:
		prefix = jetstream.DefaultAPIPrefix
	}
	if err := nc.PublishRequest(strings.TrimSuffix(prefix, ".")+".DIRECT.GET."+stream, inbox, req); err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return fmt.Errorf("batch get: %w", err)
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") != "" {
			switch status := msg.Header.Get("Status"); status {
			case "204", "404": // end of batch; or none of the subjects has a message
				return nil
			case "408": // "Empty Request": a server before 2.11 ignores multi_last
				return ErrNoBatchRead
			default:
				return fmt.Errorf("batch get: status %s %s", status, msg.Header.Get("Description"))
			}
		}
		seq, err := strconv.ParseUint(msg.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return fmt.Errorf("batch get: sequence: %w", err)
		}
		each(&jetstream.RawStreamMsg{Subject: msg.Header.Get(jetstream.SubjectHeader), Sequence: seq, Header: msg.Header, Data: msg.Data})
	}
}

// CRMStream is the contact changes stream, looked up once: each lookup is a JetStream API
// request. DropCRMStream forgets it after a failed read, since its configuration may have
// changed (a new replica count turns direct gets on or off, and a cached "on" asks nobody).
func (p *Publisher) CRMStream(ctx context.Context) (jetstream.Stream, error) {
	p.crmMu.Lock()
	defer p.crmMu.Unlock()
	if p.crmStream != nil {
		return p.crmStream, nil
	}
	s, err := p.js.Stream(ctx, p.names.CRMStream())
	if err != nil {
		return nil, fmt.Errorf("crm stream: %w", err)
	}
	p.crmStream = s
	return s, nil
}

func (p *Publisher) DropCRMStream() {
	p.crmMu.Lock()
	p.crmStream = nil
	p.crmMu.Unlock()
}
