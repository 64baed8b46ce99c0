package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

// canary stands for words people typed or files they sent. It must reach no event and no
// error, whatever field of the export carries it.
const canary = "CANARY-5e1d"

// t0 is the date of the fixtures' first message (2026-09-21T14:13:20Z). The exporting
// computer was in Paris, two hours ahead of UTC then.
const t0 = 1790000000

var (
	parisOffset = 2 * time.Hour
	testNow     = time.Unix(t0, 0).UTC().Add(30 * 24 * time.Hour)
)

// fixtureRefs are the fixtures' placeholders: {C} the canary, {D:n} a message's date n
// seconds after t0 (local and unix), {L:n} a reaction's local date.
var fixtureRefs = regexp.MustCompile(`\{([CDL])(?::(-?\d+))?\}`)

func fixture(t testing.TB, s string) []byte {
	t.Helper()
	return []byte(fixtureRefs.ReplaceAllStringFunc(s, func(ref string) string {
		m := fixtureRefs.FindStringSubmatch(ref)
		if m[1] == "C" {
			return canary
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			t.Fatalf("fixture ref %s: %v", ref, err)
		}
		at := time.Unix(int64(t0+n), 0).UTC()
		local := `"` + at.Add(parisOffset).Format(localLayout) + `"`
		if m[1] == "L" {
			return local
		}
		return fmt.Sprintf(`"date": %s, "date_unixtime": "%d"`, local, at.Unix())
	}))
}

