package journal

import (
	"context"
	"slices"
	"sync"
)

// Reads collects the members an answer names while it is built, so the feature building it
// only says whom it names (Note) and the one place that answers (a command's dispatch, a
// dashboard page) appends one entry with all of them.
type Reads struct {
	mu      sync.Mutex
	members []string
}

type readsKey struct{}

// Collect returns a context whose Note calls land in the returned Reads.
func Collect(ctx context.Context) (context.Context, *Reads) {
	r := &Reads{}
	return context.WithValue(ctx, readsKey{}, r), r
}

// Note records that what is being built names these members (tokens). Without Collect it
// does nothing: code that answers nobody's read (the CRM sync) may share the path.
func Note(ctx context.Context, tokens ...string) {
	r, _ := ctx.Value(readsKey{}).(*Reads)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range tokens {
		if t != "" {
			r.members = append(r.members, t)
		}
	}
}

// Members are the tokens noted, sorted, each once.
func (r *Reads) Members() []string {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Compact(slices.Sorted(slices.Values(r.members)))
}
