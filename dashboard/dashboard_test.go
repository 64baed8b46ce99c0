package dashboard_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/dashboard"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// fakeSource has two groups, A and B, and a member of each; the organiser "a" is in A.
type fakeSource struct{}

var (
	groupA = bridge.GroupStats{Token: "gA", Chat: "-1001", Title: "Lyon entraide", Platform: events.Telegram, MembersSeen: 12, MessagesPerDay: make([]int, 14)}
	groupB = bridge.GroupStats{Token: "gB", Chat: "-1002", Title: "Grenoble secret", Platform: events.Telegram, MembersSeen: 99, MessagesPerDay: make([]int, 14)}
	cardA  = bridge.MemberCard{Token: "mA", Name: "Camille Martin", Groups: []string{groupA.Title}, InGroups: []bridge.GroupRef{{Token: "gA", Title: groupA.Title}},
		Messages: 40, ActiveDays: 8, People: 7, Tags: []string{"relais-actif", "relais-leader"}}
	cardB = bridge.MemberCard{Token: "mB", Name: "Bastien Caché", Groups: []string{groupB.Title}, InGroups: []bridge.GroupRef{{Token: "gB", Title: groupB.Title}},
		Messages: 90, ActiveDays: 20, People: 30, Tags: []string{"relais-actif", "relais-leader"}}
)

// Recheck: "gone" was removed from the organisers; "promoted" became an admin.
func (fakeSource) Recheck(who scope.Who) (scope.Who, bool) {
	switch who.ID {
	case "gone":
		return who, false
	case "promoted":
		who.Admin = true
	}
	return who, true
}

func (fakeSource) Scope(_ context.Context, who scope.Who) (scope.Scope, error) {
	switch {
	case who.Admin:
		return scope.Everything(), nil
	case who.ID == "a":
		return scope.Only("gA"), nil
	case who.ID == "partial": // in A; the platform did not say about B
		// gN: the organiser was a member when last asked, so its title may be named.
		return scope.Only("gA").Unchecked(bridge.GroupRef{Token: "gB", Title: "Groupe inconnu"}, bridge.GroupRef{Token: "gN", Title: groupB.Title}).Named("gN"), nil
	}
	return scope.Only(), nil
}

func (fakeSource) BuildDigest(_ context.Context, sc scope.Scope, now time.Time) (commands.Digest, error) {
	d := commands.Digest{Week: commands.ISOWeek(now), Sync: &commands.SyncInfo{Pending: 2}}
	for _, g := range sc.Groups([]bridge.GroupStats{groupA, groupB}) {
		d.Groups = append(d.Groups, commands.DigestGroup{GroupStats: g})
	}
	d.NewActive = sc.Cards([]bridge.MemberCard{cardA, cardB})
	return d, nil
}

func (fakeSource) Top(_ context.Context, sc scope.Scope, r bridge.Ranking, n int, keep func(bridge.MemberCard) bool) ([]bridge.MemberCard, error) {
	cards := slices.DeleteFunc(sc.Cards([]bridge.MemberCard{cardA, cardB}), func(c bridge.MemberCard) bool { return !keep(c) })
	slices.SortFunc(cards, func(a, b bridge.MemberCard) int { return r.Of(b) - r.Of(a) })
	return cards[:min(n, len(cards))], nil
}

type fakeSeries struct{}

func (fakeSeries) GroupDays(_ context.Context, _ string, n int) ([]int, error) {
	return make([]int, n), nil
}
func (fakeSeries) GroupHours(context.Context, string, int) (bridge.HoursOfWeek, error) {
	var h bridge.HoursOfWeek
	h[9] = 4
	return h, nil
}
func (fakeSeries) Bars() bridge.Bars { return bridge.Bars{WindowDays: 30} }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type rig struct {
	t      testing.TB
	srv    *dashboard.Server
	http   *httptest.Server
	clock  *clock
	origin string // RELAIS_PUBLIC_URL's origin: what a browser's POSTs carry as Origin
	logs   *strings.Builder
}