// accountExport is a whole-account export: the exporter's own data, a personal chat, a
// supergroup with most of what a group's history holds, a basic group, a channel and saved
// messages. Every text field carries the canary.
const accountExport = `{
 "about": "Here is the data you requested. {C}",
 "personal_information": {"user_id": 1001, "first_name": "{C}", "last_name": "{C}", "phone_number": "+33 6 {C}", "bio": "{C}"},
 "contacts": {"about": "{C}", "list": [{"user_id": 1002, "first_name": "{C}", "last_name": "", "phone_number": "+33 6 12 34 56 78", {D:0}}]},
 "chats": {"about": "{C}", "list": [
  {"name": "{C} personal", "type": "personal_chat", "id": 1002, "messages": [
   {"id": 1, "type": "message", {D:5}, "from": "Bob", "from_id": "user1002", "text": "{C}", "text_entities": [{"type": "plain", "text": "{C}"}]}]},
  {"name": "Entraide Nord", "type": "private_supergroup", "id": 1234567890, "messages": [
   {"id": 10, "type": "service", {D:0}, "actor": "Ann", "actor_id": "user1001", "action": "join_group_by_link", "inviter": "{C}", "text": "", "text_entities": []},
   {"id": 11, "type": "message", {D:60}, "from": "Ann", "from_id": "user1001", "text": "Bonjour {C}", "text_entities": [{"type": "plain", "text": "Bonjour {C}"}]},
   {"id": 12, "type": "message", {D:120}, "edited": "2026-09-21T16:20:00", "edited_unixtime": "1790000400", "from": "Bob", "from_id": "user1002", "reply_to_message_id": 11,
    "text": [{"type": "mention_name", "text": "Cleo {C}", "user_id": 1003}, " ", {"type": "mention", "text": "@Dan_X"}, " salut {C} 😀", {"type": "mention_name", "text": "Bob {C}", "user_id": 1002}],
    "text_entities": [{"type": "mention_name", "text": "Cleo {C}", "user_id": 1003}, {"type": "plain", "text": " "}, {"type": "mention", "text": "@Dan_X"}, {"type": "plain", "text": " salut {C} 😀"}, {"type": "mention_name", "text": "Bob {C}", "user_id": 1002}],
    "reactions": [
     {"type": "emoji", "count": 2, "emoji": "👍", "recent": [{"from": "Ann", "from_id": "user1001", "date": {L:300}}, {"from": "Bob", "from_id": "user1002", "date": {L:310}}]},
     {"type": "emoji", "count": 2, "emoji": "❤", "recent": [{"from": "Ann", "from_id": "user1001", "date": {L:320}}, {"from": "{C} chan", "from_id": "channel77", "date": {L:330}}]}]},
   {"id": 13, "type": "message", {D:180}, "from": "Entraide Nord", "from_id": "channel1234567890", "author": "{C}", "text": "{C}", "text_entities": [{"type": "plain", "text": "{C}"}]},
   {"id": 14, "type": "message", {D:240}, "from": "Cleo", "from_id": "user1003", "photo": "photos/{C}.jpg", "width": 10, "height": 10, "text": "/stats {C}", "text_entities": [{"type": "bot_command", "text": "/stats"}, {"type": "plain", "text": " {C}"}]},
   {"id": 15, "type": "message", {D:300}, "from": "Ann", "from_id": "user1001", "text": [{"type": "bot_command", "text": "/stats"}, " {C}"], "text_entities": [{"type": "bot_command", "text": "/stats"}, {"type": "plain", "text": " {C}"}]},
   {"id": 16, "type": "message", {D:360}, "from": "Cleo", "from_id": "user1003", "poll": {"question": "{C}?", "closed": false, "total_voters": 1, "answers": [{"text": "{C}", "voters": 1, "chosen": false}]}, "text": "", "text_entities": []},
   {"id": 17, "type": "message", {D:420}, "from": "Bob", "from_id": "user1002", "contact_information": {"first_name": "{C}", "last_name": "{C}", "phone_number": "+33 7 {C}"}, "contact_vcard": "contacts/{C}.vcf", "text": "", "text_entities": []},
   {"id": 18, "type": "message", {D:480}, "from": "Ann", "from_id": "user1001", "place_name": "{C}", "address": "{C}", "location_information": {"latitude": 50.6, "longitude": 3.06}, "text": "", "text_entities": []},
   {"id": 19, "type": "message", {D:540}, "from": "Cleo", "from_id": "user1003", "file": "files/{C}.mp3", "file_name": "{C}.mp3", "media_type": "audio_file", "performer": "{C}", "title": "{C}", "mime_type": "audio/mpeg", "forwarded_from": "{C}", "via_bot": "@{C}", "text": "", "text_entities": []},
   {"id": 20, "type": "service", {D:600}, "actor": "Ann", "actor_id": "user1001", "action": "invite_members", "members": ["Eve {C}", null], "text": "", "text_entities": []},
   {"id": 21, "type": "service", {D:660}, "actor": "Bob", "actor_id": "user1002", "action": "remove_members", "members": ["Bob"], "text": "", "text_entities": []},
   {"id": 22, "type": "message", {D:720}, "from": "Ann", "from_id": "user1001", "reply_to_message_id": 13, "text": "{C}", "text_entities": [{"type": "plain", "text": "{C}"}]},
   {"id": 23, "type": "message", {D:780}, "from": "Ann", "from_id": "user1001", "reply_to_message_id": 9, "text": "{C}", "text_entities": [{"type": "plain", "text": "{C}"}]},
   {"id": 24, "type": "message", {D:840}, "from": "Relais", "from_id": "user99", "text": "{C}", "text_entities": [{"type": "plain", "text": "{C}"}]},
   {"id": 25, "type": "message", {D:900}, "from": "Telegram", "from_id": "user777000", "text": "{C}"},
   {"id": 26, "type": "service", {D:960}, "actor": "Ann", "actor_id": "user1001", "action": "topic_created", "title": "{C}", "text": "", "text_entities": []},
   {"id": 27, "type": "message", {D:1020}, "from": "Cleo", "from_id": "user1003", "reply_to_message_id": 26, "text": "{C} @relais_bot", "text_entities": [{"type": "plain", "text": "{C} "}, {"type": "mention", "text": "@relais_bot"}]},
   {"id": 28, "type": "message", {D:1080}, "from": "Dan", "from_id": "user1004", "reply_to_message_id": 4, "reply_to_peer_id": "channel42", "text": "{C}"},
   {"id": 29, "type": "unsupported"},
   {"id": 30, "type": "service", {D:1100}, "actor": "Cleo", "actor_id": "user1003", "action": "pin_message", "message_id": 12, "text": "", "text_entities": []},
   {"id": 31, "type": "message", {D:5000}, "from": "Ann", "from_id": "user1001", "reply_to_message_id": 12, "text": "{C}", "text_entities": [{"type": "plain", "text": "{C}"}]}]},
  {"name": "Vieux groupe", "type": "private_group", "id": 555, "messages": [
   {"id": 3, "type": "message", {D:-100000}, "from": "Ann", "from_id": "user1001", "text": "{C}"},
   {"id": 4, "type": "message", {D:30}, "from": "Ann", "from_id": "user1001", "text": "{C}", "reactions": [{"type": "emoji", "count": 1, "emoji": "👍", "recent": [{"from": "Bob", "from_id": "user1002", "date": "not a date"}]}]}]},
  {"name": "{C} news", "type": "public_channel", "id": 777, "messages": [
   {"id": 1, "type": "message", {D:5}, "from": "{C} news", "from_id": "channel777", "text": "{C}"}]},
  {"type": "saved_messages", "id": 1001, "messages": [
   {"id": 1, "type": "message", {D:5}, "from": "{C}", "from_id": "user1001", "text": "{C}"}]}
 ]},
 "left_chats": {"about": "{C}", "list": []},
 "other_data": {"about": "{C}", "changes_log": [{"x": "{C}", "n": 1e999}]}
}`

