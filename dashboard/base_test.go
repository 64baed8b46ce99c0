package dashboard_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

var (
	attrURL    = regexp.MustCompile(`(?:href|action|src)="([^"]*)"`)
	inlineJS   = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	organiserA = scope.Who{Platform: events.Telegram, ID: "a"}
)

// urlsOf returns every URL a page links to, posts to or loads.
func urlsOf(page string) []string {
	var out []string
	for _, m := range attrURL.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// TestLoginLinkTokenOnlyInFragment: the link the bot sends carries its token after '#' only,
// so the request a browser makes for it (what a proxy logs) has no token; the page's script,
// the only one, is allowed by the CSP's hash and nothing else is.
func TestLoginLinkTokenOnlyInFragment(t *testing.T) {
	tests := []struct{ public, want string }{
		{"", "/tableau/entree#"},
		{"https://example.org/relais/", "https://example.org/relais/tableau/entree#"},
		{"https://example.org/relais", "https://example.org/relais/tableau/entree#"},
		{"https://example.org/a/b/", "https://example.org/a/b/tableau/entree#"},
	}
	for _, tt := range tests {
		t.Run(tt.public, func(t *testing.T) {
			r := newRig(t, tt.public)
			link := r.link(organiserA)
			tok := tokenOf(t, link)
			if !strings.Contains(link, tt.want) || strings.Contains(link, "?") || !strings.HasSuffix(link, "#"+tok) || len(tok) < 40 {
				t.Fatalf("link %s: want the token after %q only", link, tt.want)
			}
			u, _ := url.Parse(link)
			if strings.Contains(u.RequestURI(), tok) {
				t.Fatalf("the request for %s carries the token", link)
			}
			page := r.do(r.client(), http.MethodGet, r.http.URL+u.RequestURI(), nil)
			if page.code != http.StatusOK || strings.Contains(page.body, tok) || !strings.Contains(page.body, `id="code"`) {
				t.Fatalf("login page %d:\n%s", page.code, page.body)
			}
			scripts := inlineJS.FindAllStringSubmatch(page.body, -1)
			if len(scripts) != 1 {
				t.Fatalf("%d scripts in the login page, want 1", len(scripts))
			}
			sum := sha256.Sum256([]byte(scripts[0][1]))
			csp := page.resp.Header.Get("Content-Security-Policy")
			if want := "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"; !strings.Contains(csp, want) {
				t.Errorf("CSP %q does not allow the page's script by its hash (%s)", csp, want)
			}
			if strings.Contains(csp, "unsafe") || strings.Contains(csp, "nonce") || strings.Contains(csp, "http") {
				t.Errorf("CSP %q allows more than the one script", csp)
			}
			if res := r.do(r.client(), http.MethodPost, r.http.URL+u.Path, url.Values{"t": {tok}}); res.code != http.StatusOK || !strings.Contains(res.body, groupA.Title) {
				t.Errorf("posting the fragment's token: %d\n%s", res.code, res.body)
			}
		})
	}
}

// TestLoginPastedLink: without JavaScript the person pastes the link (or its token).
func TestLoginPastedLink(t *testing.T) {
	r := newRig(t, "https://example.org/relais/")
	for _, paste := range []func(link string) string{
		func(link string) string { return "  " + link + "\n" },
		func(link string) string { return tokenOf(t, link) },
	} {
		link := r.link(organiserA)
		res := r.do(r.client(), http.MethodPost, r.http.URL+"/relais/tableau/entree", url.Values{"t": {paste(link)}})
		if res.code != http.StatusOK || !strings.Contains(res.body, groupA.Title) {
			t.Errorf("pasted %q: %d", paste(link), res.code)
		}
	}
}

// TestLoginRefusesOtherOrigins: a login form posted from anywhere but RELAIS_PUBLIC_URL's
// origin (login CSRF) is refused before the token is looked at, and nothing of the request
// is logged; the same link then works from the dashboard's own page.
func TestLoginRefusesOtherOrigins(t *testing.T) {
	r := newRig(t, "https://relais.example.org/relais/")
	link := r.link(organiserA)
	tok := tokenOf(t, link)
	post := func(origin, referer, path string, c *http.Client) result {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, r.http.URL+path, strings.NewReader(url.Values{"t": {tok}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if referer != "" {
			req.Header.Set("Referer", referer)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return result{resp: resp, code: resp.StatusCode}
	}
	refused := []struct{ name, origin, referer string }{
		{"other site", "https://evil.example", ""},
		{"opaque origin", "null", ""},
		{"other scheme", "http://relais.example.org", ""},
		{"other port", "https://relais.example.org:8443", ""},
		{"suffix of a host", "https://relais.example.org.evil.example", ""},
		{"referer elsewhere", "", "https://evil.example/relais/tableau/entree"},
		{"origin wins over referer", "https://evil.example", "https://relais.example.org/relais/tableau/entree"},
		{"neither", "", ""},
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range refused {
		res := post(tt.origin, tt.referer, "/relais/tableau/entree", noRedirect)
		if res.code != http.StatusForbidden || len(res.resp.Cookies()) != 0 {
			t.Errorf("%s: %d, cookies %v", tt.name, res.code, res.resp.Cookies())
		}
	}
	logs := r.logs.String()
	for _, secret := range []string{tok, "evil", "127.0.0.1"} {
		if strings.Contains(logs, secret) {
			t.Errorf("refusals logged %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "refused") {
		t.Errorf("refusals not logged at all:\n%s", logs)
	}
	// The link was not spent by the refusals; without Origin, a Referer of the origin does.
	if res := post("", "https://relais.example.org/relais/tableau/entree", "/relais/tableau/entree", noRedirect); res.code != http.StatusSeeOther {
		t.Fatalf("same-origin Referer: %d", res.code)
	}
	// Logout is refused from elsewhere too: a page there cannot end the session.
	c := r.client()
	if resp, _ := r.login(c, r.link(organiserA)); resp.StatusCode != http.StatusOK {
		t.Fatalf("login %d", resp.StatusCode)
	}
	if res := post("https://evil.example", "", "/relais/tableau/sortie", c); res.code != http.StatusForbidden {
		t.Errorf("cross-origin logout: %d", res.code)
	}
	if res := r.do(c, http.MethodGet, r.http.URL+"/relais/tableau/", nil); res.code != http.StatusOK {
		t.Errorf("session after a cross-origin logout: %d", res.code)
	}
}

// TestServedUnderBasePath: under RELAIS_PUBLIC_URL=https://example.org/relais/, every link,
// form, asset, redirect and the cookie's path, from the login link to the pages and back to
// the login, stay under /relais/; /tableau/ itself is not served.
func TestServedUnderBasePath(t *testing.T) {
	r := newRig(t, "https://example.org/relais/")
	jar := r.client().Jar
	var redirects []string
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		redirects = append(redirects, req.URL.RequestURI())
		return nil
	}}
	link := r.link(scope.Who{Platform: events.Telegram, ID: "z", Admin: true})
	lu, _ := url.Parse(link)
	if lu.Path != "/relais/tableau/entree" {
		t.Fatalf("login link %s", link)
	}
	under := func(from, u string) {
		t.Helper()
		if !strings.HasPrefix(u, "/relais/tableau/") && !strings.HasPrefix(u, "?") {
			t.Errorf("%s links to %q, outside /relais/tableau/", from, u)
		}
	}
	seen := map[string]bool{}
	var visit func(path string)
	visit = func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		res := r.do(c, http.MethodGet, r.http.URL+path, nil)
		if res.code != http.StatusOK {
			t.Errorf("GET %s: %d", path, res.code)
			return
		}
		if !strings.Contains(res.resp.Header.Get("Content-Type"), "text/html") {
			return
		}
		for _, u := range urlsOf(res.body) {
			under(path, u)
			if strings.HasPrefix(u, "?") {
				u = strings.SplitN(path, "?", 2)[0] + u
			}
			if !strings.Contains(u, "/sortie") && !strings.Contains(u, "/entree") {
				visit(u)
			}
		}
	}
	login := r.do(c, http.MethodGet, r.http.URL+lu.RequestURI(), nil)
	for _, u := range urlsOf(login.body) {
		under("the login page", u)
	}
	res := r.do(c, http.MethodPost, r.http.URL+"/relais/tableau/entree", url.Values{"t": {lu.Fragment}})
	if res.code != http.StatusOK || len(redirects) != 1 || redirects[0] != "/relais/tableau/" {
		t.Fatalf("login: %d, redirects %v", res.code, redirects)
	}
	base, _ := url.Parse(r.http.URL + "/relais/tableau/")
	if cs := jar.Cookies(base); len(cs) != 1 {
		t.Fatalf("cookie not sent back under /relais/tableau/: %v", cs)
	}
	if outside, _ := url.Parse(r.http.URL + "/tableau/"); len(jar.Cookies(outside)) != 0 {
		t.Errorf("cookie sent outside the base path")
	}
	visit("/relais/tableau/")
	if !seen["/relais/tableau/groupe/gA"] || !seen["/relais/tableau/style.css"] || !seen["/relais/tableau/?lang=en"] {
		t.Errorf("pages reached: %v", seen)
	}
	if res := r.do(c, http.MethodGet, r.http.URL+"/tableau/", nil); res.code != http.StatusNotFound {
		t.Errorf("/tableau/ outside the base path answered %d", res.code)
	}
	out := r.do(c, http.MethodPost, r.http.URL+"/relais/tableau/sortie", url.Values{})
	if out.code != http.StatusOK || len(jar.Cookies(base)) != 0 {
		t.Errorf("logout %d, cookies left %v", out.code, jar.Cookies(base))
	}
	for _, u := range urlsOf(out.body) {
		under("the logout page", u)
	}
}
