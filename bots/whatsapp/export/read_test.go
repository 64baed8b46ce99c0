package export

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

// canary is in every text and every continuation line of the fixtures: it must reach no
// event and no error.
const canary = "CANARY"

var paris = mustLoad("Europe/Paris")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func baseOptions() Options {
	return Options{
		Group:    events.Group{ID: "120363000000000001@g.us", Title: "Militants Lyon"},
		Now:      time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Location: paris,
	}
}

// read runs Read and checks what every run must satisfy: each event encodes, carries the
// group and the id prefix, ids are unique, no canary anywhere.
func read(t *testing.T, text string, opt Options) ([]events.Event, Summary, error) {
	t.Helper()
	var got []events.Event
	seen := map[string]bool{}
	sum, err := Read(context.Background(), strings.NewReader(text), opt, func(ev events.Event) error {
		b, err := events.Encode(ev)
		if err != nil {
			t.Fatalf("event does not encode: %v", err)
		}
		if strings.Contains(string(b), canary) {
			t.Fatalf("text leaked into an event: %s", b)
		}
		if !strings.HasPrefix(ev.ID, "whatsapp:120363000000000001:export:") || seen[ev.ID] {
			t.Fatalf("bad or duplicate id %q", ev.ID)
		}
		seen[ev.ID] = true
		if ev.Group == nil || ev.Group.ID != opt.Group.ID || ev.ReplyTo != "" {
			t.Fatalf("bad group or reply: %+v", ev)
		}
		got = append(got, ev)
		return nil
	})
	if err != nil && strings.Contains(err.Error(), canary) {
		t.Fatalf("text leaked into an error: %v", err)
	}
	return got, sum, err
}

// describe writes an event as "kind who local-time chars [mentions]", members by name or
// phone, so fixtures read like the export.
func describe(evs []events.Event) []string {
	label := map[string]string{}
	for _, ev := range evs {
		label[ev.Sender.ID] = cmpOr(ev.Sender.Phone, ev.Sender.Name, ev.Sender.ID)
	}
	var out []string
	for _, ev := range evs {
		s := fmt.Sprintf("%s %s %s %d", ev.Kind, label[ev.Sender.ID], ev.At.In(paris).Format("2006-01-02 15:04:05"), ev.Chars)
		for _, m := range ev.Mentions {
			s += " @" + cmpOr(label[m], m)
		}
		out = append(out, s)
	}
	return out
}

func cmpOr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func n(s string) int { return utf8.RuneCountInString(s) }