// accountOptions imports from t0 - 1 day, with live events beginning at t0+5000s in the
// supergroup (message 31 is live's) and no bound in the basic group.
func accountOptions() Options {
	return Options{
		Now:         testNow,
		Since:       time.Unix(t0, 0).Add(-24 * time.Hour),
		BotUsername: "relais_bot",
		BotID:       99,
		Before: func(chat int64) time.Time {
			if chat == -1001234567890 {
				return time.Unix(t0+5000, 0)
			}
			return time.Time{}
		},
	}
}

// read runs Read over b and returns the events it emitted.
func read(t testing.TB, b []byte, opt Options) ([]events.Event, Summary, error) {
	t.Helper()
	var evs []events.Event
	sum, err := Read(context.Background(), bytes.NewReader(b), opt, func(e events.Event) error {
		evs = append(evs, e)
		return nil
	})
	return evs, sum, err
}

// line writes every field of an event, so that two lines are equal only if the events are.
func line(e events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d %s %s %s at=%+d", e.V, e.Kind, e.Platform, e.ID, e.At.Unix()-t0)
	if g := e.Group; g != nil {
		fmt.Fprintf(&b, " group=%s/%q", g.ID, g.Title)
		if g.MigratedFrom != "" {
			fmt.Fprintf(&b, " from=%s", g.MigratedFrom)
		}
	}
	s := e.Sender
	fmt.Fprintf(&b, " sender=%s/%q", s.ID, s.Name)
	for _, f := range []struct{ k, v string }{{"first", s.FirstName}, {"last", s.LastName}, {"user", s.Username},
		{"phone", s.Phone}, {"alias", s.Alias}, {"reply", e.ReplyTo}, {"target", e.Target}} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	if len(e.Mentions) > 0 {
		fmt.Fprintf(&b, " mentions=%s", strings.Join(e.Mentions, ","))
	}
	if e.Command != nil {
		fmt.Fprintf(&b, " cmd=%+v", *e.Command)
	}
	if e.Chars != 0 {
		fmt.Fprintf(&b, " chars=%d", e.Chars)
	}
	if loc := e.At.Location(); loc != time.UTC {
		fmt.Fprintf(&b, " loc=%s", loc)
	}
	return b.String()
}

func lines(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = line(e)
	}
	return out
}

// chars is the length of a fixture's text as the live mapper counts it.
func chars(s string) int { return utf8.RuneCountInString(strings.ReplaceAll(s, "{C}", canary)) }

