package dashboard

import (
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/scope"
)

//go:embed page.html
var pageHTML string

//go:embed style.css
var styleCSS []byte

var pages = template.Must(template.New("pages").Parse(pageHTML))

// listed bounds each list of people on a page.
const listed = 25

type groupRow struct {
	Token, Title, Platform         string
	MembersSeen, Active7, Active30 int
	ThisWeek, LastWeek             int
	Trend                          string
	Spark                          template.HTML
}

type personRow struct{ Name, Why, Groups string }

type syncView struct {
	Pending                  int
	LastSuccess, LastErrorAt string
	LastError                string
}

// view is what every page template reads.
type view struct {
	T          texts
	Root       string // the dashboard's public path, "/relais/tableau/": every link starts there
	Script     template.JS
	Lang       string // "?lang=xx" or ""
	Switch     string // the link to the page in the other language
	SignedIn   bool
	Role       string
	ScopeText  string
	Unchecked  string // the groups the scope could not check, said on every page built on it
	Message    string
	Token      string
	Groups     []groupRow
	Leaders    []personRow
	Actives    []personRow
	NewActive  []personRow
	NewLeaders []personRow
	Inactive   []personRow
	Sync       *syncView
	Extras     []string
	Group      *groupRow
	Activity   template.HTML
	ActivityOf string
	Heatmap    template.HTML
	Members    []personRow
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, extra map[string]any) {
	v := view{T: s.texts(r), Lang: langQuery(r), Script: template.JS(loginJS)}
	if tok, ok := extra["Token"].(string); ok && tok != "" {
		v.Token = tok
		// Switching language on the login page keeps the link's token (loginJS keeps a
		// fragment's).
		v.Switch = "?" + url.Values{"t": {tok}, "lang": {v.T.Other}}.Encode()
	}
	s.write(w, status, name, v)
}

func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, name, message string) {
	s.write(w, status, name, view{T: s.texts(r), Lang: langQuery(r), Message: message})
}

func (s *Server) write(w http.ResponseWriter, status int, name string, v view) {
	v.Root = s.root
	if v.Switch == "" {
		v.Switch = "?lang=" + v.T.Other
	}
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, v); err != nil {
		s.log.Error("dashboard template", "page", name, "err", err.Error())
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) style(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	_, _ = w.Write(styleCSS)
}

// scoped is what one request may see: the organiser's scope and the digest of it.
func (s *Server) scoped(r *http.Request, who scope.Who) (*sources, scope.Scope, commands.Digest, error) {
	src, err := s.sources()
	if err != nil {
		return nil, scope.Scope{}, commands.Digest{}, err
	}
	sc, err := src.src.Scope(r.Context(), who)
	if err != nil {
		return nil, sc, commands.Digest{}, err
	}
	if sc.Empty() {
		return src, sc, commands.Digest{}, nil
	}
	d, err := src.src.BuildDigest(r.Context(), sc, s.cfg.Now())
	return src, sc, d, err
}

func (s *Server) signedIn(r *http.Request, who scope.Who, sc scope.Scope) view {
	t := s.texts(r)
	v := view{T: t, Lang: langQuery(r), SignedIn: true, Role: t.Organiser, ScopeText: t.ScopeSome}
	if who.Admin {
		v.Role = t.Admin
	}
	switch {
	case sc.All():
		v.ScopeText = t.ScopeAll
	case sc.Empty() && sc.Complete():
		v.ScopeText = t.ScopeNone
	}
	if !sc.Complete() {
		v.Unchecked = t.unchecked(sc)
	}
	return v
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, who scope.Who) {
	r, reads := collect(r)
	src, sc, d, err := s.scoped(r, who)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := s.signedIn(r, who, sc)
	if sc.Empty() {
		s.write(w, http.StatusOK, "overview", v)
		return
	}
	t := v.T
	for _, g := range d.Groups {
		v.Groups = append(v.Groups, s.groupRow(t, g))
	}
	if v.Leaders, v.Actives, err = s.leadersAndActives(r, t, src.src, sc); err != nil {
		s.fail(w, r, err)
		return
	}
	v.NewActive, v.NewLeaders, v.Inactive = s.people(t, d.NewActive, false), s.people(t, d.NewLeaders, true), s.people(t, d.Inactive, false)
	v.Sync = s.syncView(t, d.Sync)
	v.Extras = d.Extras
	if err := s.journalPage(r, who, "page:overview", reads); err != nil {
		s.fail(w, r, err)
		return
	}
	s.write(w, http.StatusOK, "overview", v)
}

