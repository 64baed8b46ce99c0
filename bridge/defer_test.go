package bridge

import (
	"context"
	"reflect"
	"testing"
)

// A bridge working through a backlog settles each member about once, in their final state,
// and has settled everyone by the time its last batch is acked (no sweep helps here).
func TestBacklogSettlesEachMemberOnce(t *testing.T) {
	shape := streamSize()
	evs, _ := shape.generate(testNow)

	want := newRig(t)
	want.publish(evs)
	want.run(1)
	wantCC, _ := want.contacts()

	r := newRig(t)
	r.noSweep = true
	r.publish(evs) // all of it before the bridge starts: a backlog of 100 batches
	r.run(1)
	got, changes := r.contacts()
	if len(got) == 0 {
		t.Fatal("no contact published")
	}
	if perMember := float64(changes) / float64(len(got)); perMember > 1.5 {
		t.Errorf("%d contact changes for %d members: %.2f per member, want at most 1.5", changes, len(got), perMember)
	}
	if !reflect.DeepEqual(desired(got), desired(wantCC)) {
		t.Errorf("contacts after the backlog differ from the swept run's: %d, want %d", len(got), len(wantCC))
	}
	owed, err := r.rdb.HLen(context.Background(), r.bridge().keys.owed()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if owed != 0 {
		t.Errorf("%d members still owed a contact change", owed)
	}
}