func newRig(t testing.TB, public string) *rig {
	t.Helper()
	env := eventstest.New(t)
	kv, err := events.OrganiserBucket(context.Background(), env.JS, env.Names, env.Names.DashboardBucket(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)}
	hs := httptest.NewServer(nil)
	if public == "" {
		public = hs.URL
	}
	logs := &strings.Builder{}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := dashboard.New(dashboard.Config{PublicURL: public, Lang: "fr", SessionTTL: time.Hour, Now: c.now, Log: log}, kv)
	if err != nil {
		t.Fatal(err)
	}
	srv.Attach(fakeSource{}, fakeSeries{})
	// Mounted as relais run mounts it: at its root, nothing else served.
	mux := http.NewServeMux()
	mux.Handle(srv.Root(), srv.Handler())
	hs.Config.Handler = mux
	t.Cleanup(hs.Close)
	pu, err := url.Parse(public)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, srv: srv, http: hs, clock: c, origin: pu.Scheme + "://" + pu.Host, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// tokenOf is a link's token: after '#', or in ?t= for links sent before fragments.
func tokenOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if u.Fragment != "" {
		return u.Fragment
	}
	return u.Query().Get("t")
}

func (r *rig) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func (r *rig) link(who scope.Who) string {
	r.t.Helper()
	l, valid, err := r.srv.LoginLink(context.Background(), who)
	if err != nil || valid != dashboard.DefaultLinkTTL {
		r.t.Fatalf("LoginLink: %v, %v", valid, err)
	}
	return l
}

// login uses a link as a browser does: GET shows the button, POST uses the token.
func (r *rig) login(c *http.Client, link string) (*http.Response, string) {
	r.t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		r.t.Fatal(err)
	}
	// What a browser sends of the link: never the fragment.
	get := r.do(c, http.MethodGet, r.http.URL+u.RequestURI(), nil)
	if get.code != http.StatusOK || !strings.Contains(get.body, `id="login"`) {
		r.t.Fatalf("login page %d:\n%s", get.code, get.body)
	}
	res := r.do(c, http.MethodPost, r.http.URL+u.Path, url.Values{"t": {tokenOf(r.t, link)}})
	return res.resp, res.body
}

type result struct {
	resp *http.Response
	code int
	body string
}

func (r *rig) do(c *http.Client, method, u string, form url.Values) result {
	r.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		r.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", r.origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp, resp.StatusCode, string(b)}
}

func TestLoginOnceThenSessionThenLogout(t *testing.T) {
	r := newRig(t, "")
	c := r.client()
	link := r.link(scope.Who{Platform: events.Telegram, ID: "a"})
	resp, body := r.login(c, link)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, groupA.Title) {
		t.Fatalf("after login %d:\n%s", resp.StatusCode, body)
	}
	// A second use of the link, by anyone, is refused.
	if again, body := r.login(r.client(), link); again.StatusCode != http.StatusForbidden || strings.Contains(body, groupA.Title) {
		t.Errorf("second use of the link: %d\n%s", again.StatusCode, body)
	}
	// Logout ends the session: the cookie is cleared and the session deleted server side.
	if res := r.do(c, http.MethodPost, r.http.URL+"/tableau/sortie", url.Values{}); res.code != http.StatusOK {
		t.Errorf("logout %d", res.code)
	}
	if res := r.do(c, http.MethodGet, r.http.URL+"/tableau/", nil); res.code != http.StatusUnauthorized || strings.Contains(res.body, groupA.Title) {
		t.Errorf("after logout %d:\n%s", res.code, res.body)
	}
}

