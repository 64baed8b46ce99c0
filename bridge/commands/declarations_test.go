package commands

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bridge/commands/campaigns"
	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/locale"
)

// declaredSet is the set of every command a handler declares. The functions are bound to a
// handler without stores: only the declarations are read.
func declaredSet(t testing.TB) *command.Set {
	t.Helper()
	off, err := campaigns.New(campaigns.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := command.NewSet((&Handler{camp: off}).declarations()...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestEveryCommandIsDeclared lists every command with its declaration and fails when a
// command events parses is handled without one, when a declaration and events disagree on
// names or argument, or when a listed command lacks its help in a language.
func TestEveryCommandIsDeclared(t *testing.T) {
	set := declaredSet(t)
	var table strings.Builder
	fmt.Fprintf(&table, "%-20s %-11s %-8s %-7s %s\n", "names", "who", "rate", "arg", "help (fr)")
	for _, s := range set.All() {
		help := "(button, not in /aide)"
		if s.Listed {
			help = mustHelp(t, "fr").Line(s.Key)
		}
		fmt.Fprintf(&table, "%-20s %-11v %-8v %-7v %s\n", strings.Join(s.Names, ","), s.Who, s.Rate, s.Arg, help)
	}
	t.Logf("declared commands:\n%s", table.String())

	// Every row of events' table (what adapters call a command) is one declaration, with
	// the same names and argument.
	for _, row := range events.KnownCommands() {
		spec, ok := set.Lookup(row.Names[0])
		if !ok {
			t.Errorf("events parses /%s, no declaration handles it", row.Names[0])
			continue
		}
		if !slices.Equal(spec.Names, row.Names) {
			t.Errorf("/%s: events names %v, declared %v", row.Names[0], row.Names, spec.Names)
		}
		if spec.Arg != row.Arg {
			t.Errorf("/%s: events keeps %v, declared %v", row.Names[0], row.Arg, spec.Arg)
		}
	}
	if got, want := len(set.All()), len(events.KnownCommands()); got != want {
		t.Errorf("%d declarations for %d commands events knows", got, want)
	}

	// Rights are never limited; what reveals other people is the organisers'.
	for _, key := range []string{"oui", "stop", "oubli", "moi"} {
		if s, _ := set.Lookup(key); s.Rate != command.Right || s.Who != command.Anyone {
			t.Errorf("/%s is a member's right: declared %v, %v", key, s.Who, s.Rate)
		}
	}
	for _, key := range []string{"stats", "actifs", "relais", "fiche", "sync", "bilan", "tableau", "mobiliser", "campagnes", "campagne", "envoyer", "annuler"} {
		if s, _ := set.Lookup(key); s.Who == command.Anyone {
			t.Errorf("/%s names or counts other people: open to anyone", key)
		}
	}

	// Help: each listed command has a line in every language; usage only for an argument.
	for _, lang := range locale.Languages() {
		h := mustHelp(t, lang)
		for _, s := range set.All() {
			if s.Listed && strings.TrimSpace(h.Line(s.Key)) == "" {
				t.Errorf("%s: /%s is listed in /aide without a help line", lang, s.Key)
			}
			if h.Usage(s.Key) != "" && s.Arg == events.ArgNone {
				t.Errorf("%s: usage for /%s, which takes no argument", lang, s.Key)
			}
		}
	}
}

func mustHelp(t testing.TB, lang string) helpTexts {
	t.Helper()
	h, err := helpTextsFor(lang)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestNewSetRefusesBadDeclarations: a declaration missing what /aide, the gate or the
// dispatch needs does not start.
func TestNewSetRefusesBadDeclarations(t *testing.T) {
	good := command.Spec{Key: "stop", Names: []string{"stop", "arret"}, Who: command.Anyone, Rate: command.Right,
		Arg: events.ArgNone, Run: (&Handler{}).rightsCommands()[2].Run}
	if _, err := command.NewSet(good); err != nil {
		t.Fatalf("good declaration refused: %v", err)
	}
	tests := []struct {
		name string
		edit func(*command.Spec)
	}{
		{"no key", func(s *command.Spec) { s.Key = "" }},
		{"no names", func(s *command.Spec) { s.Names = nil }},
		{"no who", func(s *command.Spec) { s.Who = 0 }},
		{"no rate", func(s *command.Spec) { s.Rate = 0 }},
		{"no function", func(s *command.Spec) { s.Run = nil }},
		{"name events does not parse", func(s *command.Spec) { s.Names = []string{"stop", "halte"} }},
		{"argument events does not keep", func(s *command.Spec) { s.Arg = events.ArgCount }},
		{"English name not among names", func(s *command.Spec) { s.English = "halt" }},
		{"a right for organisers only", func(s *command.Spec) { s.Who = command.Organisers }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			if _, err := command.NewSet(s); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := command.NewSet(good, good); err == nil {
		t.Error("a command declared twice was accepted")
	}
}

// TestReadmeListsEveryCommand: the README's tables of chat commands name each command /aide
// lists, French name first and the English one beside it, in the table of who may run it.
func TestReadmeListsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table := map[command.Who]string{command.Anyone: "| everyone |", command.Organisers: "| organisers (",
		command.Admins: "| admins (`RELAIS_ADMINS`) |"}
	for _, s := range declaredSet(t).All() {
		if !s.Listed {
			continue
		}
		start := bytes.Index(readme, []byte(table[s.Who]))
		if start < 0 {
			t.Fatalf("README has no table for %v", s.Who)
		}
		rows := readme[start:]
		if end := bytes.Index(rows, []byte("\n\n")); end >= 0 {
			rows = rows[:end]
		}
		found := false
		for _, row := range strings.Split(string(rows), "\n") {
			if !strings.HasPrefix(row, "| `/"+s.Names[0]+"`") && !strings.HasPrefix(row, "| `/"+s.Names[0]+" ") {
				continue
			}
			found = true
			if en := s.Name("en"); en != s.Names[0] && !strings.Contains(row, "(`/"+en+"`)") {
				t.Errorf("README row of /%s lacks its English name /%s: %s", s.Names[0], en, row)
			}
		}
		if !found {
			t.Errorf("README's %v table lacks /%s", s.Who, s.Names[0])
		}
	}
}
