package events

import "context"

type eventSeqKey struct{}

// WithEventSeq returns a context telling whoever handles an event the stream sequence of
// its message in RELAIS_EVENTS. The bridge sets it for the commands it answers: an erasure
// a command asks for leaves the command's own message to the bridge (ErasedMember.KeepSeq).
func WithEventSeq(ctx context.Context, seq uint64) context.Context {
	return context.WithValue(ctx, eventSeqKey{}, seq)
}

// EventSeq returns the sequence WithEventSeq set, or 0.
func EventSeq(ctx context.Context) uint64 {
	seq, _ := ctx.Value(eventSeqKey{}).(uint64)
	return seq
}
