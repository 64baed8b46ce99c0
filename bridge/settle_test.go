package bridge

import (
	"context"
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

// TestUnsettledReadsFingerprintsNow: a state read while the batch before it was settling
// carries the settled fingerprint from before that settle. unsettled re-reads it: a member
// whose fingerprint was settled meanwhile is not decided again, one still unsettled is, and
// a forced one (the full sweep) always is.
func TestUnsettledReadsFingerprintsNow(t *testing.T) {
	ctx := context.Background()
	b := stateBridge(t, nil)
	settled := func(tok, fp string) {
		t.Helper()
		if err := b.rdb.HSet(ctx, b.keys.memberKeys(tok)[0], "pubfp", fp).Err(); err != nil {
			t.Fatal(err)
		}
	}
	settled("meanwhile", "fp2")
	settled("behind", "fp1")
	settled("forced", "fp2")
	stale := func(tok string) memberState { return memberState{Token: tok, FP: "fp2", PubFP: "fp1"} }
	got, err := b.unsettled(ctx, []memberState{stale("meanwhile"), stale("behind"), stale("forced"), stale("unknown")},
		map[string]bool{"forced": true})
	if err != nil {
		t.Fatal(err)
	}
	var toks []string
	for _, st := range got {
		toks = append(toks, st.Token)
	}
	if want := []string{"behind", "forced", "unknown"}; !slices.Equal(toks, want) {
		t.Errorf("decided again: %v, want %v", toks, want)
	}
}
