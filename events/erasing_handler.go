package events

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

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