// groupPage is one group's page. A group outside the scope is "not found", exactly like a
// group that does not exist: the page says nothing of what it is not allowed to show.
func (s *Server) groupPage(w http.ResponseWriter, r *http.Request, who scope.Who) {
	r, reads := collect(r)
	src, sc, d, err := s.scoped(r, who)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token := r.PathValue("group")
	if sc.Misses(token) && sc.MayName(token) {
		// Not "not found": the platform did not say, and the organiser, a member when last
		// asked, should try again. Anyone else learns nothing of the group: not found.
		t := s.texts(r)
		s.page(w, r, http.StatusServiceUnavailable, "message", t.unchecked(sc))
		return
	}
	i := slices.IndexFunc(d.Groups, func(g commands.DigestGroup) bool { return g.Token == token })
	if sc.Empty() || !sc.Has(token) || i < 0 {
		s.page(w, r, http.StatusNotFound, "message", s.texts(r).NotFound)
		return
	}
	v := s.signedIn(r, who, sc)
	t := v.T
	row := s.groupRow(t, d.Groups[i])
	v.Group = &row
	window := src.series.Bars().WindowDays
	days, err := src.series.GroupDays(r.Context(), token, window)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	today := s.cfg.Now().UTC()
	v.Activity = bars(days, 720, 160, func(i int) string {
		day := today.AddDate(0, 0, i-len(days)+1)
		return day.Format("2006-01-02") + t.Colon + t.MessageCount.N(days[i])
	})
	v.ActivityOf = t.ActivityHelp.N(window)
	hours, err := src.series.GroupHours(r.Context(), token, 28)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Heatmap = heatmap(hours, t.Days, t.Weekdays, func(n int) string { return t.Colon + t.MessageCount.N(n) })
	if v.Leaders, v.Actives, err = s.leadersAndActives(r, t, src.src, scope.Only(token)); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.journalPage(r, who, "page:group", reads); err != nil {
		s.fail(w, r, err)
		return
	}
	s.write(w, http.StatusOK, "group", v)
}

func (s *Server) groupRow(t texts, g commands.DigestGroup) groupRow {
	trend := t.Steady
	switch g.Trend {
	case 1:
		trend = t.Growing
	case -1:
		trend = t.Fading
	}
	return groupRow{
		Token: g.Token, Title: g.Title, Platform: string(g.Platform),
		MembersSeen: g.MembersSeen, Active7: g.Active7, Active30: g.Active30,
		ThisWeek: g.ThisWeek, LastWeek: g.LastWeek, Trend: trend, Spark: sparkline(g.MessagesPerDay),
	}
}

// leadersAndActives lists who carries the tags, with why: people who answered a leader,
// messages and days of an active member. Only the listed members' cards are read.
func (s *Server) leadersAndActives(r *http.Request, t texts, src Source, sc scope.Scope) (leaders, actives []personRow, err error) {
	has := func(tag string) func(bridge.MemberCard) bool {
		return func(c bridge.MemberCard) bool { return slices.Contains(c.Tags, s.cfg.TagPrefix+tag) }
	}
	ls, err := src.Top(r.Context(), sc, bridge.ByPeople, listed, has(bridge.TagLeader))
	if err != nil {
		return nil, nil, err
	}
	as, err := src.Top(r.Context(), sc, bridge.ByMessages, listed, has(bridge.TagActive))
	if err != nil {
		return nil, nil, err
	}
	return s.people(t, ls, true), s.people(t, as, false), nil
}

func (s *Server) people(t texts, cards []bridge.MemberCard, leaders bool) []personRow {
	var out []personRow
	for i, c := range cards {
		if i == listed {
			break
		}
		why := fmt.Sprintf(t.ActiveDays, t.MessageCount.N(c.Messages), t.DayCount.N(c.ActiveDays))
		if leaders {
			why = t.LeadersWhy.N(c.People)
		}
		out = append(out, personRow{Name: name(c), Why: why, Groups: strings.Join(c.Groups, ", ")})
	}
	return out
}

func name(c bridge.MemberCard) string {
	n, u := strings.TrimSpace(c.Name), strings.TrimPrefix(strings.TrimSpace(c.Username), "@")
	switch {
	case n != "" && u != "":
		return n + " (@" + u + ")"
	case n != "":
		return n
	case u != "":
		return "@" + u
	}
	return "?"
}

func (s *Server) syncView(t texts, info *commands.SyncInfo) *syncView {
	if info == nil {
		return nil
	}
	when := func(at time.Time) string {
		if at.IsZero() {
			return t.Never
		}
		return at.UTC().Format("2006-01-02 15:04 UTC")
	}
	return &syncView{Pending: info.Pending, LastSuccess: when(info.LastSuccessAt), LastErrorAt: when(info.LastErrorAt), LastError: info.LastError}
}
