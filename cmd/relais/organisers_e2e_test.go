package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
)

// orgStory is the real binary after three weeks of talk in two Telegram groups: A (the
// rig's group, of which the organiser is a member) and B (another federation's). Camille
// leads A, Bastien posts in B, neighbours answer in both, and Zoé, who posted in A, objected.
type orgStory struct {
	r     *dpoRig
	p     *process
	addr  string
	base  string // RELAIS_PUBLIC_URL's path: "" or like "/relais"
	other tgtest.Chat
	admin tgtest.User
}

// linkPattern is the login link: its token after '#' only, never sent to the server.
var linkPattern = regexp.MustCompile(`http://[^\s?#]+/tableau/entree#[A-Za-z0-9_-]{40,}`)

func newOrgStory(t *testing.T, env ...string) *orgStory {
	t.Helper()
	return newOrgStoryAt(t, "", env...)
}

// newOrgStoryAt is the story with the dashboard under base (RELAIS_PUBLIC_URL's path).
func newOrgStoryAt(t *testing.T, base string, env ...string) *orgStory {
	t.Helper()
	r := newDPORig(t, "notice")
	st := &orgStory{r: r, base: base, other: tgtest.Supergroup(-100888, "Grenoble centre"), admin: tgtest.User{ID: 999, FirstName: "Anne", Username: "anne_admin"}}
	r.env = append(r.env, "RELAIS_ADMINS=telegram:999")
	r.env = append(r.env, env...)
	start := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Hour)
	// A fake Telegram whose clock starts three weeks ago, so the talk spreads over days.
	r.bot = tgtest.New(t, tgtest.WithStart(start))
	r.bot.SetMember(r.group, r.organiser, "member")
	for i, kv := range r.env {
		if strings.HasPrefix(kv, "TELEGRAM_API_ENDPOINT=") {
			r.env[i] = "TELEGRAM_API_ENDPOINT=" + r.bot.Endpoint()
		}
	}
	st.addr = freeAddr(t)
	st.p = startRelais(t, r.bin, append(slices.Clone(r.env), "RELAIS_HTTP_ADDR="+st.addr, "RELAIS_PUBLIC_URL=http://"+st.addr+base+"/"), "run")
	waitReady(t, st.p, st.addr, 60*time.Second)
	camille := tgtest.User{ID: 801, FirstName: "Camille", LastName: "Martin", Username: "camille_m"}
	zoe := tgtest.User{ID: 802, FirstName: "Zoé", LastName: "Objectrice"}
	bastien := tgtest.User{ID: 803, FirstName: "Bastien", LastName: "Secret"}
	voisins := []tgtest.User{{ID: 811, FirstName: "Marc"}, {ID: 812, FirstName: "Inès"}, {ID: 813, FirstName: "Yann"}, {ID: 814, FirstName: "Lou"}}
	for d := range 20 {
		day := start.Add(time.Duration(d) * 24 * time.Hour)
		for i, hour := range []int{8, 12, 18, 21} {
			if (d+i)%3 == 0 && d < 14 {
				continue // busier lately
			}
			r.bot.SetTime(day.Add(time.Duration(hour) * time.Hour))
			id := r.bot.Text(r.group, camille, fmt.Sprintf("Qui vient jeudi ? %d", i))
			v := voisins[(d+i)%len(voisins)]
			r.bot.Reply(r.group, v, id, "Moi !")
			r.bot.Text(st.other, bastien, "Réunion à Grenoble")
			r.bot.Reply(st.other, v, id, "ok")
			if d%4 == 0 {
				r.bot.Text(r.group, zoe, "Je peux aider")
			}
		}
	}
	r.bot.SetTime(time.Now().Add(-time.Hour))
	r.bot.Text(r.group, zoe, "/stop")
	// Zoé's /stop is answered in order after everything said before it.
	r.eventually(st.p, "the answer to /stop", func() bool {
		return slices.ContainsFunc(r.sentTo(r.group.ID), func(s string) bool { return strings.Contains(s, "C'est noté") })
	})
	r.quiet(st.p)
	return st
}

