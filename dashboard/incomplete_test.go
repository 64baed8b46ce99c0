package dashboard_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// TestIncompleteScopeSaysSo: an organiser whose scope the platform could not complete sees,
// on every page, which groups are missing; the missing group's page says to try again
// rather than "not found", and shows none of its figures.
func TestIncompleteScopeSaysSo(t *testing.T) {
	r := newRig(t, "")
	c := r.client()
	if resp, _ := r.login(c, r.link(scope.Who{Platform: events.Telegram, ID: "partial"})); resp.StatusCode != http.StatusOK {
		t.Fatal("login")
	}
	tests := []struct {
		path, want string
		code       int
	}{
		{"/tableau/", "pas pu confirmer votre présence dans : " + groupB.Title + ", 1 autre groupe", http.StatusOK},
		{"/tableau/?lang=en", "could not confirm you are in: " + groupB.Title + ", 1 other group", http.StatusOK},
		// Never known to be theirs: the group is "not found", like any other not theirs.
		{"/tableau/groupe/gB", "", http.StatusNotFound},
		{"/tableau/groupe/gN", "pas pu confirmer votre présence dans : " + groupB.Title, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		res := r.do(c, http.MethodGet, r.http.URL+tt.path, nil)
		if res.code != tt.code || !strings.Contains(res.body, tt.want) {
			t.Errorf("%s answered %d, want %d with %q:\n%s", tt.path, res.code, tt.code, tt.want, res.body)
		}
		if strings.Contains(res.body, "Groupe inconnu") {
			t.Errorf("%s names an unchecked group the organiser was never known to be in:\n%s", tt.path, res.body)
		}
		if strings.Contains(res.body, cardB.Name) || strings.Contains(res.body, "99") {
			t.Errorf("%s shows what is in the unchecked group:\n%s", tt.path, res.body)
		}
	}
	if res := r.do(c, http.MethodGet, r.http.URL+"/tableau/", nil); !strings.Contains(res.body, groupA.Title) || !strings.Contains(res.body, cardA.Name) {
		t.Errorf("the checked group is not shown:\n%s", res.body)
	}
	a := r.client()
	if _, body := r.login(a, r.link(scope.Who{Platform: events.Telegram, ID: "a"})); strings.Contains(body, `id="unchecked"`) {
		t.Errorf("a complete scope is said incomplete:\n%s", body)
	}
}
