package bridge

import (
	"context"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// write applies a batch in one pipeline: one memberLua call per member the batch touches,
// with all that member's events, and one groupLua call per group. It then decides the
// members' tags in Go and stores them with the indexes in a second pipeline. It returns the
// state of those members, sorted by token.
func (b *Bridge) write(ctx context.Context, plans []*plan, floor uint64, clockDay int) ([]memberState, error) {
	w := b.writes(plans, floor, clockDay)
	var (
		applied []string
		states  []memberState
		err     error
	)
	if b.cfg.SingleWriter {
		// The plain path stores the decisions and indexes in its own write pipeline.
		if applied, states, err = b.writePlain(ctx, w, floor, plans, clockDay); err != nil {
			return nil, err
		}
	} else {
		if applied, states, err = b.writeLuaChunks(ctx, w, plans, clockDay); err != nil {
			return nil, err
		}
	}
	senderOutcome := w.outcome
	for n, c := range w.members {
		for j, i := range c.sender {
			if i >= 0 && j < len(applied[n]) && applied[n][j] == '1' {
				senderOutcome[i] = 1
			}
		}
	}
	for i := range plans {
		switch senderOutcome[i] {
		case 1, -2:
			b.metrics.events.WithLabelValues(outApplied).Inc()
		case -1:
			b.metrics.events.WithLabelValues(outIgnored).Inc()
		default:
			b.metrics.events.WithLabelValues(outDuplicate).Inc()
		}
	}
	slices.SortFunc(states, func(a, b memberState) int { return strings.Compare(a.Token, b.Token) })
	return states, nil
}

// indexChunk bounds the members of one indexLua call: a sweep stores thousands at once, and
// one call holds Redis for every other client while it runs. indexArgsPerMember are the
// values per member of indexLua.
const (
	indexChunk         = 256
	indexArgsPerMember = 7
)

// store records the members' tags (storeLua) and writes their index entries
// (version-guarded) and the groups' (idempotent), in one pipeline.
func (b *Bridge) store(ctx context.Context, states []memberState, plans []*plan) error {
	if b.cfg.SingleWriter {
		return b.storePlain(ctx, states, plans)
	}
	_, err := b.scripts.pipeline(ctx, b.rdb, func(pipe redis.Pipeliner) {
		var index []any
		for _, st := range states {
			if st.Applied < 0 {
				continue
			}
			args := []any{st.readVer, st.Cur, int(st.Bits), st.Msgs, st.Days, st.People, bit(st.Settled), len(st.staleDays)}
			for _, f := range st.staleDays {
				args = append(args, f)
			}
			for _, f := range st.stalePeople {
				args = append(args, f)
			}
			b.scripts.store.EvalSha(ctx, pipe, b.keys.memberKeys(st.Token)[:3], args...)
			due := st.Cur
			if st.Settled {
				due = -1
			}
			index = append(index, st.Token, st.Ver, due, st.Msgs, st.People, strings.ToLower(st.Username), searchText(st))
		}
		for j, step := 0, indexChunk*indexArgsPerMember; j < len(index); j += step {
			b.scripts.index.EvalSha(ctx, pipe, b.keys.indexKeys(), index[j:min(j+step, len(index))]...)
		}
		b.groupIndexWrites(ctx, pipe, plans)
	})
	return err
}

// groupIndexWrites add the batch's groups to the group index (idempotent).
func (b *Bridge) groupIndexWrites(ctx context.Context, pipe redis.Pipeliner, plans []*plan) {
	seen := map[string]bool{}
	for _, p := range plans {
		if p.skip || seen[p.group+p.from] {
			continue
		}
		seen[p.group+p.from] = true
		pipe.SAdd(ctx, b.keys.groups(), p.group)
		if p.from != "" {
			pipe.HSet(ctx, b.keys.groupAlias(), p.from, p.group)
		}
	}
}

// searchText is what FindMembers matches: folded names and username.
func searchText(st memberState) string {
	parts := []string{fold(st.Name), fold(strings.TrimSpace(st.First + " " + st.Last)), fold(st.Username)}
	if strings.Join(parts, "") == "" {
		return ""
	}
	return strings.Join(parts, "\x00")
}

// traceWrites keep the credits of senders not in full standing (batchWrites.traces).
func (b *Bridge) traceWrites(ctx context.Context, pipe redis.Pipeliner, traces []creditTrace) {
	for _, t := range traces {
		kv := make([]any, 0, 2*len(t.members))
		for _, m := range t.members {
			kv = append(kv, m, "1")
		}
		pipe.HSet(ctx, t.key, kv...)
		pipe.Expire(ctx, t.key, b.cfg.DedupTTL)
	}
}
