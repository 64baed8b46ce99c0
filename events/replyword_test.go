package events

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseReplyWord(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"1", "jerelaie"},
		{"  Je relaie ! ", "jerelaie"},
		{"JE RELAIE", "jerelaie"},
		{"2", "pascettefois"},
		{"Pas cette fois.", "pascettefois"},
		{"3", "neplusmesolliciter"},
		{"Ne plus me solliciter", "neplusmesolliciter"},
		{"ENVOYER", "envoyer"},
		{"annuler", "annuler"},
		{"Annulér", "annuler"},
		{"oui", ""},
		{"je relaie demain au marché", ""},
		{"12", ""},
		{"", ""},
		{strings.Repeat("1 ", 40), ""},
	}
	for _, tt := range tests {
		c, ok := ParseReplyWord(tt.text)
		if ok != (tt.want != "") || c.Name != tt.want {
			t.Errorf("ParseReplyWord(%q) = %q, %v; want %q", tt.text, c.Name, ok, tt.want)
		}
		if ok {
			if _, known := CommandArg(c.Name); !known || len(c.Args) != 0 {
				t.Errorf("ParseReplyWord(%q) gives %+v: not a known command without argument", tt.text, c)
			}
		}
	}
}

// FuzzParseReplyWord: any text gives nothing or a known command without argument, never a
// word of the text.
func FuzzParseReplyWord(f *testing.F) {
	for _, s := range []string{"1", "Je relaie", "ENVOYER", "pas cette fois", "\xff", "ne plus\tme solliciter"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, ok := ParseReplyWord(text)
		if !ok {
			if c.Name != "" {
				t.Fatalf("not ok but %+v", c)
			}
			return
		}
		if _, known := CommandArg(c.Name); !known || len(c.Args) != 0 || !utf8.ValidString(c.Name) {
			t.Fatalf("%q gives %+v", text, c)
		}
	})
}
