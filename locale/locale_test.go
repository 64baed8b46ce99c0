package locale

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nicksnyder/go-i18n/v2/i18n"
)

// placeholder is one thing a program fills into a message: a printf verb on an argument,
// or a template field.
type placeholder struct {
	arg   int
	verb  rune
	field string
}

var templateField = regexp.MustCompile(`{{-?\s*\.(\w+)`)

// placeholders lists what a message takes, numbering unindexed verbs as fmt does.
func placeholders(s string) map[placeholder]bool {
	out := map[placeholder]bool{}
	for _, m := range templateField.FindAllStringSubmatch(s, -1) {
		out[placeholder{field: m[1]}] = true
	}
	arg := 1
	index := func(i int) int {
		if i < len(s) && s[i] == '[' {
			end := strings.IndexByte(s[i:], ']')
			if n, err := strconv.Atoi(s[i+1 : i+end]); end > 0 && err == nil {
				arg = n
				return i + end + 1
			}
		}
		return i
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		i++
		if i < len(s) && s[i] == '%' {
			continue
		}
		for i < len(s) && strings.IndexByte("+-# 0", s[i]) >= 0 {
			i++
		}
		i = index(i)
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		i = index(i)
		if i < len(s) {
			out[placeholder{arg: arg, verb: rune(s[i])}] = true
			arg++
		}
	}
	return out
}

func forms(m *i18n.Message) map[string]string {
	out := map[string]string{}
	for name, f := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other} {
		if f != "" {
			out[name] = f
		}
	}
	return out
}

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		in   string
		want []placeholder
	}{
		{"%d autre groupe", []placeholder{{arg: 1, verb: 'd'}}},
		{"%[2]s : %[1]d jours (%%)", []placeholder{{arg: 1, verb: 'd'}, {arg: 2, verb: 's'}}},
		{"%s (%s, %s) : %d", []placeholder{{arg: 1, verb: 's'}, {arg: 2, verb: 's'}, {arg: 3, verb: 's'}, {arg: 4, verb: 'd'}}},
		{"%[3]d puis %s", []placeholder{{arg: 3, verb: 'd'}, {arg: 4, verb: 's'}}},
		{"{{.Count}} fois, %5.1f", []placeholder{{field: "Count"}, {arg: 1, verb: 'f'}}},
		{"rien", nil},
	}
	for _, tt := range tests {
		got := placeholders(tt.in)
		want := map[placeholder]bool{}
		for _, p := range tt.want {
			want[p] = true
		}
		if !maps.Equal(got, want) {
			t.Errorf("placeholders(%q) = %v, want %v", tt.in, got, want)
		}
	}
}

// TestMessagesMatch proves every language has every message of the default one, no
// other, with the same placeholders; and that the forms of a plural message take the same
// arguments (a form may leave out the count, never add one).
func TestMessagesMatch(t *testing.T) {
	c, err := messages()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.langs, "en") || c.langs[0] != Default {
		t.Fatalf("languages %v, want %s first and en", c.langs, Default)
	}
	ref := c.msgs[Default]
	if len(ref) < 100 {
		t.Fatalf("%s has %d messages: the file was not read whole", Default, len(ref))
	}
	for _, lang := range c.langs {
		msgs := c.msgs[lang]
		for _, id := range slices.Sorted(maps.Keys(ref)) {
			m := msgs[id]
			if m == nil {
				t.Errorf("%s.toml has no %s", lang, id)
				continue
			}
			if plural(m) != plural(ref[id]) && plural(m) {
				t.Errorf("%s: %s has plural forms, %s has none", lang, id, Default)
			}
			want := placeholders(ref[id].Other)
			if got := placeholders(m.Other); !maps.Equal(got, want) {
				t.Errorf("%s: %s takes %v, %s takes %v", lang, id, got, Default, want)
			}
			for name, f := range forms(m) {
				for p := range placeholders(f) {
					if !want[p] {
						t.Errorf("%s: %s form %s takes %v, which the message does not", lang, id, name, p)
					}
				}
			}
		}
		for id := range msgs {
			if ref[id] == nil {
				t.Errorf("%s.toml has %s, which %s.toml has not", lang, id, Default)
			}
		}
	}
}

// argsFor makes arguments of the right kinds for a message's placeholders (count first).
func argsFor(ps map[placeholder]bool) []any {
	n := 0
	for p := range ps {
		n = max(n, p.arg)
	}
	args := make([]any, n)
	for p := range ps {
		if p.arg == 0 {
			continue
		}
		if p.verb == 'd' {
			args[p.arg-1] = 7
		} else {
			args[p.arg-1] = "x"
		}
	}
	return args
}

