//go:build browser

// Browser tests of the dashboard in a real headless Chromium, driven with chromedp, against
// the real binary and the fake Telegram: go test -tags=browser -run Browser ./cmd/relais/
// They skip when Chromium is absent (Debian's chromium package; RELAIS_CHROMIUM names
// another binary). Screenshots go to RELAIS_ARTIFACTS (default: the test's temporary
// directory); RELAIS_DOCS_IMG=1 also refreshes the README's, in docs/img.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relais-bot/relais/events"
)

// sessionFor is the dashboard session of the browser test: long enough for the pages it
// reads, short enough to see it end.
const sessionFor = 20 * time.Second

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("RELAIS_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("RELAIS_REQUIRE_BROWSER") == "1" {
		// CI installs Chromium: a skip there would let the dashboard go untested.
		t.Fatal("chromium not installed and RELAIS_REQUIRE_BROWSER=1")
	}
	t.Skip("chromium not installed (apt-get install -y chromium); set RELAIS_CHROMIUM to use another")
	return ""
}

// browser starts a headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it lives as long as ctx, so no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// steps runs browser steps, each series bounded in time.
func steps(ctx context.Context, s ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	return chromedp.Do(ctx, s...)
}

// read returns the page's text and, with shot, a PNG of the whole page.
func read(t *testing.T, ctx context.Context, shot bool) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("page text: %v", err)
	}
	if !shot {
		return body, nil
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return body, png
}

func artifactDir(t *testing.T) string {
	if d := os.Getenv("RELAIS_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func saveShot(t *testing.T, name string, png []byte) {
	t.Helper()
	dirs := []string{artifactDir(t)}
	if os.Getenv("RELAIS_DOCS_IMG") == "1" {
		dirs = append(dirs, "../../docs/img")
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}

// TestBrowserDashboard: an organiser of one group logs in with the link the bot sent through
// the fake Telegram, sees their group and nothing of the other one (not by URL either), never
// an objector; the link is refused on second use; logout ends the session; a session ends on
// its own.
func TestBrowserDashboard(t *testing.T) {
	ctx := browser(t)
	// Under a base path, as behind a reverse proxy: the real browser runs the login script
	// (allowed by the CSP hash) and posts with its Origin.
	st := newOrgStoryAt(t, "/relais", "RELAIS_DASHBOARD_SESSION="+sessionFor.String())
	r, p, addr, other := st.r, st.p, st.addr, st.other

	link := st.link
	login := func(l string) error {
		return steps(ctx, chromedp.Navigate(l), chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.CSS("#groups, #message")))
	}
	first := link()
	if err := login(first); err != nil {
		t.Fatalf("login: %v\n%s", err, p.Logs())
	}
	body, shot := read(t, ctx, true)
	saveShot(t, "dashboard.png", shot)
	for _, want := range []string{r.group.Title, "Camille Martin", "Synchronisation CRM", "organisateur"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, body)
		}
	}
	for _, never := range []string{other.Title, "Bastien", "Zoé", "Objectrice"} {
		if strings.Contains(body, never) {
			t.Errorf("dashboard of group A's organiser shows %q:\n%s", never, body)
		}
	}

	// Group A's page has its charts; group B's URL is not found.
	if err := steps(ctx, chromedp.Click(chromedp.CSS("#groups a")), chromedp.WaitVisible(chromedp.CSS("#heatmap svg"))); err != nil {
		t.Fatalf("group page: %v", err)
	}
	body, shot = read(t, ctx, true)
	saveShot(t, "dashboard-group.png", shot)
	if !strings.Contains(body, r.group.Title) || strings.Contains(body, "Zoé") {
		t.Errorf("group page:\n%s", body)
	}
	tokenB := r.hasher.Group(events.Telegram, fmt.Sprint(other.ID))
	base := "http://" + addr + st.base
	if err := steps(ctx, chromedp.Navigate(base+"/tableau/groupe/"+tokenB+"?lang=en"), chromedp.WaitVisible(chromedp.ID("message"))); err != nil {
		t.Fatalf("group B's URL: %v", err)
	}
	body, _ = read(t, ctx, false)
	if !strings.Contains(body, "Page not found") || strings.Contains(body, other.Title) || strings.Contains(body, "Bastien") {
		t.Errorf("group B's page for group A's organiser:\n%s", body)
	}

	// Logout, then the session is gone; the first link is spent.
	err := steps(ctx, chromedp.Navigate(base+"/tableau/"), chromedp.WaitVisible(chromedp.ID("logout")),
		chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("message")),
		chromedp.Navigate(base+"/tableau/"), chromedp.WaitVisible(chromedp.ID("message")))
	if err != nil {
		t.Fatalf("logout: %v", err)
	}
	body, _ = read(t, ctx, false)
	if strings.Contains(body, r.group.Title) || !strings.Contains(body, "/tableau") {
		t.Errorf("after logout:\n%s", body)
	}
	if err := login(first); err != nil {
		t.Fatalf("second use: %v", err)
	}
	body, _ = read(t, ctx, false)
	if !strings.Contains(body, "déjà utilisé") || strings.Contains(body, r.group.Title) {
		t.Errorf("second use of the link:\n%s", body)
	}

	// A new link opens a session that ends on its own.
	loggedIn := time.Now()
	if err := login(link()); err != nil {
		t.Fatalf("second login: %v", err)
	}
	if body, _ = read(t, ctx, false); !strings.Contains(body, r.group.Title) {
		t.Fatalf("second login does not show the dashboard:\n%s", body)
	}
	time.Sleep(time.Until(loggedIn.Add(sessionFor + time.Second)))
	if err := steps(ctx, chromedp.Navigate(base+"/tableau/"), chromedp.WaitVisible(chromedp.ID("message"))); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	body, _ = read(t, ctx, false)
	if strings.Contains(body, r.group.Title) {
		t.Errorf("the session outlived its %s:\n%s", sessionFor, body)
	}
	r.stop(p)
	if err := os.WriteFile(filepath.Join(artifactDir(t), "relais.log"), []byte(p.Logs()), 0o644); err != nil {
		t.Error(err)
	}
}
