package dashboard

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/locale"
)

// texts are the dashboard's words in one language, filled from the message file group
// "dashboard" (package locale).
type texts struct {
	Lang string `locale:"-"`
	// Other is the language the page offers to switch to, OtherLang its name.
	Other                                                   string `locale:"OtherCode"`
	Title, OtherLang                                        string
	Login, LoginHelp, LinkInvalid, NeedLink, SessionExpired string
	Code, Refused                                           string
	LoggedOut, Logout, Unavailable, NotFound                string
	Admin, Organiser, ScopeAll, ScopeSome, ScopeNone        string
	Unchecked                                               string        // %s: group titles
	OtherGroups                                             locale.Plural // %[1]d unchecked groups not named
	Groups, Group, Members, Active7, Active30, ThisWeek     string
	LastWeek, Trend, Growing, Fading, Steady                string
	Leaders, Actives, ActivesWhy, Nobody                    string
	LeadersWhy                                              locale.Plural // %[1]d people
	NewActive, NewLeaders, Inactive, NewAndFading           string
	Sync, SyncPending, SyncLastSuccess, SyncLastError       string
	SyncNone, SyncOK, Never, Campaigns                      string
	Activity, Heatmap, HeatmapHelp, Back                    string
	ActivityHelp                                            locale.Plural // %[1]d days
	Days, Weekdays                                          []string
	Week, People, Messages, InGroups                        string
	// ActiveDays is %[1]s MessageCount on %[2]s DayCount.
	ActiveDays             string
	MessageCount, DayCount locale.Plural
	// Colon separates a label from its value (French puts a space before it).
	Colon string
}

// textsFor reads the dashboard's words in every language that has a message file.
func textsFor() (map[string]texts, error) {
	out := map[string]texts{}
	for _, lang := range locale.Languages() {
		t := texts{Lang: lang}
		if err := locale.Fill(lang, "dashboard", &t); err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		if len(t.Days) != 7 || len(t.Weekdays) != 7 {
			return nil, fmt.Errorf("dashboard: %s: want 7 days and weekdays, have %d and %d", lang, len(t.Days), len(t.Weekdays))
		}
		out[lang] = t
	}
	return out, nil
}

// texts picks the language: ?lang= (or the form's lang), else RELAIS_LANG.
func (s *Server) texts(r *http.Request) texts {
	l := r.URL.Query().Get("lang")
	if l == "" && r.Method == http.MethodPost {
		l = r.PostFormValue("lang")
	}
	if l == "" {
		l = s.cfg.Lang
	}
	if l, err := locale.Lang(l); err == nil {
		return s.words[l]
	}
	return s.words[s.cfg.Lang]
}

// unchecked says which groups sc could not check, as the organiser may read it.
func (t texts) unchecked(sc scope.Scope) string {
	others := func(n int) string { return t.OtherGroups.N(n) }
	return fmt.Sprintf(t.Unchecked, strings.Join(sc.MissingNames(others), ", "))
}
