package commands

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

func TestListSize(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{nil, defaultListSize},
		{[]string{"3"}, 3},
		{[]string{" 7 "}, 7},
		{[]string{"0"}, defaultListSize},
		{[]string{"-4"}, defaultListSize},
		{[]string{"trois"}, defaultListSize},
		{[]string{"3.5"}, defaultListSize},
		{[]string{"50"}, 50},
		{[]string{"51"}, maxListSize},
		{[]string{"99999999999999999999999"}, defaultListSize},
		{[]string{"12", "extra"}, 12},
	}
	for _, tt := range tests {
		if got := listSize(tt.args); got != tt.want {
			t.Errorf("listSize(%q) = %d, want %d", tt.args, got, tt.want)
		}
	}
}

func TestSearchText(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"  "}, ""},
		{[]string{"Jean", "Dupont"}, "Jean Dupont"},
		{[]string{"Zoé  Lefèvre 🌻"}, "Zoé Lefèvre 🌻"},
		{[]string{"@camille_m"}, "@camille_m"},
		{[]string{strings.Repeat("é", 200)}, strings.Repeat("é", maxQueryRunes)},
	}
	for _, tt := range tests {
		if got := searchText(tt.args); got != tt.want {
			t.Errorf("searchText(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

// FuzzCommandArguments feeds whole command texts through the shared parser, then through
// the argument handling of /actifs, /relais, /fiche and /stats.
func FuzzCommandArguments(f *testing.F) {
	for _, s := range []string{"/actifs 5", "/relais 999999", "!fiche «Zoé Lefèvre»", "/fiche @camille_m",
		"/stats \"Lyon 3e\"", "/actifs -1", "/fiche 🌻🌻 'x", "/actifs\t\t12", "/fiche \xff\xfe"} {
		f.Add(s)
	}
	declared := declaredSet(f)
	f.Fuzz(func(t *testing.T, text string) {
		c, ok := events.ParseCommand(text, "relais_bot")
		if !ok {
			return
		}
		n := listSize(c.Args)
		if n < 1 || n > maxListSize {
			t.Fatalf("listSize(%q) = %d", c.Args, n)
		}
		q := searchText(c.Args)
		if !utf8.ValidString(q) || utf8.RuneCountInString(q) > maxQueryRunes || q != strings.TrimSpace(q) {
			t.Fatalf("searchText(%q) = %q", c.Args, q)
		}
		if _, known := declared.Lookup(c.Name); !known {
			t.Fatalf("events parses /%s, no declaration answers it", c.Name)
		}
	})
}

func TestLimiterEvictsAndStaysBounded(t *testing.T) {
	l := newLimiter(5, 100)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		if !l.allow(fmt.Sprint("m", i), "ev", now) {
			t.Fatalf("fresh member %d refused", i)
		}
		if len(l.members) > 100 {
			t.Fatalf("limiter holds %d members", len(l.members))
		}
	}
	// Idle members go first: a busy one keeps its state.
	l = newLimiter(5, 100)
	for i := range 99 {
		l.allow(fmt.Sprint("idle", i), "ev", now)
	}
	later := now.Add(time.Hour)
	for i := range 5 {
		l.allow("busy", fmt.Sprint("ev", i), later)
	}
	l.allow("newcomer", "ev", later) // the map is full: the idle members make room
	if len(l.members) != 2 {
		t.Errorf("after eviction %d members, want busy and newcomer", len(l.members))
	}
	if l.allow("busy", "ev-next", later) {
		t.Error("busy member's sixth command allowed, want limited")
	}
}

func TestLimiterRedeliveryGetsTheSameDecision(t *testing.T) {
	l := newLimiter(2, 100)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b", "a", "b", "a"} {
		if !l.allow("m", id, now) {
			t.Fatalf("command %s (or its redelivery) refused: a redelivery must not spend the allowance", id)
		}
	}
	if l.allow("m", "c", now) {
		t.Fatal("third distinct command allowed with a burst of 2")
	}
	for range 3 {
		if l.allow("m", "c", now) {
			t.Fatal("a refused command's redelivery allowed")
		}
	}
	// The memory of decisions is bounded per member.
	for i := range 3 * seenPerMember {
		l.allow("m", fmt.Sprint("x", i), now)
	}
	if n := len(l.members["m"].seen); n > seenPerMember || n != len(l.members["m"].ids) {
		t.Fatalf("limiter remembers %d decisions (%d ids), bound %d", n, len(l.members["m"].ids), seenPerMember)
	}
}

// verbs lists the positional verbs of a format string, sorted.
var verbPattern = regexp.MustCompile(`%\[\d+\][sdv]`)

func verbs(s string) []string {
	v := verbPattern.FindAllString(s, -1)
	slices.Sort(v)
	return slices.Compact(v)
}

func TestCataloguesMatch(t *testing.T) {
	fr, en := reflect.ValueOf(French()), reflect.ValueOf(English())
	for i := range fr.NumField() {
		name := fr.Type().Field(i).Name
		a, b := fr.Field(i).String(), en.Field(i).String()
		if a == "" || b == "" {
			t.Errorf("%s is empty in a catalogue", name)
		}
		if !slices.Equal(verbs(a), verbs(b)) {
			t.Errorf("%s: fr takes %v, en takes %v", name, verbs(a), verbs(b))
		}
		if strings.Contains(a, "%") && !strings.Contains(a, "%[") {
			t.Errorf("%s: use positional verbs", name)
		}
	}
	if _, err := CatalogueFor("de"); err == nil {
		t.Error("unknown language accepted")
	}
	// Every command the texts mention exists.
	cmd := regexp.MustCompile(`/([a-z_]+)`)
	set := declaredSet(t)
	for _, c := range []Catalogue{French(), English()} {
		h := helpTextsFor(c.Lang)
		text := strings.Join([]string{h.Intro, c.Notice, c.NoticeOptIn, c.NoticeNotice}, "\n")
		for _, l := range h.Line {
			text += "\n" + l
		}
		for _, m := range cmd.FindAllStringSubmatch(text, -1) {
			if _, ok := set.Lookup(m[1]); !ok {
				t.Errorf("%s text mentions /%s, which is no command", c.Lang, m[1])
			}
		}
	}
}

func TestSparkline(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0, 0, 0}, "▁▁▁"},
		{[]int{5}, "█"},
		{[]int{1, 2, 3, 4, 5, 6, 7}, "▂▃▄▅▆▇█"},
		{[]int{-3, 0, 100}, "▁▁█"},
		{[]int{1, 1000}, "▂█"},
	}
	for _, tt := range tests {
		if got := Sparkline(tt.in); got != tt.want {
			t.Errorf("Sparkline(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
