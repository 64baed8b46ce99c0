package bridge

import "sync"

// appliedSeqs are the sequences applied to one member or group above its floor, kept in
// memory instead of in Redis (see memberLua for the rule).
type appliedSeqs struct {
	floor uint64
	seqs  map[uint64]bool
}

// memoryDedup holds the applied sequences of every key of a single-writer bridge.
type memoryDedup struct {
	mu   sync.Mutex
	sets map[string]*appliedSeqs
}

// check reports which of seqs are new for key at floor, without recording them.
func (m *memoryDedup) check(key string, floor uint64, seqs []uint64) []bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sets[key]
	f := floor
	if s != nil {
		f = max(f, s.floor)
	}
	out := make([]bool, len(seqs))
	batch := map[uint64]bool{}
	for i, q := range seqs {
		out[i] = q > f && !batch[q] && (s == nil || !s.seqs[q])
		batch[q] = true
	}
	return out
}

// record adds the applied seqs of key once they are written, and forgets those at or under
// floor.
func (m *memoryDedup) record(key string, floor uint64, seqs []uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sets == nil {
		m.sets = map[string]*appliedSeqs{}
	}
	s := m.sets[key]
	if s == nil {
		s = &appliedSeqs{seqs: map[uint64]bool{}}
		m.sets[key] = s
	}
	if floor > s.floor {
		s.floor = floor
		for q := range s.seqs {
			if q <= floor {
				delete(s.seqs, q)
			}
		}
	}
	for _, q := range seqs {
		if q > s.floor {
			s.seqs[q] = true
		}
	}
}

// drop forgets key's sequences, as deleting the member's keys does on the Lua path.
func (m *memoryDedup) drop(key string) {
	m.mu.Lock()
	delete(m.sets, key)
	m.mu.Unlock()
}

// move adds from's sequences to to's (an alias merged into a member).
func (m *memoryDedup) move(from, to string) {
	m.mu.Lock()
	s := m.sets[from]
	delete(m.sets, from)
	m.mu.Unlock()
	if s == nil {
		return
	}
	var seqs []uint64
	for q := range s.seqs {
		seqs = append(seqs, q)
	}
	m.record(to, s.floor, seqs)
}
