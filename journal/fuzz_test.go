package journal_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/relais-bot/relais/journal"
)

// FuzzVerify: whatever bytes someone with write access to the stream puts in it, verifying
// never panics, and an entry that is not the intact one found at its place is reported.
func FuzzVerify(f *testing.F) {
	good := journal.Entry{Seq: 1, At: time.Unix(1_800_000_000, 0).UTC(), Role: journal.RoleAdmin, What: "journal"}
	good.Hash = good.Sum()
	b, _ := json.Marshal(good)
	f.Add(b, uint64(1))
	f.Add([]byte(`{"seq":2,"prev":"x","prev_at":"2026-01-01T00:00:00Z","hash":"y"}`), uint64(2))
	f.Add([]byte("not json"), uint64(7))
	f.Fuzz(func(t *testing.T, data []byte, seq uint64) {
		st := journal.Stored{StreamSeq: seq}
		if err := json.Unmarshal(data, &st.Entry); err != nil {
			st.Bad = true
		}
		log := journal.Log{Entries: []journal.Stored{st}, LastSeq: seq}
		problems := journal.Verify(log, 24*time.Hour, time.Unix(1_800_000_100, 0))
		intact := !st.Bad && st.Entry.Hash == st.Entry.Sum() && st.Entry.Seq == seq
		if !intact && len(problems) == 0 {
			t.Fatalf("entry %q at %d verified", data, seq)
		}
	})
}
