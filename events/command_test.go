package events

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text string
		ok   bool
		want Command
	}{
		{"/stats", true, Command{Name: "stats"}},
		{"/stats@relais_bot Belleville", true, Command{Name: "stats", Args: []string{"Belleville"}}},
		{"/STATS@Relais_Bot", true, Command{Name: "stats"}},
		{"/stats@other_bot", false, Command{}},
		{"!relais 5", true, Command{Name: "relais", Args: []string{"5"}, Bang: true}},
		{"  /aide", true, Command{Name: "aide"}},
		{`/fiche "Camille Martin"`, true, Command{Name: "fiche", Args: []string{"Camille Martin"}}},
		{"/fiche «Élodie Dupré» 🙂", true, Command{Name: "fiche", Args: []string{"Élodie Dupré", "🙂"}}},
		{"/fiche 'Zoé", true, Command{Name: "fiche", Args: []string{"Zoé"}}},
		{"/fiche @nadia", true, Command{Name: "fiche", Args: []string{"@nadia"}}},
		{"hello /stats", false, Command{}},
		{"/", false, Command{}},
		{"!", false, Command{}},
		{"/été", false, Command{}},
		{"//", false, Command{}},
		{"/a-b", false, Command{}},
		{"/stats\n3", true, Command{Name: "stats", Args: []string{"3"}}},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			got, ok := ParseCommand(tc.text, "relais_bot")
			if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseCommand(%q) = %+v, %v; want %+v, %v", tc.text, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseCommandWithoutBotName(t *testing.T) {
	if _, ok := ParseCommand("/stats@relais_bot", ""); ok {
		t.Fatal("a command addressed to a named bot is not ours when we have no name")
	}
	if c, ok := ParseCommand("!oui", ""); !ok || c.Name != "oui" || !c.Bang {
		t.Fatalf("got %+v %v", c, ok)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/stats", "/fiche \"a b\" c", "!oubli", "/x@relais_bot «y", "/\xff", "/a 🙂🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, ok := ParseCommand(text, "relais_bot")
		if !ok {
			return
		}
		if !validCommandName(c.Name) {
			t.Fatalf("invalid name %q", c.Name)
		}
		if len(c.Args) > maxArgs {
			t.Fatalf("%d args", len(c.Args))
		}
		for _, a := range c.Args {
			if a == "" || !utf8.ValidString(a) || utf8.RuneCountInString(a) > maxArgLen {
				t.Fatalf("bad arg %q", a)
			}
		}
	})
}
