package commands

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/locale"
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
// TestTextsFilled proves every text of the bot is there in every language with a message
// file, and that the help texts name only commands that exist.
func TestTextsFilled(t *testing.T) {
	set := declaredSet(t)
	for _, lang := range locale.Languages() {
		c, err := CatalogueFor(lang)
		if err != nil {
			t.Fatal(err)
		}
		org, err := orgTextsFor(lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []any{c, org} {
			rv := reflect.ValueOf(v)
			for i := range rv.NumField() {
				if rv.Field(i).IsZero() {
					t.Errorf("%s: %s.%s is empty", lang, rv.Type().Name(), rv.Type().Field(i).Name)
				}
			}
		}
		// Every command the texts mention exists.
		cmd := regexp.MustCompile(`/([a-z_]+)`)
		help := mustHelp(t, lang)
		text := strings.Join([]string{help.Intro, c.Notice, c.NoticeOptIn, c.NoticeNotice}, "\n")
		for _, s := range set.All() {
			text += "\n" + help.Line(s.Key)
		}
		for _, m := range cmd.FindAllStringSubmatch(text, -1) {
			if _, ok := set.Lookup(m[1]); !ok {
				t.Errorf("%s text mentions /%s, which is no command", c.Lang, m[1])
			}
		}
	}
	if _, err := CatalogueFor("xx"); err == nil {
		t.Error("unknown language accepted")
	}
	if c, err := CatalogueFor(""); err != nil || c.Lang != "fr" {
		t.Errorf("no language gave %q, %v, want fr", c.Lang, err)
	}
}

// TestTextsPlural proves the texts that count say one or many as the language does.
func TestTextsPlural(t *testing.T) {
	fr, _ := CatalogueFor("fr")
	en, _ := CatalogueFor("en")
	frOrg, _ := orgTextsFor("fr")
	enOrg, _ := orgTextsFor("en")
	tests := []struct{ got, want string }{
		{fr.Days.N(1), "1 jour"},
		{fr.Days.N(21), "21 jours"},
		{en.Days.N(1), "1 day"},
		{en.Days.N(21), "21 days"},
		{fr.StatsMore.N(1), "… et 1 autre groupe."},
		{fr.StatsMore.N(4), "… et 4 autres groupes."},
		{en.StatsMore.N(1), "… and 1 more group."},
		{fr.MyDataFooter.N(1), "Aucun contenu de message n'est conservé. Tout est effacé après 1 jour au plus. /oubli pour tout effacer maintenant."},
		{en.LabelMessages.N(30), "Messages (last 30 days)"},
		{fr.ActiveTitle.N(1, fr.Days.N(30)), "Le membre le plus actif sur 30 jours :"},
		{fr.ActiveTitle.N(5, fr.Days.N(1)), "Les 5 membres les plus actifs sur 1 jour :"},
		{en.LeadersTitle.N(2, en.Days.N(21)), "The 2 relays over 21 days, by how many people replied to or mentioned them:"},
		{fmt.Sprintf(fr.StatsGroupLine, "Nord", fr.MemberCount.N(1), fr.ActiveCount.N(0), ""), "• Nord : 1 membre, 0 actif (30 j) "},
		{fmt.Sprintf(en.StatsGroupLine, "North", en.MemberCount.N(12), en.ActiveCount.N(1), ""), "• North: 12 members, 1 active (30 d) "},
		{frOrg.OtherGroups.N(2), "2 autres groupes"},
		{enOrg.OtherGroups.N(1), "1 other group"},
		{frOrg.DashboardLink.N(1, "https://x/"), "Votre tableau de bord : https://x/\nLe lien ne sert qu'une fois, pendant 1 minute. Ne le partagez pas."},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
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
