package campaigns

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

func TestParseMobilise(t *testing.T) {
	tests := []struct {
		name, arg string
		spec      audienceSpec
		text      string
	}{
		{"text only: leaders of every group", "Samedi tractage", audienceSpec{leaders: true}, "Samedi tractage"},
		{"audience line", "actifs\nVenez samedi", audienceSpec{actives: true}, "Venez samedi"},
		{"both, in two groups", "tous dans Quartier Nord, Belleville\nRéunion jeudi\n19h",
			audienceSpec{leaders: true, actives: true, groups: []string{"Quartier Nord", "Belleville"}}, "Réunion jeudi\n19h"},
		{"English words", "leaders in North\nCome on Saturday", audienceSpec{leaders: true, groups: []string{"North"}}, "Come on Saturday"},
		{"audience line without message", "leaders dans Nord", audienceSpec{leaders: true, groups: []string{"Nord"}}, ""},
		{"a first line that is not an audience is the message", "Leaders du quartier, venez\nsamedi",
			audienceSpec{leaders: true}, "Leaders du quartier, venez\nsamedi"},
		{"empty", "", audienceSpec{leaders: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, text := parseMobilise(tt.arg)
			if !reflect.DeepEqual(spec, tt.spec) || text != tt.text {
				t.Errorf("parseMobilise(%q) = %+v, %q; want %+v, %q", tt.arg, spec, text, tt.spec, tt.text)
			}
		})
	}
}

// FuzzParseMobilise: any organiser text gives an audience (someone to address) and a message
// that is part of the text; the slug derived from it is always a valid slug.
func FuzzParseMobilise(f *testing.F) {
	for _, s := range []string{"Samedi", "tous dans A, B\nx", "actifs\n", "leaders in ,,,\n\n", "\xff\nÉté 2026 !"} {
		f.Add(s, "telegram:dm:1:2")
	}
	f.Fuzz(func(t *testing.T, arg, eventID string) {
		spec, text := parseMobilise(arg)
		if !spec.leaders && !spec.actives {
			t.Fatalf("%q addresses nobody", arg)
		}
		if !strings.Contains(arg, text) {
			t.Fatalf("%q: message %q is not from the text", arg, text)
		}
		for _, g := range spec.groups {
			if g == "" || strings.Contains(g, ",") {
				t.Fatalf("%q: group %q", arg, g)
			}
		}
		if slug := Slug(eventID, text); !events.ValidSlug(slug) || !utf8.ValidString(slug) {
			t.Fatalf("Slug(%q) = %q", text, slug)
		}
	})
}

func TestCampaignSlug(t *testing.T) {
	a := Slug("telegram:dm:1:5", "Samedi : tractage au marché !")
	if !strings.HasPrefix(a, "samedi-tractage-") || !events.ValidSlug(a) {
		t.Errorf("slug %q", a)
	}
	// At least 64 bits tell campaigns that start alike apart: 16 hex digits.
	if suffix := a[strings.LastIndexByte(a, '-')+1:]; len(suffix) < 16 {
		t.Errorf("slug %q carries %d bits, want at least 64", a, 4*len(suffix))
	}
	if b := Slug("telegram:dm:1:5", "Samedi : tractage au marché !"); b != a {
		t.Errorf("a redelivered /mobiliser gets another slug: %q then %q", a, b)
	}
	if c := Slug("telegram:dm:1:6", "Samedi : tractage au marché !"); c == a {
		t.Errorf("two campaigns share slug %q", a)
	}
	if d := Slug("x", "🌹🌹"); !events.ValidSlug(d) {
		t.Errorf("slug of a text without letters: %q", d)
	}
}
