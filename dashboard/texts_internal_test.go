package dashboard

import (
	"reflect"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bridge"
)

// TestPeopleSayPlurals proves the why of a listed member counts as the language does:
// "61 messages sur 21 jours", "1 message sur 1 jour", never "jour(s)".
func TestPeopleSayPlurals(t *testing.T) {
	words, err := textsFor()
	if err != nil {
		t.Fatal(err)
	}
	cards := []bridge.MemberCard{
		{Name: "A", Messages: 61, ActiveDays: 21, People: 4},
		{Name: "B", Messages: 1, ActiveDays: 1, People: 1},
		{Name: "C", Messages: 0, ActiveDays: 0, People: 0},
	}
	tests := []struct {
		lang    string
		leaders bool
		want    []string
	}{
		{"fr", false, []string{"61 messages sur 21 jours", "1 message sur 1 jour", "0 message sur 0 jour"}},
		{"en", false, []string{"61 messages on 21 days", "1 message on 1 day", "0 messages on 0 days"}},
		{"fr", true, []string{
			"4 personnes différentes lui ont répondu ou ont mentionné son nom",
			"1 personne lui a répondu ou a mentionné son nom",
			"0 personne lui a répondu ou a mentionné son nom",
		}},
		{"en", true, []string{
			"4 different people replied to them or mentioned their name",
			"1 person replied to them or mentioned their name",
			"0 different people replied to them or mentioned their name",
		}},
	}
	for _, tt := range tests {
		rows := (&Server{}).people(words[tt.lang], cards, tt.leaders)
		for i, want := range tt.want {
			if rows[i].Why != want {
				t.Errorf("%s, leaders %v: %q, want %q", tt.lang, tt.leaders, rows[i].Why, want)
			}
		}
	}
}

// TestTextsFilled proves every word of the dashboard is there in every language, and
// that each offers a language that exists.
func TestTextsFilled(t *testing.T) {
	words, err := textsFor()
	if err != nil {
		t.Fatal(err)
	}
	if len(words) < 2 {
		t.Fatalf("%d languages, want fr and en at least", len(words))
	}
	for lang, w := range words {
		if _, ok := words[w.Other]; !ok || w.Other == lang {
			t.Errorf("%s offers %q, not another language", lang, w.Other)
		}
		v := reflect.ValueOf(w)
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Errorf("%s: %s is empty", lang, v.Type().Field(i).Name)
			}
		}
		if strings.Contains(w.LoggedOut, "(e)") || strings.Contains(w.OtherGroups.N(2), "(s)") {
			t.Errorf("%s guesses a plural or a gender", lang)
		}
	}
}
