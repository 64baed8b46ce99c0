package bridge

import (
	"cmp"
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// writeChunk is how many members' scripts one pipeline of writeLuaChunks carries, and
// writePipelines how many of those run at once: a replay batch may touch thousands of
// members, and the settle stage, the sweep and the queries share the connection pool (ten
// per core). Eight rather than four applied imports 14 % faster (relais bench --import
// 300000, two runs each, interleaved), live batches alike.
const (
	writeChunk     = 128
	writePipelines = 8
)

// writeLuaChunks writes a batch with the scripts: the members in chunks of writeChunk, each in
// its own pipeline (its members' scripts, then the tag decisions stored), the groups and the
// plain writes in another, writePipelines at once. Members and groups are independent, and
// Redis runs one pipeline while the bridge encodes the next and decides the tags of the one
// before: in one pipeline, relais bench found the batch loop waiting on one or the other in
// turn. It returns the scripts' applied flags and the members' states, in the order of
// members.
func (b *Bridge) writeLuaChunks(ctx context.Context, w batchWrites, plans []*plan, clockDay int) ([]string, []memberState, error) {
	members := w.members
	applied := make([]string, len(members))
	states := make([]memberState, len(members))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		first = cmp.Or(first, err)
		mu.Unlock()
	}
	wg.Go(func() {
		if _, err := b.scripts.pipeline(ctx, b.rdb, func(pipe redis.Pipeliner) {
			for _, g := range w.groups {
				b.scripts.group.EvalSha(ctx, pipe, g.keys, g.args()...)
			}
			b.traceWrites(ctx, pipe, w.traces)
			b.groupIndexWrites(ctx, pipe, plans)
		}); err != nil {
			fail(err)
		}
	})
	sem := make(chan struct{}, writePipelines)
	for lo := 0; lo < len(members); lo += writeChunk {
		hi := min(lo+writeChunk, len(members))
		sem <- struct{}{}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			<-sem
			break // the batch is retried whole
		}
		wg.Go(func() {
			defer func() { <-sem }()
			flags, reads, err := b.writeLua(ctx, members[lo:hi])
			if err != nil {
				fail(err)
				return
			}
			for n, c := range members[lo:hi] {
				if states[lo+n], err = b.readState(c.token, reads[n], clockDay); err != nil {
					fail(err)
					return
				}
				applied[lo+n] = flags[n]
			}
			if err := b.store(ctx, states[lo:hi], nil); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, nil, first
	}
	return applied, states, nil
}

// writeLua runs the member scripts of some members in one pipeline, each member's state read
// right after its script; it returns the scripts' applied flags and the reads.
func (b *Bridge) writeLua(ctx context.Context, members []*memberCall) ([]string, []stateReads, error) {
	var (
		flags []*redis.Cmd
		reads []stateReads
	)
	_, err := b.scripts.pipeline(ctx, b.rdb, func(pipe redis.Pipeliner) {
		flags, reads = flags[:0], reads[:0]
		for _, c := range members {
			flags = append(flags, b.scripts.member.EvalSha(ctx, pipe, b.keys.memberScriptKeys(c.token), c.args()...))
			reads = append(reads, readMember(ctx, pipe, b.keys, c.token))
		}
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = asString(f.Val())
	}
	return out, reads, nil
}
