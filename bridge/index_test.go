package bridge

import (
	"context"
	"fmt"
	"testing"
)

// TestIndexKeepsEachMembersNewestVersion stores two members' index entries in one script
// call, twice: the second time the first member's state is older than the one indexed (a
// replica that finished late) and the second member's newer. The older state must not
// overwrite the newer one, and must not keep the call from indexing the member after it.
func TestIndexKeepsEachMembersNewestVersion(t *testing.T) {
	b := stateBridge(t, nil)
	ctx := context.Background()
	st := func(tok string, ver int64, msgs int, username string) memberState {
		return memberState{Token: tok, Applied: 1, Ver: ver, Cur: 100, Msgs: msgs, People: 1, Username: username, Name: username}
	}
	check := func(what, tok string, ver string, msgs float64, username string) {
		t.Helper()
		if got := b.rdb.HGet(ctx, b.keys.version(), tok).Val(); got != ver {
			t.Errorf("%s: version of %s = %q, want %q", what, tok, got, ver)
		}
		if got := b.rdb.ZScore(ctx, b.keys.rankMsgs(), tok).Val(); got != msgs {
			t.Errorf("%s: messages rank of %s = %v, want %v", what, tok, got, msgs)
		}
		if got := b.rdb.HGet(ctx, b.keys.usernames(), username).Val(); got != tok {
			t.Errorf("%s: username %q → %q, want %q", what, username, got, tok)
		}
	}
	if err := b.store(ctx, []memberState{st("aaaa", 5, 3, "alice"), st("bbbb", 1, 2, "bob")}, nil); err != nil {
		t.Fatal(err)
	}
	check("first", "aaaa", "5", 3, "alice")
	check("first", "bbbb", "1", 2, "bob")

	if err := b.store(ctx, []memberState{st("aaaa", 4, 9, "eve"), st("bbbb", 2, 7, "bob")}, nil); err != nil {
		t.Fatal(err)
	}
	check("older first", "aaaa", "5", 3, "alice")
	check("older first", "bbbb", "2", 7, "bob")
	if got := b.rdb.HGet(ctx, b.keys.usernames(), "eve").Val(); got != "" {
		t.Errorf("an older state's username was indexed: eve → %q", got)
	}
}

// TestIndexWritesEveryMemberOfALongStore stores more members at once than one index call
// takes (a sweep stores thousands): every one of them must be indexed.
func TestIndexWritesEveryMemberOfALongStore(t *testing.T) {
	b := stateBridge(t, nil)
	ctx := context.Background()
	n := 2*indexChunk + 3
	var states []memberState
	for i := range n {
		states = append(states, memberState{Token: fmt.Sprintf("m%04d", i), Applied: 1, Ver: 1, Cur: 100, Msgs: i + 1, People: 1})
	}
	if err := b.store(ctx, states, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.rdb.HLen(ctx, b.keys.version()).Val(); got != int64(n) {
		t.Errorf("%d members indexed, want %d", got, n)
	}
	if got := b.rdb.ZCard(ctx, b.keys.rankMsgs()).Val(); got != int64(n) {
		t.Errorf("%d members ranked, want %d", got, n)
	}
}
