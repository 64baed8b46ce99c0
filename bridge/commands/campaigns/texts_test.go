package campaigns

import (
	"reflect"
	"testing"

	"github.com/relais-bot/relais/locale"
)

// TestTextsFilled: every campaign text is in every language's message file.
func TestTextsFilled(t *testing.T) {
	for _, lang := range locale.Languages() {
		txt, err := campaignTextsFor(lang)
		if err != nil {
			t.Fatal(err)
		}
		rv := reflect.ValueOf(txt)
		for i := range rv.NumField() {
			if rv.Field(i).IsZero() {
				t.Errorf("%s: CampaignTexts.%s is empty", lang, rv.Type().Field(i).Name)
			}
		}
	}
	if _, err := campaignTextsFor("xx"); err == nil {
		t.Error("a language without message file accepted")
	}
}
