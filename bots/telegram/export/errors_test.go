package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

// group wraps messages in a one-chat export.
func group(messages ...string) string {
	return `{"name": "G", "type": "private_supergroup", "id": 42, "messages": [` + strings.Join(messages, ",") + `]}`
}

const okMessage = `{"id": 1, "type": "message", {D:0}, "from": "Ann", "from_id": "user1001", "text": "{C}"}`

func TestReadErrors(t *testing.T) {
	account := string(fixture(t, accountExport))
	for _, tc := range []struct {
		name  string
		input string
		opt   Options
		want  error
		// emitted is how many events came before the error was found.
		emitted int
		// overBy, if set, makes Options.MaxBytes that many bytes short of the input.
		overBy int
	}{
		{"empty", ``, Options{}, ErrNotExport, 0, 0},
		{"a list", `[{"id": 1}]`, Options{}, ErrNotExport, 0, 0},
		{"a string", `"{C}"`, Options{}, ErrNotExport, 0, 0},
		{"an object of something else", `{"about": "{C}", "contacts": {"list": []}}`, Options{}, ErrNotExport, 0, 0},
		{"truncated in a message", account[:len(account)/2], Options{}, ErrTruncated, 8, 0},
		{"truncated in the canary", account[:strings.Index(account, canary)+3], Options{}, ErrTruncated, 0, 0},
		{"truncated before the last brace", strings.TrimSpace(account)[:len(strings.TrimSpace(account))-1], Options{}, ErrTruncated, 20, 0},
		{"syntax error", `{"name": "{C}" "type": 1}`, Options{}, ErrMalformed, 0, 0},
		{"syntax error in a message", group(okMessage, `{"id": 2, "text": "{C}" x}`), Options{}, ErrMalformed, 1, 0},
		{"data after the export", group(okMessage) + ` {"x": "{C}"}`, Options{}, ErrMalformed, 1, 0},
		{"id is text", group(`{"id": "{C}", "type": "message"}`), Options{}, ErrMalformed, 0, 0},
		{"reply is text", group(`{"id": 1, "type": "message", "reply_to_message_id": "{C}"}`), Options{}, ErrMalformed, 0, 0},
		{"text is a number", group(`{"id": 1, "type": "message", "text": 123456789}`), Options{}, ErrMalformed, 0, 0},
		{"text part is a number", group(`{"id": 1, "type": "message", "text": ["{C}", 33612345678]}`), Options{}, ErrMalformed, 0, 0},
		{"message without id", group(`{"type": "message", {D:0}, "text": "{C}"}`), Options{}, ErrMalformed, 0, 0},
		{"message without unix date", group(`{"id": 1, "type": "message", "date": "2026-09-21T16:13:20", "from_id": "user1", "text": "{C}"}`), Options{}, ErrMalformed, 0, 0},
		{"unix date not a number", group(`{"id": 1, "type": "message", "date_unixtime": "{C}", "text": "{C}"}`), Options{}, ErrMalformed, 0, 0},
		{"messages before the type", `{"id": 42, "messages": [], "type": "private_group"}`, Options{}, ErrMalformed, 0, 0},
		{"unix date as a number", group(`{"id": 1, "type": "message", "date_unixtime": 1790000000, "from_id": "user1", "text": "{C}"}`, `{"id": 1}`), Options{}, ErrDuplicateID, 1, 0},
		{"mention's user id is text", group(`{"id": 1, "type": "message", {D:0}, "from_id": "user1", "text": [{"type": "mention_name", "text": "{C}", "user_id": "{C}"}]}`), Options{}, ErrMalformed, 0, 0},
		{"messages before the id", `{"type": "private_supergroup", "messages": [], "id": 42}`, Options{}, ErrMalformed, 0, 0},
		{"group id too large", `{"type": "private_supergroup", "id": 9223372036854775807, "messages": []}`, Options{}, ErrMalformed, 0, 0},
		{"group id not an integer", `{"type": "private_supergroup", "id": 4.2, "messages": []}`, Options{}, ErrMalformed, 0, 0},
		{"chats is not an object", `{"chats": [1]}`, Options{}, ErrMalformed, 0, 0},
		{"messages is not a list", `{"type": "private_group", "id": 1, "messages": {"a": "{C}"}}`, Options{}, ErrMalformed, 0, 0},
		{"date in the future", group(okMessage, `{"id": 2, "type": "message", {D:3000000}, "from_id": "user1", "text": "{C}"}`), Options{}, ErrFutureDate, 1, 0},
		{"duplicated message id", group(okMessage, okMessage), Options{}, ErrDuplicateID, 1, 0},
		{"duplicated service id", group(okMessage, `{"id": 1, "type": "service", {D:1}, "action": "pin_message"}`), Options{}, ErrDuplicateID, 1, 0},
		{"group listed twice", `{"chats": {"list": [` + group(okMessage) + `]}, "left_chats": {"list": [` + group() + `]}}`, Options{}, ErrDuplicateID, 1, 0},
		{"over MaxBytes", account, Options{}, ErrTooLarge, 8, len(account) / 2},
		{"over MaxBytes by a trailing space", group(okMessage) + "  ", Options{}, ErrTooLarge, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opt.Now.IsZero() {
				tc.opt.Now = testNow
			}
			input := fixture(t, tc.input)
			if tc.overBy > 0 {
				tc.opt.MaxBytes = int64(len(input) - tc.overBy)
			}
			evs, _, err := read(t, input, tc.opt)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "3361") {
				t.Errorf("the error quotes the input: %v", err)
			}
			t.Log(err)
			if len(evs) != tc.emitted {
				t.Errorf("%d events before the error, want %d", len(evs), tc.emitted)
			}
			assertEncodes(t, evs)
		})
	}
}

