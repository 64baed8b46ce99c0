package journal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/events/eventstest"
	"github.com/relais-bot/relais/journal"
)

func openJournal(t *testing.T, env *eventstest.Env) *journal.Journal {
	t.Helper()
	j, err := journal.Open(t.Context(), env.JS, env.Names, journal.Config{Days: 365})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.JS.DeleteStream(ctx, env.Names.JournalStream())
	})
	return j
}

func appendN(t *testing.T, j *journal.Journal, n int) {
	t.Helper()
	for i := range n {
		e := journal.Entry{ID: fmt.Sprintf("telegram:709:%d", i), Who: "orgtoken", Role: journal.RoleOrganiser,
			What: "fiche", Members: []string{fmt.Sprintf("member%d", i)}}
		if err := j.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, j *journal.Journal) (journal.Log, []journal.Problem) {
	t.Helper()
	log, problems, err := j.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return log, problems
}

func TestJournalChainsEntries(t *testing.T) {
	env := eventstest.New(t)
	j := openJournal(t, env)
	appendN(t, j, 5)
	// A retried command is one entry.
	if err := j.Append(t.Context(), journal.Entry{ID: "telegram:709:4", Who: "orgtoken", Role: journal.RoleOrganiser, What: "fiche"}); err != nil {
		t.Fatal(err)
	}
	log, problems := verify(t, j)
	if len(problems) > 0 {
		t.Fatalf("a journal nobody touched: %v", problems)
	}
	if len(log.Entries) != 5 {
		t.Fatalf("%d entries, want 5", len(log.Entries))
	}
	for i, st := range log.Entries {
		e := st.Entry
		if e.Seq != uint64(i+1) || e.Hash != e.Sum() {
			t.Fatalf("entry %d: seq %d, hash ok %v", i, e.Seq, e.Hash == e.Sum())
		}
		if i > 0 && (e.Prev != log.Entries[i-1].Entry.Hash || !e.PrevAt.Equal(log.Entries[i-1].Entry.At)) {
			t.Fatalf("entry %d does not chain to the one before", i)
		}
		if strings.Contains(e.ID, "709") {
			t.Fatalf("entry %d keeps the request id as is: %q", i, e.ID)
		}
	}
}

// TestVerifyFindsRemovedEntry: a DPO's --verify must fail once an entry was deleted from
// the stream, in the middle or at the end.
func TestVerifyFindsRemovedEntry(t *testing.T) {
	for _, seq := range []uint64{1, 3, 5} {
		t.Run(fmt.Sprint(seq), func(t *testing.T) {
			env := eventstest.New(t)
			j := openJournal(t, env)
			appendN(t, j, 5)
			s, err := env.JS.Stream(t.Context(), env.Names.JournalStream())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteMsg(t.Context(), seq); err != nil {
				t.Fatal(err)
			}
			_, problems := verify(t, j)
			if len(problems) == 0 {
				t.Fatalf("entry %d removed, the chain verifies", seq)
			}
			t.Logf("found: %v", problems)
		})
	}
}

// TestVerifyFindsEditedEntry: JetStream cannot edit a message in place; whoever wants to
// alter an entry deletes it and writes it again. Both an edit that keeps the old hash and
// one that recomputes it are found.
func TestVerifyFindsEditedEntry(t *testing.T) {
	for _, rehash := range []bool{false, true} {
		t.Run(fmt.Sprintf("rehash=%v", rehash), func(t *testing.T) {
			env := eventstest.New(t)
			j := openJournal(t, env)
			appendN(t, j, 4)
			s, err := env.JS.Stream(t.Context(), env.Names.JournalStream())
			if err != nil {
				t.Fatal(err)
			}
			msg, err := s.GetMsg(t.Context(), 2)
			if err != nil {
				t.Fatal(err)
			}
			var e journal.Entry
			if err := json.Unmarshal(msg.Data, &e); err != nil {
				t.Fatal(err)
			}
			e.Members = nil // hide whom the organiser read
			if rehash {
				e.Hash = e.Sum()
			}
			data, _ := json.Marshal(e)
			if err := s.DeleteMsg(t.Context(), 2); err != nil {
				t.Fatal(err)
			}
			if _, err := env.JS.Publish(t.Context(), env.Names.JournalSubject(), data); err != nil {
				t.Fatal(err)
			}
			_, problems := verify(t, j)
			if len(problems) == 0 {
				t.Fatal("entry 2 edited, the chain verifies")
			}
			t.Logf("found: %v", problems)
		})
	}
}

// TestVerifyAcceptsExpiredStart: the chain's start moves as entries expire; only a
// predecessor too young to have expired is reported missing.
func TestVerifyAcceptsExpiredStart(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	keep := 30 * 24 * time.Hour
	mk := func(prevAt time.Time) journal.Log {
		e := journal.Entry{Seq: 40, At: now.Add(-time.Hour), Who: "o", Role: journal.RoleAdmin, What: "journal", Prev: "abc", PrevAt: prevAt}
		e.Hash = e.Sum()
		return journal.Log{Entries: []journal.Stored{{StreamSeq: 40, Entry: e}}, LastSeq: 40}
	}
	if p := journal.Verify(mk(now.Add(-keep-time.Minute)), keep, now); len(p) != 0 {
		t.Fatalf("predecessor expired, yet: %v", p)
	}
	if p := journal.Verify(mk(now.Add(-keep+time.Hour)), keep, now); len(p) != 1 {
		t.Fatalf("predecessor removed before its time, found: %v", p)
	}
}

// TestJournalReplicasMakeOneChain: two writers at once still make one verifiable chain.
func TestJournalReplicasMakeOneChain(t *testing.T) {
	env := eventstest.New(t)
	a, b := openJournal(t, env), openJournal(t, env)
	var wg sync.WaitGroup
	for w, j := range []*journal.Journal{a, b} {
		wg.Go(func() {
			for i := range 15 {
				if err := j.Append(t.Context(), journal.Entry{ID: fmt.Sprintf("%d-%d", w, i), Role: journal.RoleAdmin, What: "stats"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	log, problems := verify(t, a)
	if len(problems) > 0 || len(log.Entries) != 30 {
		t.Fatalf("%d entries, problems %v", len(log.Entries), problems)
	}
}