// link asks the bot for a dashboard link, as the organiser, in private.
func (st *orgStory) link() string {
	st.r.t.Helper()
	text := st.r.ask(st.p, "/tableau")
	l := linkPattern.FindString(text)
	if l == "" || strings.Contains(text, "?t=") {
		st.r.t.Fatalf("no login link with its token after '#' in the bot's answer: %q", text)
	}
	return l
}

// askAs sends a command in u's private chat and returns the answer.
func (st *orgStory) askAs(u tgtest.User, text string) string {
	r := st.r
	r.t.Helper()
	before := len(r.sentTo(u.ID))
	r.bot.Text(tgtest.Private(u), u, text)
	var got []string
	r.eventually(st.p, "an answer to "+text, func() bool {
		got = r.sentTo(u.ID)
		return len(got) > before
	})
	return strings.Join(got[before:], "\n")
}

// TestOrganiserScopeEndToEnd: through the real binary and the fake Telegram's getChatMember,
// the organiser of group A learns nothing of group B nor of the objector, by any command or
// dashboard URL; the admin sees both groups; /stats comes with a chart.
func TestOrganiserScopeEndToEnd(t *testing.T) {
	st := newOrgStory(t)
	r := st.r
	secrets := []string{st.other.Title, "Bastien", "Zoé", "Objectrice"}
	for _, c := range []struct{ cmd, want string }{
		{"/stats", r.group.Title}, {"/stats Grenoble", ""}, {"/actifs", "Camille Martin"}, {"/relais", "Camille Martin"},
		{"/fiche Secret", ""}, {"/fiche Marc", r.group.Title}, {"/bilan", r.group.Title}, {"/sync", ""},
	} {
		answer := r.ask(st.p, c.cmd)
		for _, s := range secrets {
			if strings.Contains(answer, s) {
				t.Errorf("%s answered %q of group B or the objector:\n%s", c.cmd, s, answer)
			}
		}
		if !strings.Contains(answer, c.want) {
			t.Errorf("%s lacks %q:\n%s", c.cmd, c.want, answer)
		}
	}
	photos := 0
	for _, ph := range r.bot.Photos() {
		if ph.ChatID == r.organiser.ID && strings.HasPrefix(string(ph.Bytes), "\x89PNG") {
			photos++
			if strings.Contains(ph.Caption, st.other.Title) {
				t.Errorf("chart caption %q", ph.Caption)
			}
		}
	}
	if photos != 1 {
		t.Errorf("%d charts sent to the organiser, want 1 (for /stats)", photos)
	}
	if all := st.askAs(st.admin, "/stats"); !strings.Contains(all, r.group.Title) || !strings.Contains(all, st.other.Title) {
		t.Errorf("admin's /stats lacks a group:\n%s", all)
	}

	// The dashboard, through plain HTTP.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	link := st.link()
	u, _ := url.Parse(link)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get("http://" + st.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+st.addr+u.Path, strings.NewReader(url.Values{"t": {u.Fragment}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+st.addr)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), r.group.Title) {
		t.Fatalf("dashboard after login %d:\n%s", resp.StatusCode, body)
	}
	tokenA := r.hasher.Group(events.Telegram, fmt.Sprint(r.group.ID))
	tokenB := r.hasher.Group(events.Telegram, fmt.Sprint(st.other.ID))
	for _, path := range []string{"/tableau/", "/tableau/?lang=en", "/tableau/groupe/" + tokenA, "/tableau/groupe/" + tokenB} {
		code, page := get(path)
		for _, s := range secrets {
			if strings.Contains(page, s) {
				t.Errorf("%s (%d) shows %q", path, code, s)
			}
		}
		if path == "/tableau/groupe/"+tokenB && code != http.StatusNotFound {
			t.Errorf("group B's page answered %d", code)
		}
	}
	r.stop(st.p)
}
