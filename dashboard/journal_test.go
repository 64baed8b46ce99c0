package dashboard_test

import (
	"context"
	"errors"
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
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/dashboard"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
	"github.com/relais-bot/relais/journal"
)

// journalingSource is fakeSource keeping an access journal as *commands.Handler does: the
// members its lists name are noted, and each page is appended for the organiser reading it.
type journalingSource struct {
	fakeSource
	j    *journal.Journal
	mu   sync.Mutex
	fail bool
}

func (s *journalingSource) Top(ctx context.Context, sc scope.Scope, r bridge.Ranking, n int, keep func(bridge.MemberCard) bool) ([]bridge.MemberCard, error) {
	cards, err := s.fakeSource.Top(ctx, sc, r, n, keep)
	for _, c := range cards {
		journal.Note(ctx, c.Token)
	}
	return cards, err
}

func (s *journalingSource) JournalRead(ctx context.Context, who scope.Who, what string, members []string) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("journal unreachable")
	}
	return s.j.Append(ctx, journal.Entry{Who: "tok-" + who.ID, Role: journal.RoleOrganiser, What: what, Members: members})
}

// TestPagesAreJournaled: the overview and a group page are in the access journal with the
// members they named; a page the journal cannot record is not shown.
func TestPagesAreJournaled(t *testing.T) {
	env := eventstest.New(t)
	j, err := journal.Open(t.Context(), env.JS, env.Names, journal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.JS.DeleteStream(context.Background(), env.Names.JournalStream()) })
	kv, err := events.OrganiserBucket(t.Context(), env.JS, env.Names, env.Names.DashboardBucket(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(dashboard.Config{PublicURL: "http://127.0.0.1", Lang: "fr", SessionTTL: time.Hour}, kv)
	if err != nil {
		t.Fatal(err)
	}
	src := &journalingSource{j: j}
	srv.Attach(src, fakeSeries{})
	r := &rig{t: t, srv: srv, clock: &clock{t: time.Now()}, logs: &strings.Builder{}}
	mux := http.NewServeMux()
	mux.Handle(srv.Root(), srv.Handler())
	r.http = httptest.NewServer(mux)
	t.Cleanup(r.http.Close)
	r.origin = "http://127.0.0.1"
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	link := r.link(scope.Who{Platform: events.Telegram, ID: "a"})
	u, _ := url.Parse(link)
	r.do(c, http.MethodGet, r.http.URL+u.RequestURI(), nil)
	if res := r.do(c, http.MethodPost, r.http.URL+u.Path, url.Values{"t": {tokenOf(t, link)}}); res.code != http.StatusOK || !strings.Contains(res.body, cardA.Name) {
		t.Fatalf("overview %d", res.code)
	}
	if res := r.do(c, http.MethodGet, r.http.URL+"/tableau/groupe/gA", nil); res.code != http.StatusOK {
		t.Fatalf("group page %d", res.code)
	}
	log, problems, err := j.Verify(t.Context())
	if err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", err, problems)
	}
	got := log.Since(time.Time{})
	if len(got) != 2 || got[0].What != "page:overview" || got[1].What != "page:group" {
		t.Fatalf("journal: %+v", got)
	}
	for _, e := range got {
		if e.Who != "tok-a" || !slices.Contains(e.Members, cardA.Token) || slices.Contains(e.Members, cardB.Token) {
			t.Errorf("entry %s: by %s naming %v", e.What, e.Who, e.Members)
		}
	}
	src.mu.Lock()
	src.fail = true
	src.mu.Unlock()
	if res := r.do(c, http.MethodGet, r.http.URL+"/tableau/", nil); res.code != http.StatusServiceUnavailable || strings.Contains(res.body, cardA.Name) {
		t.Errorf("journal down: page %d, names shown: %v", res.code, strings.Contains(res.body, cardA.Name))
	}
}
