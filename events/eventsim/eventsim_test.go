package eventsim

import (
	"testing"
)

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	c := DefaultConfig(5000)
	a, b := Generate(c), Generate(c)
	if len(a.Events) != 5000 || len(a.Leaders) != c.Leaders {
		t.Fatalf("got %d events, %d leaders", len(a.Events), len(a.Leaders))
	}
	ids := map[string]bool{}
	for i, e := range a.Events {
		if err := e.Validate(); err != nil {
			t.Fatalf("event %d invalid: %v", i, err)
		}
		if ids[e.ID] {
			t.Fatalf("duplicate id %s", e.ID)
		}
		ids[e.ID] = true
		if b.Events[i].ID != e.ID || b.Events[i].ReplyTo != e.ReplyTo {
			t.Fatal("same config, different workload")
		}
	}
}

// The planted truth holds: only planted leaders are answered by more than Circle people.
func TestOnlyPlantedLeadersHaveManyRepliers(t *testing.T) {
	c := DefaultConfig(20000)
	w := Generate(c)
	repliers := map[string]map[string]bool{}
	for _, e := range w.Events {
		if e.ReplyTo == "" {
			continue
		}
		if repliers[e.ReplyTo] == nil {
			repliers[e.ReplyTo] = map[string]bool{}
		}
		repliers[e.ReplyTo][e.Sender.ID] = true
	}
	bar := c.Circle + 2
	for m, set := range repliers {
		if !w.Leaders[m] && len(set) > c.Circle {
			t.Fatalf("non-leader %s answered by %d people (circle %d)", m, len(set), c.Circle)
		}
	}
	found := 0
	for m := range w.Leaders {
		if len(repliers[m]) >= bar {
			found++
		}
	}
	if found < len(w.Leaders)*9/10 {
		t.Fatalf("only %d of %d planted leaders reach %d repliers", found, len(w.Leaders), bar)
	}
}
