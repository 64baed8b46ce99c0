package telegram

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
)

const group = `"chat":{"id":-1001,"type":"supergroup","title":"G"}`
const annJSON = `"from":{"id":1001,"is_bot":false,"first_name":"Ann","username":"ann"}`

// TestMapEdgeCases covers shapes the conversation test does not: pseudo-senders, member
// statuses, entities that do not fit their text, service messages.
func TestMapEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name, update string
		want         []string // summaries
	}{
		{"automatic forward from the linked channel",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,"from":{"id":777000,"is_bot":false,"first_name":"Telegram"},"sender_chat":{"id":-100777,"type":"channel","title":"C"},"is_automatic_forward":true,"text":"post"}}`,
			nil},
		{"posting as a channel",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,"from":{"id":136817688,"is_bot":true,"first_name":"Channel"},"sender_chat":{"id":-100777,"type":"channel","title":"C"},"text":"hi"}}`,
			nil},
		{"service message: pinned",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"pinned_message":{"message_id":3,"date":1700000000,` + group + `}}}`,
			nil},
		{"service message of a later Bot API: forum topic created",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"forum_topic_created":{"name":"T","icon_color":1}}}`,
			nil},
		{"contact shared in a group is a message, without phone",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"contact":{"phone_number":"33612345678","first_name":"Ann","user_id":1001}}}`,
			[]string{"message telegram:-1001:5 group=-1001 sender=1001"}},
		{"bang command",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"text":"!Actifs 10"}}`,
			[]string{`command telegram:-1001:5 group=-1001 sender=1001 cmd=actifs["10"]`}},
		{"edited command is nothing",
			`{"update_id":1,"edited_message":{"message_id":5,"date":1700000000,"edit_date":1700000100,` + group + `,` + annJSON + `,"text":"/stats"}}`,
			nil},
		{"edited message keeps the original id",
			`{"update_id":1,"edited_message":{"message_id":5,"date":1700000000,"edit_date":1700000100,` + group + `,` + annJSON + `,"text":"fixed"}}`,
			[]string{"message telegram:-1001:5 group=-1001 sender=1001 chars=5"}},
		{"message without a date is dropped",
			`{"update_id":1,"message":{"message_id":5,` + group + `,` + annJSON + `,"text":"x"}}`,
			nil},
		{"mention entity out of range, negative, and splitting a surrogate pair",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"text":"😀@bob","entities":[{"type":"mention","offset":2,"length":99},{"type":"mention","offset":-1,"length":3},{"type":"mention","offset":1,"length":4},{"type":"mention","offset":2,"length":4}]}}`,
			[]string{"message telegram:-1001:5 group=-1001 sender=1001 mentions=@bob chars=5"}},
		{"text mention of a bot is nobody",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"text":"hey bot","entities":[{"type":"text_mention","offset":4,"length":3,"user":{"id":9,"is_bot":true,"first_name":"B"}}]}}`,
			[]string{"message telegram:-1001:5 group=-1001 sender=1001 chars=7"}},
		{"reply to an anonymous admin names nobody",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"text":"ok","reply_to_message":{"message_id":4,"date":1700000000,` + group + `,"from":{"id":1087968824,"is_bot":true,"first_name":"Group"},"sender_chat":{"id":-1001,"type":"supergroup","title":"G"}}}}`,
			[]string{"message telegram:-1001:5 group=-1001 sender=1001 target=4 chars=2"}},
		{"button press in the member's private chat is their command",
			`{"update_id":1,"callback_query":{"id":"cb77",` + annJSON + `,"chat_instance":"1","data":"/jerelaie samedi-tract-1a2b","message":{"message_id":9,"date":1700000000,"chat":{"id":1001,"type":"private","first_name":"Ann"},"text":"…"}}}`,
			[]string{`command telegram:cb:cb77 sender=1001 cmd=jerelaie["samedi-tract-1a2b"]`}},
		{"button press without its message (too old) still counts",
			`{"update_id":1,"callback_query":{"id":"cb78",` + annJSON + `,"chat_instance":"1","data":"/envoyer x1"}}`,
			[]string{`command telegram:cb:cb78 sender=1001 cmd=envoyer["x1"]`}},
		{"button press under a group message is nothing",
			`{"update_id":1,"callback_query":{"id":"cb79",` + annJSON + `,"chat_instance":"1","data":"/jerelaie x1","message":{"message_id":9,"date":1700000000,` + group + `,"text":"…"}}}`,
			nil},
		{"button data that is no command is nothing",
			`{"update_id":1,"callback_query":{"id":"cb80",` + annJSON + `,"chat_instance":"1","data":"bonjour tout le monde"}}`,
			nil},
		{"button press by a bot is nothing",
			`{"update_id":1,"callback_query":{"id":"cb81","from":{"id":9,"is_bot":true,"first_name":"B"},"chat_instance":"1","data":"/jerelaie x1"}}`,
			nil},
		{"restricted and still a member: joined",
			`{"update_id":1,"chat_member":{"chat":{"id":-1001,"type":"supergroup","title":"G"},` + annJSON + `,"date":1700000000,"old_chat_member":{"user":{"id":1002,"is_bot":false,"first_name":"Bob"},"status":"left"},"new_chat_member":{"user":{"id":1002,"is_bot":false,"first_name":"Bob"},"status":"restricted","is_member":true}}}`,
			[]string{"join telegram:-1001:join:1002:1700000000 group=-1001 sender=1002"}},
		{"restricted, not a member: nothing",
			`{"update_id":1,"chat_member":{"chat":{"id":-1001,"type":"supergroup","title":"G"},` + annJSON + `,"date":1700000000,"old_chat_member":{"user":{"id":1002,"is_bot":false,"first_name":"Bob"},"status":"left"},"new_chat_member":{"user":{"id":1002,"is_bot":false,"first_name":"Bob"},"status":"restricted","is_member":false}}}`,
			nil},
		{"kicked: left",
			`{"update_id":1,"chat_member":{"chat":{"id":-1001,"type":"supergroup","title":"G"},` + annJSON + `,"date":1700000000,"old_chat_member":{"user":{"id":1002,"is_bot":false,"first_name":"Bob"},"status":"member"},"new_chat_member":{"user":{"id":1002,"is_bot":false,"first_name":"Bob"},"status":"kicked","until_date":0}}}`,
			[]string{"leave telegram:-1001:leave:1002:1700000000 group=-1001 sender=1002"}},
		{"anonymous reaction",
			`{"update_id":1,"message_reaction":{"chat":{"id":-1001,"type":"supergroup","title":"G"},"message_id":4,"actor_chat":{"id":-1001,"type":"supergroup","title":"G"},"date":1700000000,"old_reaction":[],"new_reaction":[{"type":"emoji","emoji":"👍"}]}}`,
			nil},
		{"private command from a chat that is not the sender's",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,"chat":{"id":42,"type":"private"},` + annJSON + `,"text":"/oui"}}`,
			nil},
		{"own contact with an unusable number",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,"chat":{"id":1001,"type":"private"},` + annJSON + `,"contact":{"phone_number":"call me","first_name":"Ann","user_id":1001}}}`,
			nil},
		{"own contact with 00 prefix",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,"chat":{"id":1001,"type":"private"},` + annJSON + `,"contact":{"phone_number":"0033 6 12-34-56-78","first_name":"Ann","user_id":1001}}}`,
			[]string{"consent telegram:dm:1001:5 sender=1001 phone=+33612345678"}},
		{"private text is nothing",
			`{"update_id":1,"message":{"message_id":5,"date":1700000000,"chat":{"id":1001,"type":"private"},` + annJSON + `,"text":"hello"}}`,
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := DecodeUpdate([]byte(tc.update))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := summaries(newMapper("relais_test_bot", 99).Map(u))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestNormalisePhone(t *testing.T) {
	for in, want := range map[string]string{
		"33612345678":        "+33612345678",
		"+33 6 12 34 56 78":  "+33612345678",
		"0033612345678":      "+33612345678",
		"1 (415) 555-0100":   "+14155550100",
		"0612345678":         "",
		"+33612345678901234": "",
		"12345":              "",
		"+33 6 12 34 56 7x":  "",
		"3361234+5678":       "",
		"":                   "",
	} {
		got, ok := normalisePhone(in)
		if got != want || ok != (want != "") {
			t.Errorf("normalisePhone(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestDecodeUpdateRejects(t *testing.T) {
	for _, raw := range []string{``, `[]`, `{"update_id":"x"}`, `{"message":{"chat":7}}`, `{` + strings.Repeat(" ", maxUpdateSize) + `}`} {
		if _, err := DecodeUpdate([]byte(raw)); err == nil {
			t.Errorf("DecodeUpdate(%.40q) accepted", raw)
		}
	}
}

// FuzzDecodeUpdate feeds the decoder and the mapper malformed JSON, huge texts, odd
// entities and UTF-16 offsets: they must never panic, and every event they produce must be
// valid with sane fields.
func FuzzDecodeUpdate(f *testing.F) {
	seeds := []string{
		`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"text":"😀 @bob hi","entities":[{"type":"mention","offset":3,"length":4}]}}`,
		`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"text":"a","entities":[{"type":"mention","offset":9223372036854775807,"length":9223372036854775807}]}}`,
		`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"caption":"x\ud800y","caption_entities":[{"type":"text_mention","offset":0,"length":1,"user":{"id":5,"first_name":"Z"}}],"photo":[{"file_id":"a"}]}}`,
		`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"text":"/stats@relais_test_bot «a b» 'c'"}}`,
		`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"text":"` + strings.Repeat("é👋", 5000) + `"}}`,
		`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"new_chat_members":[{"id":1,"first_name":"` + strings.Repeat("x", 70000) + `"}]}}`,
		`{"update_id":1,"message":{"message_id":5,"date":1700000000,"chat":{"id":1001,"type":"private"},` + annJSON + `,"contact":{"phone_number":"+33612345678","user_id":1001}}}`,
		`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON + `,"migrate_to_chat_id":-1002}}`,
		`{"update_id":1,"message_reaction":{"chat":{"id":-1,"type":"group"},"message_id":1,"user":{"id":3,"first_name":"R"},"date":1,"new_reaction":[{}]}}`,
		`{"update_id":1,"chat_member":{"chat":{"id":-1,"type":"group"},"date":1,"old_chat_member":{"status":"left"},"new_chat_member":{"status":"member"}}}`,
		`{"update_id":1,"message":null}`,
		`{"update_id":`, `null`, `[1,2]`, `"x"`, `{"update_id":1e400}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := DecodeUpdate(data)
		if err != nil {
			if strings.Contains(err.Error(), string(data)) && len(data) > 8 {
				t.Errorf("error quotes the input")
			}
			return
		}
		m := newMapper("relais_test_bot", 99)
		for _, e := range m.Map(u) {
			if err := e.Validate(); err != nil {
				t.Fatalf("invalid event %s: %v", e.ID, err)
			}
			if _, err := events.Encode(e); err != nil {
				t.Fatalf("unencodable event %s: %v", e.ID, err)
			}
			if len(e.Mentions) > maxMentions {
				t.Fatalf("%d mentions", len(e.Mentions))
			}
			for _, mention := range e.Mentions {
				if !ValidMention(mention) && !isDigits(mention) {
					t.Fatalf("mention %q is neither @username nor a user id", mention)
				}
			}
			if e.Chars > utf8.RuneCount(data) {
				t.Fatalf("chars %d longer than the update", e.Chars)
			}
			if e.Sender.Phone != "" && e.Kind != events.KindConsent {
				t.Fatalf("phone on a %s event", e.Kind)
			}
			if b, _ := json.Marshal(e); strings.Contains(string(b), `"text"`) {
				t.Fatalf("event carries text")
			}
		}
	})
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func ExampleDecodeUpdate() {
	u, err := DecodeUpdate([]byte(`{"update_id":7,"message_reaction":{"chat":{"id":-1001,"type":"supergroup"},"message_id":4,"user":{"id":1002,"first_name":"Bob"},"date":1700000000,"old_reaction":[],"new_reaction":[{"type":"emoji","emoji":"👍"}]}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range newMapper("relais_bot", 1).Map(u) {
		fmt.Println(e.Kind, e.ID, e.Target)
	}
	// Output: reaction telegram:-1001:4:reaction:1002 4
}

// noTextCanary stands for words a member typed. It must reach no event, whatever the shape
// of the message carrying it.
const noTextCanary = "CANARY-7f3a"

// TestMapKeepsNoText feeds messages carrying a canary through the fake Bot API's update
// shapes and the real mapping, encodes every event, and checks the canary is in none of them
// while the command names, lengths, replies and mentions are there.
func TestMapKeepsNoText(t *testing.T) {
	f := tgtest.New(t)
	m := newMapper(f.Bot().Username, f.Bot().ID)
	nord := tgtest.Supergroup(-1001000000001, "Entraide Nord")
	c := noTextCanary
	long := strings.Repeat("x", events.MaxQueryRunes)
	var id, hello int // the last message queued; the message replied to

	// Expected summaries, read once the step has queued its message.
	chars := func(s string) string { return fmt.Sprintf("chars=%d", utf8.RuneCountInString(s)) }
	talk := func(from tgtest.User, extra string) func() string {
		return func() string {
			return fmt.Sprintf("message telegram:%d:%d group=%d sender=%d %s", nord.ID, id, nord.ID, from.ID, extra)
		}
	}
	cmd := func(from tgtest.User, cmd string) func() string {
		return func() string {
			return fmt.Sprintf("command telegram:%d:%d group=%d sender=%d cmd=%s", nord.ID, id, nord.ID, from.ID, cmd)
		}
	}
	dm := func(from tgtest.User, cmd string) func() string {
		return func() string {
			return fmt.Sprintf("command telegram:dm:%d:%d sender=%d cmd=%s", from.ID, id, from.ID, cmd)
		}
	}
	text := func(chat tgtest.Chat, from tgtest.User, s string) func() {
		return func() { id = f.Text(chat, from, s) }
	}
	// replied is called when the step's event is checked, once hello is known.
	replied := func(extra string) string { return fmt.Sprintf("reply_to=%d target=%d %s", ann.ID, hello, extra) }

	for _, st := range []struct {
		name  string
		queue func()        // queues one update
		want  func() string // the one event expected; nil for none
	}{
		{"plain talk", func() { id = f.Text(nord, ann, "hello "+c); hello = id }, talk(ann, chars("hello "+c))},
		{"unknown bang word", text(nord, bob, "!rdv "+c+" chez moi"), talk(bob, chars("!rdv "+c+" chez moi"))},
		{"unknown slash word", text(nord, bob, "/rdv "+c), talk(bob, chars("/rdv "+c))},
		{"help with words", text(nord, ann, "/aide "+c), cmd(ann, `aide[]`)},
		{"help addressed to us", text(nord, ann, "/aide@relais_test_bot "+c), cmd(ann, `aide[]`)},
		{"help in quotes", text(nord, ann, "/aide «"+c+"»"), cmd(ann, `aide[]`)},
		{"stop with words", text(nord, ann, "/stop "+c), cmd(ann, `stop[]`)},
		{"another bot's command", text(nord, bob, "/cmd@otherbot "+c), talk(bob, chars("/cmd@otherbot "+c))},
		{"our name for another bot", text(nord, bob, "/aide@otherbot "+c), talk(bob, chars("/aide@otherbot "+c))},
		{"count, then words", text(nord, ann, "/actifs 5 "+c), cmd(ann, `actifs["5"]`)},
		{"words instead of a count", text(nord, ann, "!relais "+c+" 5"), cmd(ann, `relais[]`)},
		{"member query past its bound", text(nord, ann, "/fiche "+long+" "+c), cmd(ann, fmt.Sprintf("fiche[%q]", long))},
		{"group query past its bound", text(nord, ann, "/stats@relais_test_bot «"+long+c+"»"), cmd(ann, fmt.Sprintf("stats[%q]", long))},
		{"campaign slug, then words", text(nord, ann, "/campagne rentree "+c), cmd(ann, `campagne["rentree"]`)},
		{"campaign slug of the canary's shape", text(nord, ann, "/campagne "+c+"!"), cmd(ann, `campagne[]`)},
		{"campaign text past its bound", text(nord, ann, "/mobiliser "+strings.Repeat("y", events.MaxTextRunes)+c),
			cmd(ann, fmt.Sprintf("mobiliser[%q]", strings.Repeat("y", events.MaxTextRunes)))},
		{"reply", func() { id = f.Reply(nord, bob, hello, c+" d'accord") }, func() string { return talk(bob, replied(chars(c+" d'accord")))() }},
		{"reply that is an unknown command", func() { id = f.Reply(nord, bob, hello, "/merci "+c) }, func() string { return talk(bob, replied(chars("/merci "+c)))() }},
		{"mentions", func() {
			s := "@ann_nord et Dan: " + c
			d := dan
			id = f.Send(tgtest.Message{Chat: nord, From: &chloe, Text: s, Entities: []tgtest.Entity{
				tgtest.EntityOf(s, "@ann_nord", "mention"),
				{Type: "text_mention", Offset: tgtest.EntityOf(s, "Dan", "").Offset, Length: 3, User: &d},
			}})
		}, talk(chloe, fmt.Sprintf("mentions=@ann_nord,%d %s", dan.ID, chars("@ann_nord et Dan: "+c)))},
		{"caption", func() { id = f.Send(tgtest.Message{Chat: nord, From: &dan, Photo: true, Caption: "/aide " + c}) },
			talk(dan, chars("/aide "+c))},
		{"edit", func() { f.Edit(nord, hello, "hello "+c+" (edited)"); id = hello }, talk(ann, chars("hello "+c+" (edited)"))},
		{"edit into a command", func() { f.Edit(nord, hello, "/stats "+c) }, nil},
		{"private help with words", text(tgtest.Private(ann), ann, "/aide "+c), dm(ann, `aide[]`)},
		{"private yes addressed to us", text(tgtest.Private(ann), ann, "/oui@relais_test_bot "+c), dm(ann, `oui[]`)},
		{"private unknown command", text(tgtest.Private(ann), ann, "/rdv "+c), nil},
		{"private unknown bang word", text(tgtest.Private(ann), ann, "!rdv "+c), nil},
		{"private command for another bot", text(tgtest.Private(ann), ann, "/aide@otherbot "+c), nil},
		{"private talk", text(tgtest.Private(ann), ann, c), nil},
	} {
		t.Run(st.name, func(t *testing.T) {
			st.queue()
			u, err := DecodeUpdate(f.LastUpdate())
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			evs := m.Map(u)
			var want []string
			if st.want != nil {
				want = []string{st.want()}
			}
			if got := summaries(evs); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			for _, e := range evs {
				b, err := events.Encode(e)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if strings.Contains(strings.ToLower(string(b)), strings.ToLower(c)) {
					t.Errorf("the canary reached the event: %s", b)
				}
			}
		})
	}
}