func TestReadExactlyMaxBytes(t *testing.T) {
	b := fixture(t, group(okMessage))
	evs, _, err := read(t, b, Options{Now: testNow, MaxBytes: int64(len(b))})
	if err != nil || len(evs) != 1 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
}

// TestReadEmitError checks Read stops at the caller's first error and returns it.
func TestReadEmitError(t *testing.T) {
	stop := errors.New("stream full")
	n := 0
	_, err := Read(context.Background(), bytes.NewReader(fixture(t, accountExport)), accountOptions(), func(events.Event) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("error %v after %d events, want %v after 3", err, n, stop)
	}
}

// TestReadCancel checks a cancelled context stops a long read.
func TestReadCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := Read(ctx, generated(t, 2000), Options{Now: testNow}, func(events.Event) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 2000 {
		t.Fatalf("error %v after %d events", err, n)
	}
}

var errReset = errors.New("connection reset")

// failingReader fails after its data, as a network download may.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errReset
	}
	return n, err
}

func TestReadReaderError(t *testing.T) {
	b := fixture(t, group(okMessage))
	_, err := Read(context.Background(), failingReader{bytes.NewReader(b[:len(b)-3])}, Options{Now: testNow}, func(events.Event) error { return nil })
	if !errors.Is(err, errReset) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v, want the reader's", err)
	}
}

// generated is an export of one supergroup with n messages from 50 members, a tenth of them
// replies, with text entities and reactions: the shape of a busy group's history.
func generated(t testing.TB, n int) io.Reader {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`{"about": "x", "chats": {"about": "x", "list": [{"name": "Entraide", "type": "private_supergroup", "id": 1234567890, "messages": [`)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(",\n")
		}
		at := time.Unix(int64(t0+i*60), 0).UTC()
		from := 1000 + i%50
		fmt.Fprintf(&b, `{"id": %d, "type": "message", "date": "%s", "date_unixtime": "%d", "from": "Member %d", "from_id": "user%d", `,
			i, at.Add(parisOffset).Format(localLayout), at.Unix(), from, from)
		switch {
		case i%10 == 0:
			fmt.Fprintf(&b, `"reply_to_message_id": %d, "text": [{"type": "mention_name", "text": "Someone", "user_id": %d}, " d'accord pour samedi, je prends les tracts"], `+
				`"text_entities": [{"type": "mention_name", "text": "Someone", "user_id": %d}, {"type": "plain", "text": " d'accord pour samedi, je prends les tracts"}], `+
				`"reactions": [{"type": "emoji", "count": 1, "emoji": "👍", "recent": [{"from": "Member", "from_id": "user%d", "date": "%s"}]}]}`,
				i-3, 1000+(i+7)%50, 1000+(i+7)%50, 1000+(i+3)%50, at.Add(parisOffset+time.Minute).Format(localLayout))
		default:
			b.WriteString(`"text": "Bonjour à toutes et à tous, rendez-vous samedi à 10 h devant la mairie pour le tractage.", ` +
				`"text_entities": [{"type": "plain", "text": "Bonjour à toutes et à tous, rendez-vous samedi à 10 h devant la mairie pour le tractage."}]}`)
		}
	}
	b.WriteString("]}]}}\n")
	return &b
}
