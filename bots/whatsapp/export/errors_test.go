package export

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

func TestErrors(t *testing.T) {
	valid := "14/03/2024 10:00 - Marie Dupont: un CANARY\n"
	tests := []struct {
		name string
		text string
		opt  func(*Options)
		want error
	}{
		{name: "empty file", text: "", want: ErrNotExport},
		{name: "blank lines only", text: "\n\r\n \n", want: ErrNotExport},
		{name: "prose", text: "Dear CANARY,\nthis is a letter.\n", want: ErrNotExport},
		{name: "json", text: `{"name": "CANARY", "messages": []}`, want: ErrNotExport},
		{name: "binary garbage", text: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", want: ErrBinary},
		{name: "garbage after a valid line", text: valid + "\xff\xfe\xfd CANARY\n", want: ErrBinary},
		{name: "nul byte", text: valid + "CANARY\x00CANARY\n", want: ErrBinary},
		{name: "cut character not on the last line", text: valid + "CANARY \xc3\n" + valid, want: ErrBinary},
		{name: "future date", text: valid, opt: func(o *Options) { o.Now = time.Date(2024, 3, 14, 8, 0, 0, 0, time.UTC) }, want: ErrFuture},
		{name: "over max bytes", text: valid + valid + valid, opt: func(o *Options) { o.MaxBytes = int64(len(valid)) * 2 }, want: ErrTooLarge},
		{name: "line too long", text: valid + strings.Repeat("CANARY", maxLine/6+1) + "\n", want: ErrLineTooLong},
		{name: "no group", text: valid, opt: func(o *Options) { o.Group = events.Group{} }, want: ErrOptions},
		{name: "since after before", text: valid, opt: func(o *Options) {
			o.Since, o.Before = time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)
		}, want: ErrOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := baseOptions()
			if tt.opt != nil {
				tt.opt(&opt)
			}
			_, _, err := read(t, tt.text, opt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// A file of exactly MaxBytes is read whole.
func TestMaxBytesExact(t *testing.T) {
	text := "14/03/2024 10:00 - Marie Dupont: un CANARY\n"
	opt := baseOptions()
	opt.MaxBytes = int64(len(text))
	if _, sum, err := read(t, text, opt); err != nil || sum.Messages != 1 {
		t.Fatalf("sum %+v, err %v", sum, err)
	}
}

// Once dates fell back to an order, a date that contradicts it is an error, not text: the
// lines already emitted were read in the wrong order.
func TestDayOrderContradiction(t *testing.T) {
	var b strings.Builder
	for range maxPending + 1 {
		b.WriteString("03/06/2024 10:00 - Marie Dupont: CANARY\n")
	}
	b.WriteString("06/25/2024 10:00 - Marie Dupont: CANARY\n")
	var emitted int
	_, err := Read(context.Background(), strings.NewReader(b.String()), baseOptions(), func(events.Event) error { emitted++; return nil })
	if !errors.Is(err, ErrDayOrder) {
		t.Fatalf("err = %v, want ErrDayOrder", err)
	}
	if emitted != maxPending+1 {
		t.Errorf("emitted %d before the error", emitted)
	}
}

func TestEmitError(t *testing.T) {
	stop := errors.New("stop")
	_, err := Read(context.Background(), strings.NewReader("14/03/2024 10:00 - Marie Dupont: CANARY\n"), baseOptions(), func(events.Event) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v", err)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Read(ctx, strings.NewReader("14/03/2024 10:00 - Marie Dupont: CANARY\n"), baseOptions(), func(events.Event) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestResolve(t *testing.T) {
	text := "14/03/2024 10:00 - Marie Dupont: un CANARY\n" +
		"14/03/2024 10:01 - Jean Martin: @Marie Dupont @33611111111 CANARY\n" +
		"14/03/2024 10:02 - Marie D.: deux CANARY\n" +
		"14/03/2024 10:03 - ~\u202fLucie: trois CANARY\n"
	calls := map[string]int{}
	opt := baseOptions()
	opt.Resolve = func(name string) (events.Member, bool) {
		calls[name]++
		switch name {
		case "Marie Dupont", "Marie D.":
			return events.Member{ID: "111@lid", Name: "Marie", Phone: "+33611111111"}, true
		case "Jean Martin":
			return events.Member{ID: "~pseudonym"}, true // unusable: not taken
		}
		return events.Member{}, false
	}
	evs, sum, err := read(t, text, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[0].Sender.ID != "111@lid" || evs[2].Sender.ID != "111@lid" {
		t.Fatalf("events %+v", evs)
	}
	if got := evs[1].Mentions; len(got) != 1 || got[0] != "111@lid" {
		t.Errorf("mentions %v", got)
	}
	jean := evs[1].Sender
	if !strings.HasPrefix(jean.ID, PseudoPrefix) || strings.ContainsAny(jean.ID, "@~") || jean.Name != "Jean Martin" || len(jean.ID) != len(PseudoPrefix)+32 {
		t.Errorf("jean %+v", jean)
	}
	if evs[3].Sender.Name != "Lucie" {
		t.Errorf("lucie %+v", evs[3].Sender)
	}
	if sum.Members != 3 {
		t.Errorf("members %d, want 3 (two names, one member)", sum.Members)
	}
	for name, c := range calls {
		if c != 1 {
			t.Errorf("resolve(%q) called %d times", name, c)
		}
	}
	// The pseudo id depends on the group: a contact name is no person across groups.
	opt.Group.ID = "120363000000000002@g.us"
	var other events.Event
	Read(context.Background(), strings.NewReader(text), opt, func(ev events.Event) error {
		if ev.Sender.Name == "Jean Martin" {
			other = ev
		}
		return nil
	})
	if other.Sender.ID == jean.ID || other.ID == evs[1].ID {
		t.Errorf("same ids across groups: %s", other.Sender.ID)
	}
}

func TestIDsIgnoreOptions(t *testing.T) {
	text := "14/03/2024 10:00 - Marie Dupont: un CANARY\n15/03/2024 10:00 - Marie Dupont: deux CANARY\n"
	evs, _, err := read(t, text, baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	opt := baseOptions()
	opt.Since = time.Date(2024, 3, 15, 0, 0, 0, 0, paris)
	opt.Location = time.UTC
	cut, _, err := read(t, text, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(cut) != 1 || cut[0].ID != evs[1].ID {
		t.Fatalf("ids differ with since/location: %v vs %v", cut, evs)
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadZip(t *testing.T) {
	chat := "[14/03/2024 10:00:00] Marie Dupont: un CANARY\n"
	photo := "\xff\xd8\xff\xe0 not text"
	tests := []struct {
		name  string
		files map[string]string
		want  error
	}{
		{name: "ios", files: map[string]string{"_chat.txt": chat, "00000012-PHOTO-2024-03-14-10-00-00.jpg": photo}},
		{name: "android english", files: map[string]string{"WhatsApp Chat with Militants Lyon.txt": chat, "IMG-20240314-WA0001.jpg": photo}},
		{name: "android french", files: map[string]string{"Discussion WhatsApp avec Militants Lyon.txt": chat, "notes.txt": "CANARY"}},
		{name: "only txt, other name", files: map[string]string{"chat.txt": chat}},
		{name: "no txt", files: map[string]string{"IMG-20240314-WA0001.jpg": photo}, want: ErrNoChat},
		{name: "two unnamed txt", files: map[string]string{"a.txt": chat, "b.txt": chat}, want: ErrNoChat},
		{name: "empty archive", files: map[string]string{}, want: ErrNoChat},
		{name: "txt is not an export", files: map[string]string{"_chat.txt": "CANARY\n"}, want: ErrNotExport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := zipOf(t, tt.files)
			var got []events.Event
			sum, err := ReadZip(context.Background(), bytes.NewReader(z), int64(len(z)), baseOptions(), func(ev events.Event) error {
				got = append(got, ev)
				return nil
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), canary) {
				t.Fatalf("text in error: %v", err)
			}
			if tt.want == nil && (len(got) != 1 || sum.Layout != "ios" || got[0].Chars != n("un CANARY")) {
				t.Fatalf("events %+v, summary %+v", got, sum)
			}
		})
	}
	t.Run("not a zip", func(t *testing.T) {
		b := []byte(chat)
		if _, err := ReadZip(context.Background(), bytes.NewReader(b), int64(len(b)), baseOptions(), func(events.Event) error { return nil }); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("declared size over the limit", func(t *testing.T) {
		z := zipOf(t, map[string]string{"_chat.txt": chat + chat})
		opt := baseOptions()
		opt.MaxBytes = int64(len(chat))
		if _, err := ReadZip(context.Background(), bytes.NewReader(z), int64(len(z)), opt, func(events.Event) error { return nil }); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
}

// Mentions are resolved in time linear in the file: the first version scanned every known
// name at every "@" and took 16 s on this input (now about 50 ms); the bound is loose for
// loaded CI machines.
func TestMentionsStayLinear(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "14/03/2024 10:00 - Marie Dupont %d: CANARY\n", i)
	}
	b.WriteString("14/03/2024 10:01 - Jean Martin: " + strings.Repeat("@Marie Dupont 99", 60000) + "\n")
	b.WriteString("14/03/2024 10:02 - Jean Martin: " + strings.Repeat("@", 900000) + "\n")
	start := time.Now()
	evs, _, err := read(t, b.String(), baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if m := evs[1000].Mentions; len(m) != 1 || m[0] != evs[99].Sender.ID {
		t.Errorf("mentions %v", m)
	}
}
