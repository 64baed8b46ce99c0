package history_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// TestEndMarkerNamesGroupsAndDays: an import's end marker names the groups it brought events
// into, with the days counted; Records marks it applied there and keeps the notice flag,
// written once whatever the writers racing for it.
func TestEndMarkerNamesGroupsAndDays(t *testing.T) {
	c := makeConversation(20)
	_, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()[:1]...)
	raw := c.export()
	rep, err := s.importFiles(history.Options{}, history.File{Name: "result.json", Data: bytes.NewReader(raw), Size: int64(len(raw))})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Groups) != 1 || rep.EndSeq == 0 {
		t.Fatalf("report %+v", rep)
	}
	g := rep.Groups[0]
	if want := int(g.Last.Truncate(24*3600e9).Sub(g.First.Truncate(24*3600e9)).Hours()/24) + 1; g.Days != want || g.Days < 2 {
		t.Fatalf("days %d, want %d (from %s to %s)", g.Days, want, g.First, g.Last)
	}
	ctx := context.Background()
	stream, err := s.env.JS.Stream(ctx, s.env.Names.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetMsg(ctx, rep.EndSeq)
	if err != nil {
		t.Fatal(err)
	}
	ended, err := history.DecodeEnded(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := history.EndedGroup{Platform: events.Telegram, ID: g.ID, Token: g.Token, Days: g.Days}
	if len(ended) != 1 || ended[0] != want {
		t.Fatalf("end marker names %+v, want %+v", ended, want)
	}

	// The bridge of this stack has no HistoryEnded: the records are fresh.
	rec := history.Records{JS: s.env.JS, Names: s.env.Names}
	due, err := rec.Ended(ctx, rep.ID, ended)
	if err != nil || len(due) != 1 {
		t.Fatalf("first end: %v, due %+v", err, due)
	}
	if err := s.importer().WaitApplied(ctx, rep); err != nil {
		t.Fatalf("applied: %v", err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := rec.NoticePosted(ctx, ended[0]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if due, err := rec.Ended(ctx, "another-import", ended); err != nil || len(due) != 0 {
		t.Fatalf("after the notice: %v, due %+v", err, due)
	}
	// The history bound the import recorded survived the flag's writes: the same file
	// again adds nothing.
	again, err := s.importFiles(history.Options{}, history.File{Name: "result.json", Data: bytes.NewReader(raw), Size: int64(len(raw))})
	if err != nil || again.EndSeq != 0 {
		t.Fatalf("the same file again: %v, %+v", err, again)
	}
}
