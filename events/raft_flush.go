package events

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Erasure in the Raft logs. On a cluster every replicated stream has, on every node, a Raft
// log (the WAL, $SYS/_js_/S-R3F-*/msgs/*.blk) holding each message as it was proposed, names
// and phones included. A secure delete overwrites the message in each replica's store, not
// in the logs. What nats-server v2.15.2 does with them (server/jetstream_cluster.go
// monitorStream, raft.go installSnapshot, filestore.go compactLocked):
//
//   - Each replica snapshots its stream and compacts its log up to what it applied: when
//     more than compactSizeMin (8 MiB) or compactNumMin (65,536 entries) arrived since the
//     last one, and otherwise on a timer every 2 to 3 minutes.
//   - Compacting removes the log's block files (4 MiB each) wholly before the block holding
//     the new first entry, and the whole log when everything was applied. The block holding
//     the new first entry keeps its head, the old entries included, unless it is over 2 MiB
//     and mostly dead: a small, busy stream keeps an erased name in its last block for as
//     long as that block is the last.
//
// No client call asks for a snapshot. FlushRaftLogs makes one happen on every replica at
// once, past the erased entries: it appends more than compactSizeMin of filler to the log
// (the threshold each replica checks as it applies), which also fills at least two new
// blocks, so the blocks holding anything older are removed whole. The filler goes on a
// subject of the stream's own that no consumer reads, and is purged after (it holds no
// personal data, so a plain purge will do).

// flushBytes is the filler a flush appends to a stream's Raft log: past compactSizeMin (8
// MiB) and two 4 MiB log blocks.
const flushBytes = 9 << 20

// flushSubjects is the subject space of a stream's Raft log flush: filler and requests. A
// stream name holds no dot, so each stream has its own.
func flushSubjects(stream string) string { return "relaiswal." + stream + ".*" }

func fillSubject(stream string) string    { return "relaiswal." + stream + ".fill" }
func requestSubject(stream string) string { return "relaiswal." + stream + ".request" }

// RequestRaftFlush records, durably, that an erasure wants the Raft logs flushed: a small
// message in the events stream, which outlives a crash of the process that will flush. With
// one replica there is no Raft log, and nothing is recorded.
func RequestRaftFlush(ctx context.Context, js jetstream.JetStream, n Names) error {
	s, err := js.Stream(ctx, n.EventsStream())
	if err != nil {
		return fmt.Errorf("request raft flush: %w", err)
	}
	if s.CachedInfo().Config.Replicas <= 1 {
		return nil
	}
	if _, err := js.Publish(ctx, requestSubject(n.EventsStream()), nil); err != nil {
		return fmt.Errorf("request raft flush: %w", err)
	}
	return nil
}

// FlushRequest is the oldest pending request and the newest one's sequence.
type FlushRequest struct {
	Oldest jetstream.RawStreamMsg
	Newest uint64
}

// PendingRaftFlush returns the pending flush requests; ok is false when there are none.
func PendingRaftFlush(ctx context.Context, js jetstream.JetStream, n Names) (req FlushRequest, ok bool, err error) {
	s, err := js.Stream(ctx, n.EventsStream())
	if err != nil {
		return req, false, fmt.Errorf("pending raft flush: %w", err)
	}
	subj := requestSubject(n.EventsStream())
	first, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return req, false, nil
	}
	if err != nil {
		return req, false, fmt.Errorf("pending raft flush: %w", err)
	}
	last, err := s.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		return req, false, fmt.Errorf("pending raft flush: %w", err)
	}
	return FlushRequest{Oldest: *first, Newest: last.Sequence}, true, nil
}

// FlushReport says what a flush did; it names nobody.
type FlushReport struct {
	Streams []string // the replicated streams whose Raft logs were flushed
	Bytes   int      // filler appended, all streams together
}

// FlushRaftLogs flushes the Raft logs of every replicated stream of n that has a flush
// subject (see Setup), then clears the requests up to req.Newest: requests made meanwhile
// stay pending for the next flush. A stream with one replica has no Raft log: nothing to do.
func FlushRaftLogs(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, n Names, req FlushRequest) (FlushReport, error) {
	var rep FlushReport
	size := int(min(nc.MaxPayload(), 1<<20)) - 1024 // room for the subject and headers
	if size < 4096 {
		return rep, fmt.Errorf("raft flush: server max payload %d too small", nc.MaxPayload())
	}
	// Random: the server compresses large stream messages in its log (s2), and zeros would
	// shrink to nothing.
	filler := make([]byte, size)
	_, _ = rand.Read(filler) // crypto/rand.Read never fails
	for _, name := range flushedStreams(n) {
		s, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("raft flush %s: %w", name, err)
		}
		cfg := s.CachedInfo().Config
		if cfg.Replicas <= 1 || !slices.Contains(cfg.Subjects, flushSubjects(name)) {
			continue
		}
		var last uint64
		for sent := 0; sent < flushBytes; sent += size {
			ack, err := js.Publish(ctx, fillSubject(name), filler)
			if err != nil {
				return rep, fmt.Errorf("raft flush %s: %w", name, err)
			}
			last = ack.Sequence
			rep.Bytes += size
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(fillSubject(name)), jetstream.WithPurgeSequence(last+1)); err != nil {
			return rep, fmt.Errorf("raft flush %s: purge filler: %w", name, err)
		}
		rep.Streams = append(rep.Streams, name)
	}
	if req.Newest > 0 {
		s, err := js.Stream(ctx, n.EventsStream())
		if err != nil {
			return rep, fmt.Errorf("raft flush: %w", err)
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(requestSubject(n.EventsStream())), jetstream.WithPurgeSequence(req.Newest+1)); err != nil {
			return rep, fmt.Errorf("raft flush: clear requests: %w", err)
		}
	}
	return rep, nil
}

// flushedStreams are the streams that may hold personal data: the event log, the contact
// changes, dead letters, pending replies and campaign messages, and the erasable buckets.
// The locks bucket holds none.
func flushedStreams(n Names) []string {
	return []string{
		n.EventsStream(), n.CRMStream(), n.DLQStream(), n.RepliesStream(), n.CampaignsStream(),
		"KV_" + n.ConsentBucket(), "KV_" + n.CRMRefsBucket(), "KV_" + n.CampaignsBucket(),
	}
}
