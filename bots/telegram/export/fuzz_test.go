package export

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

// FuzzRead feeds arbitrary bytes to Read: it must not panic, every event it emits must encode,
// and neither events nor errors may carry the canary of the seeds' texts.
func FuzzRead(f *testing.F) {
	for _, s := range []string{accountExport, singleChat, group(okMessage), `{}`, `[]`, `{"chats": {"list": []}}`} {
		f.Add(fixture(f, s))
	}
	var gen bytes.Buffer
	if _, err := io.Copy(&gen, generated(f, 20)); err != nil {
		f.Fatal(err)
	}
	f.Add(gen.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		opt := accountOptions()
		opt.MaxBytes = 1 << 20
		opt.MaxAuthors = 8 // the ring's eviction is exercised too
		_, err := Read(context.Background(), bytes.NewReader(b), opt, func(e events.Event) error {
			enc, err := events.Encode(e)
			if err != nil {
				t.Fatalf("%s does not encode: %v", e.ID, err)
			}
			if bytes.Contains(enc, []byte(canary)) {
				t.Fatalf("event carries the canary: %s", enc)
			}
			return nil
		})
		if err != nil && strings.Contains(err.Error(), canary) {
			t.Fatalf("error quotes the input: %v", err)
		}
	})
}

// BenchmarkRead reads a generated export of one supergroup with 100k messages (a tenth of
// them replies with a mention and a reaction).
func BenchmarkRead(b *testing.B) {
	var export bytes.Buffer
	if _, err := io.Copy(&export, generated(b, 100_000)); err != nil {
		b.Fatal(err)
	}
	opt := Options{Now: time.Unix(t0, 0).Add(365 * 24 * time.Hour)}
	b.SetBytes(int64(export.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		_, err := Read(context.Background(), bytes.NewReader(export.Bytes()), opt, func(events.Event) error {
			n++
			return nil
		})
		if err != nil || n != 110_000 {
			b.Fatalf("%d events, %v", n, err)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