func TestSessionCookieAndHeaders(t *testing.T) {
	tests := []struct {
		public, forwarded string
		secure            bool
	}{{"", "", false}, {"https://relais.example.org", "", true}, {"", "https", true}, {"https://relais.example.org", "http", true}}
	for _, tt := range tests {
		r := newRig(t, tt.public)
		link := r.link(scope.Who{Platform: events.Telegram, ID: "a"})
		u, _ := url.Parse(link)
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest(http.MethodPost, r.http.URL+u.Path, strings.NewReader(url.Values{"t": {tokenOf(t, link)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", r.origin)
		if tt.forwarded != "" {
			req.Header.Set("X-Forwarded-Proto", tt.forwarded)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		res := result{resp: resp, code: resp.StatusCode}
		if res.code != http.StatusSeeOther {
			t.Fatalf("login %d", res.code)
		}
		cookies := res.resp.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("cookies %v", cookies)
		}
		ck := cookies[0]
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tt.secure || ck.MaxAge != 3600 || ck.Path != "/tableau/" || len(ck.Value) < 40 {
			t.Errorf("public %q, forwarded %q: cookie %+v", tt.public, tt.forwarded, ck)
		}
		csp := res.resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "http") || res.resp.Header.Get("Referrer-Policy") != "strict-origin" {
			t.Errorf("headers %v", res.resp.Header)
		}
		if !strings.HasPrefix(link, tt.public) && tt.public != "" {
			t.Errorf("link %s not under %s", link, tt.public)
		}
	}
}

func TestSessionExpires(t *testing.T) {
	r := newRig(t, "")
	c := r.client()
	if resp, _ := r.login(c, r.link(scope.Who{Platform: events.Telegram, ID: "a"})); resp.StatusCode != http.StatusOK {
		t.Fatalf("login %d", resp.StatusCode)
	}
	r.clock.add(59 * time.Minute)
	if res := r.do(c, http.MethodGet, r.http.URL+"/tableau/", nil); res.code != http.StatusOK {
		t.Fatalf("within the session %d", res.code)
	}
	r.clock.add(2 * time.Minute)
	if res := r.do(c, http.MethodGet, r.http.URL+"/tableau/", nil); res.code != http.StatusUnauthorized || strings.Contains(res.body, groupA.Title) {
		t.Errorf("after the session's end %d:\n%s", res.code, res.body)
	}
}

func TestLinkExpires(t *testing.T) {
	r := newRig(t, "")
	link := r.link(scope.Who{Platform: events.Telegram, ID: "a"})
	r.clock.add(dashboard.DefaultLinkTTL + time.Second)
	if resp, body := r.login(r.client(), link); resp.StatusCode != http.StatusForbidden || strings.Contains(body, groupA.Title) {
		t.Errorf("expired link: %d\n%s", resp.StatusCode, body)
	}
}

// TestScopeByURL: the organiser of A gets nothing of B by any URL; an admin sees both.
func TestScopeByURL(t *testing.T) {
	r := newRig(t, "")
	org := r.client()
	if resp, _ := r.login(org, r.link(scope.Who{Platform: events.Telegram, ID: "a"})); resp.StatusCode != http.StatusOK {
		t.Fatal("login")
	}
	secrets := []string{groupB.Title, cardB.Name, "gB"}
	for _, path := range []string{"/tableau/", "/tableau/?lang=en", "/tableau/groupe/gB", "/tableau/groupe/gB?lang=en", "/tableau/groupe/gA", "/tableau/groupe/nope", "/tableau/groupe/gA/../gB"} {
		res := r.do(org, http.MethodGet, r.http.URL+path, nil)
		for _, s := range secrets {
			if strings.Contains(res.body, s) {
				t.Errorf("%s (%d) shows %q of group B", path, res.code, s)
			}
		}
	}
	if res := r.do(org, http.MethodGet, r.http.URL+"/tableau/groupe/gB", nil); res.code != http.StatusNotFound {
		t.Errorf("group B's page answered %d to A's organiser", res.code)
	}
	if res := r.do(org, http.MethodGet, r.http.URL+"/tableau/groupe/gA", nil); res.code != http.StatusOK || !strings.Contains(res.body, "<svg") || !strings.Contains(res.body, cardA.Name) {
		t.Errorf("group A's page %d:\n%s", res.code, res.body)
	}
	admin := r.client()
	_, body := r.login(admin, r.link(scope.Who{Platform: events.Telegram, ID: "z", Admin: true}))
	for _, want := range []string{groupA.Title, groupB.Title, "administrateur"} {
		if !strings.Contains(body, want) {
			t.Errorf("admin's overview lacks %q", want)
		}
	}
	nobody := r.client()
	_, body = r.login(nobody, r.link(scope.Who{Platform: events.Telegram, ID: "n"}))
	if strings.Contains(body, groupA.Title) || strings.Contains(body, groupB.Title) {
		t.Errorf("an organiser of no group sees groups:\n%s", body)
	}
}

func TestLanguages(t *testing.T) {
	r := newRig(t, "")
	// A link sent before fragments: its ?t= page keeps the token across the language switch.
	tok := tokenOf(t, r.link(scope.Who{Platform: events.Telegram, ID: "a"}))
	page := r.do(r.client(), http.MethodGet, r.http.URL+"/tableau/entree?t="+tok, nil)
	if want := `href="?lang=en&amp;t=` + tok + `"`; !strings.Contains(page.body, want) {
		t.Errorf("login page's language link loses the token: want %s in\n%s", want, page.body)
	}
	c := r.client()
	r.login(c, r.link(scope.Who{Platform: events.Telegram, ID: "a"}))
	fr := r.do(c, http.MethodGet, r.http.URL+"/tableau/", nil)
	en := r.do(c, http.MethodGet, r.http.URL+"/tableau/?lang=en", nil)
	if !strings.Contains(fr.body, `lang="fr"`) || !strings.Contains(fr.body, "Synchronisation CRM") {
		t.Error("default page is not French")
	}
	if !strings.Contains(en.body, `lang="en"`) || !strings.Contains(en.body, "CRM sync") {
		t.Error("?lang=en page is not English")
	}
}

func TestNoSessionNoData(t *testing.T) {
	r := newRig(t, "")
	for _, path := range []string{"/tableau/", "/tableau/groupe/gA"} {
		res := r.do(r.client(), http.MethodGet, r.http.URL+path, nil)
		if res.code != http.StatusUnauthorized || strings.Contains(res.body, groupA.Title) {
			t.Errorf("%s without a session: %d", path, res.code)
		}
	}
	res := r.do(r.client(), http.MethodPost, r.http.URL+"/tableau/entree", url.Values{"t": {"forged"}})
	if res.code != http.StatusForbidden {
		t.Errorf("forged token: %d", res.code)
	}
}

// TestSessionFollowsTheAllowlist: an organiser removed from the allowlist loses their session
// at the next page; one made admin sees every group at the next page.
func TestSessionFollowsTheAllowlist(t *testing.T) {
	r := newRig(t, "")
	gone := r.client()
	if resp, body := r.login(gone, r.link(scope.Who{Platform: events.Telegram, ID: "gone"})); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, groupA.Title) {
		t.Errorf("removed organiser: %d\n%s", resp.StatusCode, body)
	}
	promoted := r.client()
	if _, body := r.login(promoted, r.link(scope.Who{Platform: events.Telegram, ID: "promoted"})); !strings.Contains(body, groupB.Title) {
		t.Errorf("promoted admin does not see every group:\n%s", body)
	}
}

// FuzzLoginToken: no token but the one a link carried opens a session.
func FuzzLoginToken(f *testing.F) {
	for _, seed := range []string{"", "forged", strings.Repeat("A", 43), "../../session.x", "link.abc"} {
		f.Add(seed)
	}
	r := newRig(f, "")
	r.link(scope.Who{Platform: events.Telegram, ID: "a"}) // a real link exists, unknown to the fuzzer
	f.Fuzz(func(t *testing.T, tok string) {
		req, err := http.NewRequest(http.MethodPost, r.http.URL+"/tableau/entree", strings.NewReader(url.Values{"t": {tok}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", r.origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("token %q: %d, cookies %v", tok, resp.StatusCode, resp.Cookies())
		}
	})
}

// BenchmarkGroupPage serves a group page (charts included) to a signed-in admin.
func BenchmarkGroupPage(b *testing.B) {
	r := newRig(b, "")
	c := r.client()
	r.login(c, r.link(scope.Who{Platform: events.Telegram, ID: "z", Admin: true}))
	for b.Loop() {
		if res := r.do(c, http.MethodGet, r.http.URL+"/tableau/groupe/gA", nil); res.code != http.StatusOK {
			b.Fatalf("status %d", res.code)
		}
	}
}