func TestLayouts(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		opt     func(*Options)
		want    []string
		order   DayOrder
		orderBy string
		layout  string
		check   func(t *testing.T, s Summary)
	}{{
		name: "android french",
		text: `06/03/2024 14:05 - Les messages et les appels sont chiffrés de bout en bout. Aucun tiers, pas même WhatsApp, ne peut les lire ou les écouter. Appuyez pour en savoir plus.
06/03/2024 14:05 - Marie Dupont a créé le groupe « Militants Lyon »
06/03/2024 14:06 - Marie Dupont a ajouté Jean Martin et <LRE>+33 6 12 34 56 78<PDF>
13/03/2024 09:00 - Jean Martin: Bonjour CANARY
13/03/2024 09:01 - <LRE>+33 6 12 34 56 78<PDF>: <Médias omis>
13/03/2024 09:02 - Marie Dupont: Ce message a été supprimé
13/03/2024 09:03 - Paul Durand a rejoint ce groupe via le lien d’invitation
13/03/2024 09:04 - Marie Dupont a retiré Paul Durand
14/03/2024 10:00 - Jean Martin est parti
14/03/2024 10:01 - Marie Dupont vous a ajouté
14/03/2024 10:02 - Vous avez ajouté Luc Bernard
14/03/2024 10:03 - Luc Bernard s’est joint(e) via le lien d’invitation de ce groupe
14/03/2024 10:04 - Vous avez retiré Luc Bernard
`,
		want: []string{
			"join Marie Dupont 2024-03-06 14:05:00 0",
			"join Jean Martin 2024-03-06 14:06:00 0",
			"join +33612345678 2024-03-06 14:06:00 0",
			fmt.Sprintf("message Jean Martin 2024-03-13 09:00:00 %d", n("Bonjour CANARY")),
			"message +33612345678 2024-03-13 09:01:00 0",
			"join Paul Durand 2024-03-13 09:03:00 0",
			"leave Paul Durand 2024-03-13 09:04:00 0",
			"leave Jean Martin 2024-03-14 10:00:00 0",
			"join Luc Bernard 2024-03-14 10:02:00 0",
			"join Luc Bernard 2024-03-14 10:03:00 0",
			"leave Luc Bernard 2024-03-14 10:04:00 0",
		},
		order: DayFirst, orderBy: "dates", layout: "android",
		check: func(t *testing.T, s Summary) {
			t.Helper()
			if s.Messages != 2 || s.Members != 2 || s.Deleted != 1 || s.Joins != 6 || s.Leaves != 3 || s.Notices != 2 {
				t.Errorf("summary %+v", s)
			}
		},
	}, {
		name: "android english 12 h",
		text: "3/6/24, 2:05 PM - Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more.\n" +
			"3/6/24, 2:05 PM - Marie Dupont created group \"Militants Lyon\"\n" +
			"3/6/24, 2:06 PM - Marie Dupont added Jean Martin, Paul Durand and +33 6 12 34 56 78\n" +
			"3/6/24, 2:07\u202fPM - Jean Martin: hello CANARY\n" +
			"3/6/24, 2:08\u00a0PM - Paul Durand: <Media omitted>\n" +
			"3/6/24, 12:09 AM - Paul Durand: This message was deleted\n" +
			"3/6/24, 12:10 PM - Lucie Petit joined using this group's invite link\n" +
			"3/6/24, 11:59 PM - Paul Durand left\n" +
			"3/6/24, 11:59 PM - Marie Dupont removed Lucie Petit\n" +
			"3/6/24, 11:59 PM - Marie Dupont changed the subject from \"Lyon: CANARY\" to \"Militants: CANARY\"\n",
		want: []string{
			"join Marie Dupont 2024-03-06 14:05:00 0",
			"join Jean Martin 2024-03-06 14:06:00 0",
			"join Paul Durand 2024-03-06 14:06:00 0",
			"join +33612345678 2024-03-06 14:06:00 0",
			fmt.Sprintf("message Jean Martin 2024-03-06 14:07:00 %d", n("hello CANARY")),
			"message Paul Durand 2024-03-06 14:08:00 0",
			"join Lucie Petit 2024-03-06 12:10:00 0",
			"leave Paul Durand 2024-03-06 23:59:00 0",
			"leave Lucie Petit 2024-03-06 23:59:00 0",
		},
		order: MonthFirst, orderBy: "clock", layout: "android",
	}, {
		name: "ios french",
		text: "[06/03/2024 14:05:33] Militants Lyon: \u200eLes messages et les appels sont chiffrés de bout en bout.\n" +
			"[06/03/2024 14:05:34] Marie Dupont: texte CANARY\n" +
			"\u200e[06/03/2024 14:06:00] Marie Dupont: \u200eimage absente\n" +
			"\u200e[06/03/2024 14:06:01] Marie Dupont: \u200e<pièce jointe : 00000012-PHOTO-2024-03-06-14-06-01.jpg>\n" +
			"[06/03/2024 14:07:00] Militants Lyon: \u200eMarie Dupont a ajouté Jean Martin\n" +
			"\u200e[06/03/2024 14:08:00] Jean Martin: \u200eCe message a été supprimé.\n" +
			"[06/03/2024 14:09:00] Jean Martin: \u200eAppel vocal manqué\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-06 14:05:34 %d", n("texte CANARY")),
			"message Marie Dupont 2024-03-06 14:06:00 0",
			"message Marie Dupont 2024-03-06 14:06:01 0",
			"join Jean Martin 2024-03-06 14:07:00 0",
		},
		order: DayFirst, orderBy: "language", layout: "ios",
	}, {
		name: "ios: a notice under an old title, a poll and a location are no text",
		text: "[06/03/2024 14:05:33] Ancien nom: \u200eMarie Dupont a ajouté Jean Martin\n" +
			"[06/03/2024 14:06:00] Marie Dupont: \u200eSONDAGE :\n\u200equestion CANARY\n\u200eOPTION : oui CANARY (1 vote)\n" +
			"[06/03/2024 14:07:00] Marie Dupont: \u200eLocation: https://maps.google.com/?q=CANARY\n",
		want: []string{
			"join Jean Martin 2024-03-06 14:05:33 0",
			"message Marie Dupont 2024-03-06 14:06:00 0",
			"message Marie Dupont 2024-03-06 14:07:00 0",
		},
		order: DayFirst, orderBy: "language", layout: "ios",
	}, {
		name: "ios english 12 h",
		text: "[3/6/24, 2:05:33 PM] Marie Dupont: text CANARY\n" +
			"\u200e[3/6/24, 2:06:10 PM] Marie Dupont: \u200e<attached: 00000012-PHOTO-2024-03-06-14-06-10.jpg>\n" +
			"[3/6/24, 2:07:00\u202fPM] Militants Lyon: \u200eMarie Dupont added Jean Martin\n" +
			"[3/6/24, 2:08:00 PM] Jean Martin: \u200eimage omitted\n" +
			"[3/6/24, 2:09:00 PM] Jean Martin: \u200eThis message was deleted.\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-06 14:05:33 %d", n("text CANARY")),
			"message Marie Dupont 2024-03-06 14:06:10 0",
			"join Jean Martin 2024-03-06 14:07:00 0",
			"message Jean Martin 2024-03-06 14:08:00 0",
		},
		order: MonthFirst, orderBy: "clock", layout: "ios",
	}, {
		name: "multi-line messages count their lines and breaks",
		text: "14/03/2024 10:00 - Marie Dupont: ligne un CANARY\nligne deux CANARY\n\ndernière CANARY\n" +
			"14/03/2024 10:01 - Jean Martin: <Médias omis>\nlégende CANARY\n" +
			"14/03/2024 10:02 - Jean Martin a ajouté Paul Durand\nCANARY after a notice\n" +
			"14/03/2024 10:03 - Jean Martin: Ce message a été supprimé\nCANARY after a deleted one\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-14 10:00:00 %d", n("ligne un CANARY\nligne deux CANARY\n\ndernière CANARY")),
			fmt.Sprintf("message Jean Martin 2024-03-14 10:01:00 %d", n("légende CANARY")),
			"join Paul Durand 2024-03-14 10:02:00 0",
		},
		order: DayFirst, orderBy: "dates", layout: "android",
	}, {
		name: "phone senders with and without marks are one member",
		text: "14/03/2024 10:00 - +33 6 12 34 56 78: un CANARY\n" +
			"\u200e14/03/2024 10:01 - \u202a+33 6 12 34 56 78\u202c: deux CANARY\n" +
			"14/03/2024 10:02 - +1 (555) 123-4567: three CANARY\n" +
			"14/03/2024 10:03 - +0 12: not a number CANARY\n",
		want: []string{
			fmt.Sprintf("message +33612345678 2024-03-14 10:00:00 %d", n("un CANARY")),
			fmt.Sprintf("message +33612345678 2024-03-14 10:01:00 %d", n("deux CANARY")),
			fmt.Sprintf("message +15551234567 2024-03-14 10:02:00 %d", n("three CANARY")),
			fmt.Sprintf("message +0 12 2024-03-14 10:03:00 %d", n("not a number CANARY")),
		},
		order: DayFirst, orderBy: "dates", layout: "android",
		check: func(t *testing.T, s Summary) {
			t.Helper()
			if s.Members != 3 {
				t.Errorf("members = %d, want 3", s.Members)
			}
		},
	}, {
		name: "mentions by name and number, only of members seen",
		text: "14/03/2024 10:00 - Marie Dupont: salut CANARY\n" +
			"14/03/2024 10:01 - +33 6 12 34 56 78: présent CANARY\n" +
			"14/03/2024 10:02 - Jean Martin: @Marie Dupont et @33612345678 CANARY\n" +
			"14/03/2024 10:03 - Jean Martin: @\u2068Marie Dupont\u2069 CANARY @Inconnu CANARY @Marie DupontCANARY mail@Marie Dupont\n" +
			"14/03/2024 10:04 - Jean Martin: CANARY\n@Jean Martin @33699999999 CANARY\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-14 10:00:00 %d", n("salut CANARY")),
			fmt.Sprintf("message +33612345678 2024-03-14 10:01:00 %d", n("présent CANARY")),
			fmt.Sprintf("message Jean Martin 2024-03-14 10:02:00 %d @Marie Dupont @+33612345678", n("@Marie Dupont et @33612345678 CANARY")),
			fmt.Sprintf("message Jean Martin 2024-03-14 10:03:00 %d @Marie Dupont", n("@Marie Dupont CANARY @Inconnu CANARY @Marie DupontCANARY mail@Marie Dupont")),
			fmt.Sprintf("message Jean Martin 2024-03-14 10:04:00 %d @Jean Martin", n("CANARY\n@Jean Martin @33699999999 CANARY")),
		},
		order: DayFirst, orderBy: "dates", layout: "android",
	}, {
		name: "ambiguous day order settled by a later line, day first",
		text: "03/06/2024 10:00 - Marie Dupont: un CANARY\n" +
			"05/06/2024 10:00 - Marie Dupont: deux CANARY\n" +
			"25/06/2024 10:00 - Marie Dupont: trois CANARY\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-06-03 10:00:00 %d", n("un CANARY")),
			fmt.Sprintf("message Marie Dupont 2024-06-05 10:00:00 %d", n("deux CANARY")),
			fmt.Sprintf("message Marie Dupont 2024-06-25 10:00:00 %d", n("trois CANARY")),
		},
		order: DayFirst, orderBy: "dates", layout: "android",
	}, {
		name: "ambiguous day order settled by a later line, month first, 24 h",
		text: "03/06/2024 10:00 - Marie Dupont: un CANARY\n" +
			"06/25/2024 10:00 - Marie Dupont: deux CANARY\n" +
			"25/06/2024 10:00 - Marie Dupont: text, not a date in this file CANARY\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-06 10:00:00 %d", n("un CANARY")),
			fmt.Sprintf("message Marie Dupont 2024-06-25 10:00:00 %d", n("deux CANARY\n25/06/2024 10:00 - Marie Dupont: text, not a date in this file CANARY")),
		},
		order: MonthFirst, orderBy: "dates", layout: "android",
	}, {
		name: "never settled, english 24 h: day first by default",
		text: "03/06/2024, 10:00 - Marie Dupont: un CANARY\n03/06/2024, 10:05 - Jean Martin left\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-06-03 10:00:00 %d", n("un CANARY")),
			"leave Jean Martin 2024-06-03 10:05:00 0",
		},
		order: DayFirst, orderBy: "default", layout: "android",
	}, {
		name: "never settled: the layout hint decides",
		text: "03/06/2024, 10:00 - Marie Dupont: un CANARY\n",
		opt:  func(o *Options) { o.Layout = MonthFirst },
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-06 10:00:00 %d", n("un CANARY")),
		},
		order: MonthFirst, orderBy: "layout", layout: "android",
	}, {
		name: "the dates beat the hint",
		text: "03/06/2024, 10:00 - Marie Dupont: un CANARY\n13/06/2024, 10:00 - Marie Dupont: deux CANARY\n",
		opt:  func(o *Options) { o.Layout = MonthFirst },
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-06-03 10:00:00 %d", n("un CANARY")),
			fmt.Sprintf("message Marie Dupont 2024-06-13 10:00:00 %d", n("deux CANARY")),
		},
		order: DayFirst, orderBy: "dates", layout: "android",
	}, {
		name: "since and before",
		text: "13/03/2024 23:59 - Marie Dupont: trop vieux CANARY\n" +
			"14/03/2024 00:00 - Marie Dupont: premier CANARY\n" +
			"15/03/2024 11:59 - Marie Dupont: dernier CANARY\n" +
			"15/03/2024 12:00 - Marie Dupont: déjà en direct CANARY\n" +
			"15/03/2024 12:01 - Jean Martin est parti\n",
		opt: func(o *Options) {
			o.Since = time.Date(2024, 3, 14, 0, 0, 0, 0, paris)
			o.Before = time.Date(2024, 3, 15, 12, 0, 0, 0, paris)
		},
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-14 00:00:00 %d", n("premier CANARY")),
			fmt.Sprintf("message Marie Dupont 2024-03-15 11:59:00 %d", n("dernier CANARY")),
		},
		order: DayFirst, orderBy: "dates", layout: "android",
		check: func(t *testing.T, s Summary) {
			t.Helper()
			if s.Filtered != 3 || s.Messages != 2 || !s.First.Equal(time.Date(2024, 3, 14, 0, 0, 0, 0, paris)) || !s.Last.Equal(time.Date(2024, 3, 15, 11, 59, 0, 0, paris)) {
				t.Errorf("summary %+v", s)
			}
		},
	}, {
		name: "edited notice, CRLF, byte order mark, LRM on every line, dotted dates",
		text: "\ufeff\u200e14.03.24, 10:00 - Marie Dupont: texte CANARY <Ce message a été modifié>\r\n" +
			"\u200e14.03.24, 10:01 - Jean Martin: text CANARY <This message was edited>\r\nsuite CANARY\r\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-14 10:00:00 %d", n("texte CANARY")),
			fmt.Sprintf("message Jean Martin 2024-03-14 10:01:00 %d", n("text CANARY\nsuite CANARY")),
		},
		order: DayFirst, orderBy: "dates", layout: "android",
	}, {
		name: "year first",
		text: "2024-03-06 14:05 - Marie Dupont: texte CANARY\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-06 14:05:00 %d", n("texte CANARY")),
		},
		order: YearFirst, orderBy: "format", layout: "android",
	}, {
		name: "a continuation shaped like the other layout is text",
		text: "14/03/2024 10:00 - Marie Dupont: copie CANARY\n[14/03/2024 10:01:00] Jean Martin: CANARY\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-14 10:00:00 %d", n("copie CANARY\n[14/03/2024 10:01:00] Jean Martin: CANARY")),
		},
		order: DayFirst, orderBy: "dates", layout: "android",
	}, {
		name: "truncated mid-line and mid-character",
		text: "14/03/2024 10:00 - Marie Dupont: un CANARY\n14/03/2024 10:01 - Jean Martin: deux CANARY é"[:len("14/03/2024 10:00 - Marie Dupont: un CANARY\n14/03/2024 10:01 - Jean Martin: deux CANARY é")-1],
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-14 10:00:00 %d", n("un CANARY")),
			fmt.Sprintf("message Jean Martin 2024-03-14 10:01:00 %d", n("deux CANARY ")),
		},
		order: DayFirst, orderBy: "dates", layout: "android",
	}, {
		name: "same sender, same minute: ordinals keep ids apart",
		text: "14/03/2024 10:00 - Marie Dupont: un CANARY\n14/03/2024 10:00 - Marie Dupont: deux CANARY\n14/03/2024 10:00 - Marie Dupont: <Médias omis>\n",
		want: []string{
			fmt.Sprintf("message Marie Dupont 2024-03-14 10:00:00 %d", n("un CANARY")),
			fmt.Sprintf("message Marie Dupont 2024-03-14 10:00:00 %d", n("deux CANARY")),
			"message Marie Dupont 2024-03-14 10:00:00 0",
		},
		order: DayFirst, orderBy: "dates", layout: "android",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := baseOptions()
			if tt.opt != nil {
				tt.opt(&opt)
			}
			evs, sum, err := read(t, formatMarks.Replace(tt.text), opt)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got := describe(evs); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if sum.DayOrder != tt.order || sum.DayOrderBy != tt.orderBy || sum.Layout != tt.layout {
				t.Errorf("order %v by %q layout %q, want %v by %q layout %q", sum.DayOrder, sum.DayOrderBy, sum.Layout, tt.order, tt.orderBy, tt.layout)
			}
			if tt.check != nil {
				tt.check(t, sum)
			}
			// A second import of the same file gives the same events, ids included.
			again, _, err := read(t, formatMarks.Replace(tt.text), opt)
			if err != nil {
				t.Fatalf("second Read: %v", err)
			}
			a, _ := json.Marshal(evs)
			b, _ := json.Marshal(again)
			if string(a) != string(b) {
				t.Errorf("second read differs:\n%s\n%s", a, b)
			}
		})
	}
}

// formatMarks writes the invisible marks WhatsApp puts around phone numbers (U+202A, U+202C)
// into fixtures that name them, so the test source shows them.
var formatMarks = strings.NewReplacer("<LRE>", "\u202a", "<PDF>", "\u202c")
