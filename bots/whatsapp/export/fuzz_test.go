package export

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

// seeds are the fixtures' files: each layout, notices, media, errors.
var seeds = []string{
	"06/03/2024 14:05 - Marie Dupont a ajouté Jean Martin et \u202a+33 6 12 34 56 78\u202c\n13/03/2024 09:00 - Jean Martin: Bonjour CANARY\nsuite CANARY\n13/03/2024 09:01 - \u202a+33 6 12 34 56 78\u202c: <Médias omis>\n14/03/2024 10:00 - Jean Martin est parti\n",
	"3/6/24, 2:05\u202fPM - Marie Dupont added Jean Martin, Paul Durand and +33 6 12 34 56 78\n3/6/24, 2:07 PM - Jean Martin: hello @Marie Dupont CANARY\n3/6/24, 2:08 PM - Paul Durand: This message was deleted\n3/6/24, 11:59 PM - Paul Durand left\n",
	"[06/03/2024 14:05:33] Militants Lyon: \u200eLes messages et les appels sont chiffrés de bout en bout.\n\u200e[06/03/2024 14:06:00] Marie Dupont: \u200eimage absente\n[06/03/2024 14:07:00] Militants Lyon: \u200eMarie Dupont a ajouté Jean Martin\n",
	"[3/6/24, 2:05:33 PM] Marie Dupont: text CANARY\n\u200e[3/6/24, 2:06:10 PM] Marie Dupont: \u200e<attached: 00000012-PHOTO.jpg>\n[3/6/24, 2:08:00 PM] Jean Martin: \u200eimage omitted\n",
	"\ufeff14.03.24, 10:00 - Marie Dupont: texte CANARY <Ce message a été modifié>\r\n2024-03-06 14:05 - A: b\n",
	"03/06/2024 10:00 - Marie Dupont: un CANARY\n06/25/2024 10:00 - Marie Dupont: deux CANARY\n25/06/2024 10:00 - X: y\n",
	"14/03/2024 10:00 - Marie Dupont: un CANARY\n14/03/2024 10:01 - Jean Martin: deux CANARY \xc3",
	"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
	"Dear CANARY,\nthis is a letter.\n",
}

func FuzzRead(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := baseOptions()
		opt.MaxBytes = 1 << 20
		opt.Resolve = func(name string) (events.Member, bool) {
			// A resolver that returns anything at all must not break an event.
			return events.Member{ID: name, Name: name}, len(name)%2 == 0
		}
		seen := map[string]bool{}
		sum, err := Read(context.Background(), bytes.NewReader(data), opt, func(ev events.Event) error {
			if _, err := events.Encode(ev); err != nil {
				t.Fatalf("event does not encode: %v", err)
			}
			if !strings.HasPrefix(ev.ID, "whatsapp:120363000000000001:export:") || seen[ev.ID] {
				t.Fatalf("bad or duplicate id %q", ev.ID)
			}
			seen[ev.ID] = true
			if ev.Chars < 0 || ev.At.After(opt.Now.Add(futureSlack)) {
				t.Fatalf("bad event %+v", ev)
			}
			return nil
		})
		if err == nil && sum.Messages+sum.Joins+sum.Leaves != len(seen) {
			t.Fatalf("summary %+v, %d events", sum, len(seen))
		}
	})
}

// export writes a generated export of lines lines: 200 members, multi-line messages, media,
// mentions and notices, day-first dates that settle the order on the first day past the 12th.
func export(lines int) []byte {
	var b bytes.Buffer
	at := time.Date(2020, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < lines; {
		at = at.Add(time.Duration(i%7+1) * time.Minute)
		stamp := at.Format("02/01/2006 15:04")
		who := fmt.Sprintf("Militant %d", i%200)
		switch i % 20 {
		case 0:
			fmt.Fprintf(&b, "%s - Militant %d a ajouté %s\n", stamp, (i+1)%200, who)
		case 1:
			fmt.Fprintf(&b, "%s - %s: <Médias omis>\n", stamp, who)
		case 2:
			fmt.Fprintf(&b, "%s - %s: @Militant %d tu viens samedi ? On tracte au marché à 10 h.\n", stamp, who, (i+7)%200)
		case 3:
			fmt.Fprintf(&b, "%s - +33 6 12 34 %02d %02d: Réunion jeudi, salle des fêtes.\nOrdre du jour en pièce jointe.\n", stamp, i%100, i%89)
			i++
		default:
			fmt.Fprintf(&b, "%s - %s: Merci à tous pour samedi, belle mobilisation !\n", stamp, who)
		}
		i++
	}
	return b.Bytes()
}

// BenchmarkRead reads a generated 100,000-line export.
//
//	go test -run '^$' -bench BenchmarkRead -benchmem ./bots/whatsapp/export/
func BenchmarkRead(b *testing.B) {
	const lines = 100_000
	data := export(lines)
	opt := baseOptions()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		sum, err := Read(context.Background(), bytes.NewReader(data), opt, func(events.Event) error { return nil })
		if err != nil || sum.Lines != lines {
			b.Fatalf("sum %+v, err %v", sum, err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