// TestMessagesFormat proves every message, and every form of a plural one, formats with
// its arguments without a fmt complaint (%!d(string=x), %!(EXTRA …), %!(MISSING)).
func TestMessagesFormat(t *testing.T) {
	c, err := messages()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range c.langs {
		for id, m := range c.msgs[lang] {
			args := argsFor(placeholders(m.Other))
			if !plural(m) {
				if got := fmt.Sprintf(m.Other, args...); strings.Contains(got, "%!") {
					t.Errorf("%s: %s formats as %q", lang, id, got)
				}
				continue
			}
			p, err := PluralText(lang, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range pluralChecks {
				if len(args) == 0 || args[0] == nil {
					t.Errorf("%s: %s: a plural message without %%[1]d", lang, id)
					break
				}
				if got := p.N(n, args[1:]...); strings.Contains(got, "%!") {
					t.Errorf("%s: %s for %d formats as %q", lang, id, n, got)
				}
			}
		}
	}
}

// TestPluralForms proves every message with plural forms in the default language has,
// in every language, each form the language's CLDR rules ask for.
func TestPluralForms(t *testing.T) {
	c, err := messages()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for id, m := range c.msgs[Default] {
		if !plural(m) {
			continue
		}
		n++
		for _, lang := range c.langs {
			if _, err := PluralText(lang, id); err != nil {
				t.Error(err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no plural messages")
	}
}

func TestPluralRendering(t *testing.T) {
	tests := []struct {
		lang, id string
		count    int
		args     []any
		want     string
	}{
		{"fr", "dashboard.DayCount", 0, nil, "0 jour"},
		{"fr", "dashboard.DayCount", 1, nil, "1 jour"},
		{"fr", "dashboard.DayCount", 2, nil, "2 jours"},
		{"fr", "dashboard.DayCount", 21, nil, "21 jours"},
		{"fr", "dashboard.DayCount", 1_000_000, nil, "1000000 de jours"},
		{"en", "dashboard.DayCount", 0, nil, "0 days"},
		{"en", "dashboard.DayCount", 1, nil, "1 day"},
		{"en", "dashboard.DayCount", 21, nil, "21 days"},
		{"fr", "organisers.OtherGroups", 1, nil, "1 autre groupe"},
		{"fr", "organisers.OtherGroups", 3, nil, "3 autres groupes"},
		{"en", "organisers.OtherGroups", 1, nil, "1 other group"},
		{"fr", "organisers.ChartCaption", 14, []any{"Nord"}, "📈 Nord : 14 derniers jours"},
		{"en", "organisers.ChartCaption", 1, []any{"North"}, "📈 North: last 1 day"},
		{"fr", "dashboard.ActivityHelp", 1, nil, "le dernier jour, aujourd'hui à droite"},
		{"fr", "dashboard.ActivityHelp", 30, nil, "les 30 derniers jours, aujourd'hui à droite"},
		{"en", "commands.ActiveTitle", 1, []any{"30 days"}, "The most active member over 30 days:"},
	}
	for _, tt := range tests {
		p, err := PluralText(tt.lang, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.N(tt.count, tt.args...); got != tt.want {
			t.Errorf("%s %s N(%d) = %q, want %q", tt.lang, tt.id, tt.count, got, tt.want)
		}
	}
	if got := (Plural{}).N(3); got != "3" {
		t.Errorf("empty plural says %q, want the bare count", got)
	}
}

func TestLang(t *testing.T) {
	for in, want := range map[string]string{"": Default, "fr": "fr", " EN ": "en"} {
		if got, err := Lang(in); err != nil || got != want {
			t.Errorf("Lang(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	_, err := Lang("xx")
	if err == nil || !strings.Contains(err.Error(), "want one of fr, ") || !strings.Contains(err.Error(), "en") {
		t.Errorf("Lang(xx) = %v, want an error naming fr first, and en", err)
	}
	if got := Languages(); got[0] != Default || !slices.Contains(got, "en") {
		t.Errorf("Languages() = %v, want fr first, and en", got)
	}
}

func TestText(t *testing.T) {
	if s, err := Text("en", "commands.Unknown"); err != nil || s != "I do not know that command." {
		t.Errorf("Text(en, commands.Unknown) = %q, %v", s, err)
	}
	if _, err := Text("fr", "commands.Nothing"); err == nil || !strings.Contains(err.Error(), "commands.Nothing") {
		t.Errorf("a missing message gave %v, want an error naming it", err)
	}
	if _, err := Text("fr", "dashboard.DayCount"); err == nil {
		t.Error("a plural message read without its count gave no error")
	}
	if _, err := PluralText("en", "commands.Unknown"); err == nil {
		t.Error("a text without plural forms passed as plural in English")
	}
}

func TestFill(t *testing.T) {
	type days struct {
		Lang    string `locale:"-"`
		Colon   string
		Count   Plural   `locale:"DayCount"`
		Days    []string `locale:"Days"`
		private string
	}
	var d days
	if err := Fill("en", "dashboard", &d); err != nil {
		t.Fatal(err)
	}
	if d.Lang != "" || d.private != "" || d.Colon != ": " || d.Count.N(2) != "2 days" || len(d.Days) != 7 || d.Days[0] != "Mon" {
		t.Errorf("filled %+v", d)
	}
	var missing struct{ Nothing string }
	if err := Fill("fr", "dashboard", &missing); err == nil || !strings.Contains(err.Error(), "dashboard.Nothing") {
		t.Errorf("a missing message gave %v, want an error naming it", err)
	}
	var wrong struct{ Colon int }
	if err := Fill("fr", "dashboard", &wrong); err == nil {
		t.Error("an int field was filled")
	}
	var notPlural struct {
		Colon Plural
	}
	if err := Fill("en", "dashboard", &notPlural); err == nil {
		t.Error("a plain text filled a plural field")
	}
	if err := Fill("fr", "dashboard", d); err == nil {
		t.Error("a struct value (not a pointer) was accepted")
	}
	if err := Fill("xx", "dashboard", &d); err == nil {
		t.Error("a language without a file was accepted")
	}
}
