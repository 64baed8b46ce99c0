package events

import (
	"context"
	"errors"
	"fmt"

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
// SecureDeleteMsg: this file has the helpers for that. Built on them: EraseMember
// (erase_member.go), which removes one member from every stream, the KV revisions
// (erase_kv.go) and ErasingHandler (erasing_handler.go), for messages done with once handled.

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