func TestReadAccountExport(t *testing.T) {
	evs, sum, err := read(t, fixture(t, accountExport), accountOptions())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	const g = `group=-1001234567890/"Entraide Nord"`
	want := []string{
		`v1 join telegram telegram:-1001234567890:join:1001:1790000000 at=+0 ` + g + ` sender=1001/"Ann"`,
		fmt.Sprintf(`v1 message telegram telegram:-1001234567890:11 at=+60 %s sender=1001/"Ann" chars=%d`, g, chars("Bonjour {C}")),
		fmt.Sprintf(`v1 message telegram telegram:-1001234567890:12 at=+120 %s sender=1002/"Bob" reply=1001 target=11 mentions=1003,@dan_x chars=%d`,
			g, chars("Cleo {C} @Dan_X salut {C} 😀Bob {C}")),
		// Ann's two reactions are one event, as live; Bob's own counts, naming nobody; the
		// channel's is nobody's. Dates: the local ones less the message's offset.
		`v1 reaction telegram telegram:-1001234567890:12:reaction:1001 at=+300 ` + g + ` sender=1001/"Ann" reply=1002 target=12`,
		`v1 reaction telegram telegram:-1001234567890:12:reaction:1002 at=+310 ` + g + ` sender=1002/"Bob" target=12`,
		// 13: a post as the group (anonymous admin) is nobody's.
		// A caption is never a command, as live.
		fmt.Sprintf(`v1 message telegram telegram:-1001234567890:14 at=+240 %s sender=1003/"Cleo" chars=%d`, g, chars("/stats {C}")),
		// 15: a command is not imported.
		`v1 message telegram telegram:-1001234567890:16 at=+360 ` + g + ` sender=1003/"Cleo"`,
		`v1 message telegram telegram:-1001234567890:17 at=+420 ` + g + ` sender=1002/"Bob"`,
		`v1 message telegram telegram:-1001234567890:18 at=+480 ` + g + ` sender=1001/"Ann"`,
		`v1 message telegram telegram:-1001234567890:19 at=+540 ` + g + ` sender=1003/"Cleo"`,
		// 20: Ann added someone named only by name: Unresolved.
		`v1 leave telegram telegram:-1001234567890:leave:1002:1790000660 at=+660 ` + g + ` sender=1002/"Bob"`,
		fmt.Sprintf(`v1 message telegram telegram:-1001234567890:22 at=+720 %s sender=1001/"Ann" target=13 chars=%d`, g, chars("{C}")),
		fmt.Sprintf(`v1 message telegram telegram:-1001234567890:23 at=+780 %s sender=1001/"Ann" target=9 chars=%d`, g, chars("{C}")),
		// 24: relais's bot; 25: Telegram; 26: a topic. 27 is posted in that topic, mentions
		// relais's bot: no target, no mention.
		fmt.Sprintf(`v1 message telegram telegram:-1001234567890:27 at=+1020 %s sender=1003/"Cleo" chars=%d`, g, chars("{C} @relais_bot")),
		// 28 answers a message of another chat: no target.
		fmt.Sprintf(`v1 message telegram telegram:-1001234567890:28 at=+1080 %s sender=1004/"Dan" chars=%d`, g, chars("{C}")),
		// 29: unsupported; 30: a pin; 31: at live's beginning, live's.
		// Basic group: 3 is before Since; 4's reaction has no usable date: its message's.
		fmt.Sprintf(`v1 message telegram telegram:-555:4 at=+30 group=-555/"Vieux groupe" sender=1001/"Ann" chars=%d`, chars("{C}")),
		`v1 reaction telegram telegram:-555:4:reaction:1002 at=+30 group=-555/"Vieux groupe" sender=1002/"Bob" reply=1001 target=4`,
	}
	if got := lines(evs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	assertEncodes(t, evs)

	wantSum := Summary{OtherChats: 3, Groups: []GroupSummary{
		{ID: "-1001234567890", Title: "Entraide Nord", Type: "private_supergroup", Messages: 11, Members: 4,
			Joins: 1, Leaves: 1, Reactions: 2, First: time.Unix(t0, 0).UTC(), Last: time.Unix(t0+1080, 0).UTC(),
			Skipped: 5, Unresolved: 2},
		{ID: "-555", Title: "Vieux groupe", Type: "private_group", Messages: 1, Members: 1, Reactions: 1,
			First: time.Unix(t0+30, 0).UTC(), Last: time.Unix(t0+30, 0).UTC(), Skipped: 1},
	}}
	if fmt.Sprintf("%+v", sum) != fmt.Sprintf("%+v", wantSum) {
		t.Errorf("summary:\n%+v\nwant:\n%+v", sum, wantSum)
	}
}

// assertEncodes checks each event passes the contract's validation and carries no canary.
func assertEncodes(t *testing.T, evs []events.Event) {
	t.Helper()
	for _, e := range evs {
		b, err := events.Encode(e)
		if err != nil {
			t.Errorf("%s does not encode: %v", e.ID, err)
			continue
		}
		if bytes.Contains(b, []byte(canary)) {
			t.Errorf("%s carries the canary: %s", e.ID, b)
		}
	}
	all, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(all, []byte(canary)) {
		t.Errorf("the events carry the canary")
	}
}

// singleChat is one chat's result.json, as "Export chat history" of a group writes it.
const singleChat = `{
 "name": "Entraide Sud",
 "type": "public_supergroup",
 "id": 42,
 "messages": [
  {"id": 1, "type": "service", {D:0}, "actor": "Ann", "actor_id": "user1001", "action": "join_group_by_request", "text": "", "text_entities": []},
  {"id": 2, "type": "message", {D:10}, "from": "Ann", "from_id": "user1001", "text": "{C}", "text_entities": [{"type": "plain", "text": "{C}"}]},
  {"id": 3, "type": "service", {D:20}, "actor": "Bob", "actor_id": "user1002", "action": "invite_members", "members": ["Bob"], "text": "", "text_entities": []},
  {"id": 4, "type": "message", {D:30}, "from": null, "from_id": "user1003", "reply_to_message_id": 2, "text_entities": [{"type": "plain", "text": "{C}"}, {"type": "mention_name", "text": "{C}", "user_id": "1001"}]},
  {"id": 5, "type": "message", {D:40}, "from": "Ann", "from_id": "user1001", "reply_to_message_id": 2, "reply_to_peer_id": "channel42", "text": "{C}"}
 ]
}`

func TestReadSingleChat(t *testing.T) {
	opt := Options{Now: testNow}
	evs, sum, err := read(t, fixture(t, singleChat), opt)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	g := `group=-10042/"Entraide Sud"`
	want := []string{
		`v1 join telegram telegram:-10042:join:1001:1790000000 at=+0 ` + g + ` sender=1001/"Ann"`,
		fmt.Sprintf(`v1 message telegram telegram:-10042:2 at=+10 %s sender=1001/"Ann" chars=%d`, g, chars("{C}")),
		// Bob adding himself back is Bob joining.
		`v1 join telegram telegram:-10042:join:1002:1790000020 at=+20 ` + g + ` sender=1002/"Bob"`,
		// A deleted account has no name; text_entities alone still give length and mentions.
		fmt.Sprintf(`v1 message telegram telegram:-10042:4 at=+30 %s sender=1003/"" reply=1001 target=2 mentions=1001 chars=%d`, g, chars("{C}{C}")),
		// A reply whose peer is this group is a reply here; answering oneself names nobody.
		fmt.Sprintf(`v1 message telegram telegram:-10042:5 at=+40 %s sender=1001/"Ann" target=2 chars=%d`, g, chars("{C}")),
	}
	if got := lines(evs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	assertEncodes(t, evs)
	if len(sum.Groups) != 1 || sum.Groups[0].Messages != 3 || sum.Groups[0].Members != 2 || sum.Groups[0].Joins != 2 {
		t.Errorf("summary %+v", sum)
	}
}

// TestReadWindow checks the two bounds on each kind: Since keeps what is at or after it,
// Before what is strictly before it.
func TestReadWindow(t *testing.T) {
	at := func(n int) time.Time { return time.Unix(int64(t0+n), 0) }
	for _, tc := range []struct {
		name          string
		since, before time.Time
		want          []string // ids
	}{
		{"everything", time.Time{}, time.Time{}, []string{"join:1001:1790000000", "2", "join:1002:1790000020", "4", "5"}},
		{"since is inclusive", at(10), time.Time{}, []string{"2", "join:1002:1790000020", "4", "5"}},
		{"before is exclusive", time.Time{}, at(30), []string{"join:1001:1790000000", "2", "join:1002:1790000020"}},
		{"both", at(1), at(21), []string{"2", "join:1002:1790000020"}},
		{"nothing left", at(100), time.Time{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Now: testNow, Since: tc.since, Before: func(chat int64) time.Time {
				if chat != -10042 {
					t.Errorf("Before asked about %d", chat)
				}
				return tc.before
			}}
			evs, _, err := read(t, fixture(t, singleChat), opt)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, strings.TrimPrefix(e.ID, "telegram:-10042:"))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestReadRepliesBounded checks a reply to a message older than the authors remembered keeps
// its target and names nobody.
func TestReadRepliesBounded(t *testing.T) {
	const chat = `{"name": "G", "type": "private_supergroup", "id": 42, "messages": [
  {"id": 1, "type": "message", {D:0}, "from": "Ann", "from_id": "user1001", "text": "{C}"},
  {"id": 2, "type": "message", {D:1}, "from": "Bob", "from_id": "user1002", "text": "{C}"},
  {"id": 3, "type": "message", {D:2}, "from": "Cleo", "from_id": "user1003", "reply_to_message_id": 1, "text": "{C}"}]}`
	for max, want := range map[int]string{1: "", 2: "1001"} {
		evs, _, err := read(t, fixture(t, chat), Options{Now: testNow, MaxAuthors: max})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if e := evs[2]; e.ReplyTo != want || e.Target != "1" {
			t.Errorf("MaxAuthors %d: %s, want reply=%q target=1", max, line(e), want)
		}
	}
}

// TestReadReplyPeer checks a reply naming this very chat as its peer is a reply here, for a
// basic group whose id starts like a supergroup's prefix.
func TestReadReplyPeer(t *testing.T) {
	const chat = `{"name": "G", "type": "private_group", "id": 1005, "messages": [
  {"id": 1, "type": "message", {D:0}, "from": "Ann", "from_id": "user1001", "text": "{C}"},
  {"id": 2, "type": "message", {D:1}, "from": "Bob", "from_id": "user1002", "reply_to_message_id": 1, "reply_to_peer_id": "chat1005", "text": "{C}"},
  {"id": 3, "type": "message", {D:2}, "from": "Bob", "from_id": "user1002", "reply_to_message_id": 1, "reply_to_peer_id": "chat5", "text": "{C}"}]}`
	evs, _, err := read(t, fixture(t, chat), Options{Now: testNow})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if e := evs[1]; e.ID != "telegram:-1005:2" || e.ReplyTo != "1001" || e.Target != "1" {
		t.Errorf("reply in the same chat: %s", line(e))
	}
	if e := evs[2]; e.ReplyTo != "" || e.Target != "" {
		t.Errorf("reply to another chat: %s", line(e))
	}
}

// TestReadMigratedHistory checks the history of the basic group a supergroup was upgraded
// from, whose ids the export shifts below zero, reads like the rest: replies across the
// upgrade resolve, ids stay distinct.
func TestReadMigratedHistory(t *testing.T) {
	const chat = `{"name": "G", "type": "private_supergroup", "id": 42, "messages": [
  {"id": -999999990, "type": "message", {D:0}, "from": "Ann", "from_id": "user1001", "text": "{C}"},
  {"id": -999999989, "type": "service", {D:1}, "actor": "Ann", "actor_id": "user1001", "action": "migrate_to_supergroup"},
  {"id": 1, "type": "service", {D:1}, "actor": "G", "actor_id": "channel42", "action": "migrate_from_group", "title": "{C}"},
  {"id": 2, "type": "message", {D:2}, "from": "Bob", "from_id": "user1002", "reply_to_message_id": -999999990, "text": "{C}"},
  {"id": -999999990, "type": "message", {D:3}, "from": "Ann", "from_id": "user1001", "text": "{C}"}]}`
	evs, _, err := read(t, fixture(t, chat), Options{Now: testNow})
	if !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("error %v, want the repeated negative id found", err)
	}
	want := []string{
		fmt.Sprintf(`v1 message telegram telegram:-10042:-999999990 at=+0 group=-10042/"G" sender=1001/"Ann" chars=%d`, chars("{C}")),
		fmt.Sprintf(`v1 message telegram telegram:-10042:2 at=+2 group=-10042/"G" sender=1002/"Bob" reply=1001 target=-999999990 chars=%d`, chars("{C}")),
	}
	if got := lines(evs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
