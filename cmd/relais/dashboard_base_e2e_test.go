package main

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var pageURLs = regexp.MustCompile(`(?:href|action|src)="([^"]*)"`)

// TestDashboardUnderBasePath: the real binary with RELAIS_PUBLIC_URL=http://ADDR/relais/, as
// behind a reverse proxy forwarding the full path. From the link the bot sends, every link,
// form, asset, redirect and the cookie stay under /relais/, to the pages and back to the
// login; a login posted from another origin is refused and logged without anything of it.
func TestDashboardUnderBasePath(t *testing.T) {
	st := newOrgStoryAt(t, "/relais")
	origin := "http://" + st.addr
	link := st.link()
	lu, err := url.Parse(link)
	if err != nil || lu.Path != "/relais/tableau/entree" || lu.RawQuery != "" || lu.Fragment == "" {
		t.Fatalf("the bot's link %q is not /relais/tableau/entree#token", link)
	}
	jar, _ := cookiejar.New(nil)
	var redirects []string
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		redirects = append(redirects, req.URL.RequestURI())
		return nil
	}}
	do := func(method, path, from string, form url.Values) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, origin+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", from)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	links := func(from, page string) []string {
		t.Helper()
		var out []string
		for _, m := range pageURLs.FindAllStringSubmatch(page, -1) {
			u := html.UnescapeString(m[1])
			if !strings.HasPrefix(u, "/relais/tableau/") && !strings.HasPrefix(u, "?") {
				t.Errorf("%s links to %q, outside /relais/tableau/", from, u)
			}
			if strings.HasPrefix(u, "?") {
				u = strings.SplitN(from, "?", 2)[0] + u
			}
			out = append(out, u)
		}
		return out
	}

	// What the browser asks for: the link without its fragment.
	code, page := do(http.MethodGet, lu.RequestURI(), "", nil)
	if code != http.StatusOK || strings.Contains(page, lu.Fragment) {
		t.Fatalf("login page %d:\n%s", code, page)
	}
	actions := links(lu.Path, page)
	// A login posted from elsewhere is refused before the token is looked at.
	if code, _ := do(http.MethodPost, "/relais/tableau/entree", "https://evil.example", url.Values{"t": {lu.Fragment}}); code != http.StatusForbidden {
		t.Errorf("cross-origin login: %d", code)
	}
	code, page = do(http.MethodPost, "/relais/tableau/entree", origin, url.Values{"t": {lu.Fragment}})
	if code != http.StatusOK || len(redirects) != 1 || redirects[0] != "/relais/tableau/" || !strings.Contains(page, st.r.group.Title) {
		t.Fatalf("login: %d, redirects %v, actions %v:\n%s", code, redirects, actions, page)
	}
	base, _ := url.Parse(origin + "/relais/tableau/")
	if len(jar.Cookies(base)) != 1 {
		t.Fatalf("no session cookie under /relais/tableau/")
	}
	seen := map[string]bool{}
	queue := []string{"/relais/tableau/"}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] || strings.Contains(path, "/sortie") || strings.Contains(path, "/entree") {
			continue
		}
		seen[path] = true
		code, page := do(http.MethodGet, path, "", nil)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
			continue
		}
		if !strings.HasSuffix(path, ".css") {
			queue = append(queue, links(path, page)...)
		}
	}
	for _, want := range []string{"/relais/tableau/style.css", "/relais/tableau/?lang=en"} {
		if !seen[want] {
			t.Errorf("%s not reached; reached %v", want, seen)
		}
	}
	groups := 0
	for p := range seen {
		if strings.HasPrefix(p, "/relais/tableau/groupe/") {
			groups++
		}
	}
	if groups == 0 {
		t.Errorf("no group page reached: %v", seen)
	}
	if code, _ := do(http.MethodGet, "/tableau/", "", nil); code != http.StatusNotFound {
		t.Errorf("/tableau/ outside the base path answered %d", code)
	}
	code, page = do(http.MethodPost, "/relais/tableau/sortie", origin, url.Values{})
	if code != http.StatusOK || len(jar.Cookies(base)) != 0 {
		t.Errorf("logout %d, cookies left %v", code, jar.Cookies(base))
	}
	links("/relais/tableau/sortie", page)
	st.r.stop(st.p)
	if logs := st.p.Logs(); strings.Contains(logs, lu.Fragment) || strings.Contains(logs, "evil") || !strings.Contains(logs, "dashboard login refused") {
		t.Errorf("logs hold the token or the refused origin, or not the refusal")
	}
}
