package export

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/relais-bot/relais/bots/telegram"
	"github.com/relais-bot/relais/events"
)

// The chats of accountExport as the Bot API shows them live.
var (
	liveNord  = map[string]any{"id": -1001234567890, "type": "supergroup", "title": "Entraide Nord"}
	liveVieux = map[string]any{"id": -555, "type": "group", "title": "Vieux groupe"}
)

func liveUser(id int64, name string) map[string]any {
	return map[string]any{"id": id, "is_bot": false, "first_name": name}
}

// live maps one update with the live adapter's mapping and returns its only event, without
// what the export cannot know (a first name apart from the last, a username).
func live(t *testing.T, update map[string]any) events.Event {
	t.Helper()
	update["update_id"] = 1
	raw, err := json.Marshal(update)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := telegram.MapUpdate(raw, "relais_bot", 99)
	if err != nil || len(evs) != 1 {
		t.Fatalf("live mapping: %d events, %v", len(evs), err)
	}
	e := evs[0]
	e.Sender.FirstName, e.Sender.LastName, e.Sender.Username = "", "", ""
	return e
}

// utf16Len is a length in Telegram's entity offsets.
func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// TestSameAsLive maps messages of accountExport as live updates and checks the imported event
// of each is the live one, field by field: same id (so JetStream keeps one of the two), same
// date, group, sender, reply, mentions and length.
func TestSameAsLive(t *testing.T) {
	evs, _, err := read(t, fixture(t, accountExport), accountOptions())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	imported := map[string]events.Event{}
	for _, e := range evs {
		imported[e.ID] = e
	}
	c := canary
	text12 := "Cleo " + c + " @Dan_X salut " + c + " 😀Bob " + c
	ann, bob, cleo := liveUser(1001, "Ann"), liveUser(1002, "Bob"), liveUser(1003, "Cleo")
	msg := func(id, at int, from map[string]any, chat map[string]any, extra map[string]any) map[string]any {
		m := map[string]any{"message_id": id, "date": t0 + at, "chat": chat, "from": from}
		for k, v := range extra {
			m[k] = v
		}
		return map[string]any{"message": m}
	}
	for _, tc := range []struct {
		name   string
		update map[string]any
		// differ says how the imported event may differ from the live one, and is checked.
		differ func(t *testing.T, live, imported *events.Event)
	}{
		{"reply with mentions", msg(12, 120, bob, liveNord, map[string]any{
			"text": text12,
			"entities": []map[string]any{
				{"type": "text_mention", "offset": 0, "length": utf16Len("Cleo " + c), "user": liveUser(1003, "Cleo")},
				{"type": "mention", "offset": utf16Len("Cleo " + c + " "), "length": 6},
				{"type": "text_mention", "offset": utf16Len(strings.TrimSuffix(text12, "Bob "+c)), "length": utf16Len("Bob " + c), "user": liveUser(1002, "Bob")},
			},
			"reply_to_message": map[string]any{"message_id": 11, "date": t0 + 60, "chat": liveNord, "from": ann, "text": "x"},
		}), nil},
		{"caption is not a command", msg(14, 240, cleo, liveNord, map[string]any{
			"photo":   []map[string]any{{"file_id": "f", "file_unique_id": "u", "width": 10, "height": 10}},
			"caption": "/stats " + c,
		}), nil},
		{"message in a forum topic", map[string]any{"message": map[string]any{
			"message_id": 27, "date": t0 + 1020, "chat": liveNord, "from": cleo,
			"message_thread_id": 26, "is_topic_message": true,
			"text":     c + " @relais_bot",
			"entities": []map[string]any{{"type": "mention", "offset": utf16Len(c + " "), "length": 11}},
			"reply_to_message": map[string]any{"message_id": 26, "date": t0 + 960, "chat": liveNord, "from": ann,
				"forum_topic_created": map[string]any{"name": "T", "icon_color": 1}},
		}}, nil},
		{"basic group", msg(4, 30, ann, liveVieux, map[string]any{"text": c}), nil},
		{"join as a member update", map[string]any{"chat_member": map[string]any{
			"chat": liveNord, "from": ann, "date": t0,
			"old_chat_member": map[string]any{"user": ann, "status": "left"},
			"new_chat_member": map[string]any{"user": ann, "status": "member"},
		}}, nil},
		{"leave as a service message", msg(21, 660, bob, liveNord, map[string]any{"left_chat_member": bob}), nil},
		{"reaction", map[string]any{"message_reaction": map[string]any{
			"chat": liveNord, "message_id": 12, "user": ann, "date": t0 + 300,
			"old_reaction": []any{}, "new_reaction": []map[string]any{{"type": "emoji", "emoji": "👍"}},
		}}, func(t *testing.T, live, imported *events.Event) {
			// Live leaves the author to the bridge's map of recent messages; the export names
			// them.
			if live.ReplyTo != "" || imported.ReplyTo != "1002" {
				t.Errorf("reply_to: live %q, imported %q", live.ReplyTo, imported.ReplyTo)
			}
			imported.ReplyTo = ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := live(t, tc.update)
			i, ok := imported[l.ID]
			if !ok {
				t.Fatalf("no imported event has the live id %s", l.ID)
			}
			if tc.differ != nil {
				tc.differ(t, &l, &i)
			}
			if !reflect.DeepEqual(l, i) {
				t.Errorf("live and imported differ:\nlive     %s\nimported %s", line(l), line(i))
			}
		})
	}
}
