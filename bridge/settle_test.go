package bridge

import (
	"slices"
	"testing"
)

// TestNewestStates: batches settled together settle each member once, in the newest state
// any of them saw, whatever order the batches finished their writes in.
func TestNewestStates(t *testing.T) {
	st := func(tok string, ver int64) memberState { return memberState{Token: tok, Ver: ver} }
	batch := func(s ...memberState) *appliedBatch { return &appliedBatch{states: s} }
	tests := []struct {
		name  string
		group []*appliedBatch
		want  []memberState
	}{
		{"one batch as it is", []*appliedBatch{batch(st("a", 1), st("b", 4))}, []memberState{st("a", 1), st("b", 4)}},
		{"newer later", []*appliedBatch{batch(st("a", 1)), batch(st("a", 3), st("b", 1))}, []memberState{st("a", 3), st("b", 1)}},
		{"newer first", []*appliedBatch{batch(st("a", 5)), batch(st("a", 2))}, []memberState{st("a", 5)}},
		{"empty batches", []*appliedBatch{batch(), batch(st("c", 1)), batch()}, []memberState{st("c", 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newestStates(tt.group)
			slices.SortFunc(got, func(x, y memberState) int {
				if x.Token < y.Token {
					return -1
				}
				return 1
			})
			if len(got) != len(tt.want) {
				t.Fatalf("got %d states, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].Token != tt.want[i].Token || got[i].Ver != tt.want[i].Ver {
					t.Errorf("state %d: %s v%d, want %s v%d", i, got[i].Token, got[i].Ver, tt.want[i].Token, tt.want[i].Ver)
				}
			}
		})
	}
}
