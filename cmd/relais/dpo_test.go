package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// dpoRig runs the real binary the way a deployment on the defaults does (embedded NATS with
// its file store and embedded Redis, both in the data directory) against a fake Telegram and
// a fake NationBuilder reached through a proxy that keeps every request body: what a data
// protection officer would inspect after the fact.
type dpoRig struct {
	t         *testing.T
	bin       string
	bot       *tgtest.Server
	nb        *crmtest.NationBuilder
	dataDir   string
	env       []string
	group     tgtest.Chat
	organiser tgtest.User
	hasher    events.Hasher

	redis *miniredis.Miniredis // nil: relais runs its embedded Redis

	mu     sync.Mutex
	bodies bytes.Buffer // every request body NationBuilder received
	logs   []string     // logs of every run
}

// withRedis makes relais use a Redis this test owns and can dump, instead of its embedded
// one (which lives in relais' memory only).
func (r *dpoRig) withRedis() {
	r.redis = miniredis.RunT(r.t)
	r.env = append(r.env, "REDIS_URL=redis://"+r.redis.Addr())
}

func newDPORig(t *testing.T, policy string) *dpoRig {
	t.Helper()
	r := &dpoRig{
		t: t, bin: buildRelais(t), dataDir: t.TempDir(),
		group:     tgtest.Supergroup(-100777, "Entraide Belleville"),
		organiser: tgtest.User{ID: 709, FirstName: "Odile", Username: "odile_orga"},
	}
	r.bot = tgtest.New(t, tgtest.WithStart(time.Now().Add(-48*time.Hour)))
	r.bot.SetMember(r.group, r.organiser, "member") // Telegram says she is in the group: her scope
	r.nb = crmtest.NewNationBuilder(t, "nb-test-token")
	target, _ := url.Parse(r.nb.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies.Write(body)
		r.bodies.WriteByte('\n')
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)
	r.hasher, _ = events.NewHasher(eventstest.Secret)
	r.env = []string{
		"RELAIS_DATA_DIR=" + r.dataDir, "RELAIS_SECRET=" + string(eventstest.Secret),
		"RELAIS_SYNC_POLICY=" + policy, "RELAIS_ACTIVE_MIN_MESSAGES=3", "RELAIS_ACTIVE_MIN_DAYS=1",
		"RELAIS_LEADER_MIN_PEOPLE=2", "RELAIS_ORGANISERS=telegram:709", "RELAIS_LOG_LEVEL=debug",
		"RELAIS_DIGEST_AT=off", // the organiser's answers are what these tests read
		"TELEGRAM_TOKEN=" + r.bot.Token(), "TELEGRAM_API_ENDPOINT=" + r.bot.Endpoint(),
		"CRM=nationbuilder", "NATIONBUILDER_SLUG=test", "NATIONBUILDER_BASE_URL=" + front.URL,
		"NATIONBUILDER_TOKEN=nb-test-token",
	}
	return r
}

func (r *dpoRig) start() *process {
	r.t.Helper()
	addr := freeAddr(r.t)
	p := startRelais(r.t, r.bin, append(slices.Clone(r.env), "RELAIS_HTTP_ADDR="+addr), "run")
	waitReady(r.t, p, addr, 30*time.Second)
	return p
}

func (r *dpoRig) stop(p *process) {
	r.t.Helper()
	stopRelais(r.t, p)
	r.mu.Lock()
	r.logs = append(r.logs, p.Logs())
	r.mu.Unlock()
}

func (r *dpoRig) say(u tgtest.User, texts ...string) {
	for _, text := range texts {
		r.bot.Text(r.group, u, text)
	}
}

// ask sends a command in the organiser's private chat and returns the answer.
func (r *dpoRig) ask(p *process, text string) string {
	r.t.Helper()
	before := len(r.sentTo(r.organiser.ID))
	r.bot.Text(tgtest.Private(r.organiser), r.organiser, text)
	var got []string
	r.eventually(p, "an answer to "+text, func() bool {
		got = r.sentTo(r.organiser.ID)
		return len(got) > before
	})
	return strings.Join(got[before:], "\n")
}

func (r *dpoRig) sentTo(chat int64) []string {
	var out []string
	for _, s := range r.bot.Sent() {
		if s.ChatID == chat {
			out = append(out, s.Text)
		}
	}
	return out
}

func (r *dpoRig) eventually(p *process, what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s within 30 s\n%s", what, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quiet waits until every update was fetched and nothing was sent for a while: the bridge
// and the CRM worker are done.
func (r *dpoRig) quiet(p *process) {
	r.t.Helper()
	r.eventually(p, "confirmed updates", func() bool { return r.bot.Pending() == 0 })
	last, since := -1, time.Now()
	r.eventually(p, "quiet", func() bool {
		n := len(r.bot.Sent()) + r.nb.Requests.Total()
		if n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) > 700*time.Millisecond
	})
}

func (r *dpoRig) signup(u tgtest.User) (crmtest.Signup, bool) {
	return r.nb.SignupByExternalID(events.ExternalID(r.hasher.Member(events.Telegram, fmt.Sprint(u.ID))))
}

// leaks lists the files under the data directory that hold any of needles, byte for byte,
// and says whether the NationBuilder bodies or the logs do.
func (r *dpoRig) leaks(needles ...string) []string {
	r.t.Helper()
	var out []string
	for n, files := range eventstest.FilesHolding(r.t, r.dataDir, false, needles...) {
		for _, f := range files {
			out = append(out, fmt.Sprintf("%s holds %q", f, n))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range needles {
		for _, l := range r.logs {
			if strings.Contains(l, n) {
				out = append(out, fmt.Sprintf("the logs hold %q", n))
			}
		}
	}
	return out
}

// A member floods the group (commands included, past the rate limit), is answered and
// talked about, then asks for erasure: they are told in two steps, the CRM contact is
// deleted, organisers never see them again, before and after a restart, and a byte search of
// the data directory finds neither their name nor their username.
func TestDPOFloodThenForget(t *testing.T) {
	r := newDPORig(t, "notice")
	zoe := tgtest.User{ID: 701, FirstName: "Zéphyrine", LastName: "Canari", Username: "zcanari42"}
	voisins := []tgtest.User{{ID: 702, FirstName: "Marc"}, {ID: 703, FirstName: "Inès"}, {ID: 704, FirstName: "Yann"}}
	p := r.start()
	for i := range 20 {
		r.say(zoe, fmt.Sprintf("Je peux aider pour les courses, créneau %d", i))
	}
	r.say(zoe, "/aide", "/aide", "/aide", "/aide", "/aide", "/aide") // one past the limit
	for _, v := range voisins {
		r.bot.Reply(r.group, v, 1, "Merci Zéphyrine !")
		text := "Demande à @zcanari42 pour jeudi"
		r.bot.Send(tgtest.Message{Chat: r.group, From: &v, Text: text, Entities: []tgtest.Entity{tgtest.EntityOf(text, "@zcanari42", "mention")}})
		r.say(v, "D'accord", "Je passe demain", "Super")
	}
	r.quiet(p)
	if s, ok := r.signup(zoe); !ok || !slices.Contains(s.Tags, "relais-actif") {
		t.Fatalf("before /oubli NationBuilder holds %+v (found %v), want her synced", s, ok)
	}
	if a := r.ask(p, "/actifs"); !strings.Contains(a, "Canari") {
		t.Fatalf("organiser's /actifs before the erasure does not name her: %q", a)
	}
	if a := r.ask(p, "/fiche Canari"); !strings.Contains(a, "zcanari42") {
		t.Fatalf("organiser's /fiche before the erasure: %q", a)
	}

	if len(r.leaks("Zéphyrine", "zcanari42")) == 0 {
		t.Fatal("her name was never on disk before /oubli: the byte search would prove nothing")
	}
	namedBefore := r.bodiesNaming("Canari")
	r.say(zoe, "/oubli")
	r.eventually(p, "the erasure confirmed", func() bool {
		return slices.ContainsFunc(r.sentTo(zoe.ID), func(s string) bool { return strings.HasPrefix(s, "Effacement terminé") })
	})
	// The group's answers are paced (Telegram's per-group limit): the acknowledgement of the
	// request may come after the private confirmation.
	r.eventually(p, "the request acknowledged in the group", func() bool {
		return slices.ContainsFunc(r.sentTo(r.group.ID), func(s string) bool { return strings.HasPrefix(s, "Demande d'effacement enregistrée") })
	})
	if s, ok := r.signup(zoe); ok {
		t.Fatalf("after /oubli NationBuilder still holds %+v", s)
	}
	r.quiet(p)
	for _, q := range []string{"/actifs", "/relais", "/fiche Canari", "/fiche zcanari42", "/stats"} {
		// A "nobody matches « Canari »" answer echoes the query: look for what only her card
		// or a list would show.
		if a := r.ask(p, q); strings.Contains(a, "Zéphyrine") || strings.Contains(a, "@zcanari42") {
			t.Errorf("after /oubli the organiser's %s names her: %q", q, a)
		}
	}
	r.stop(p)
	secrets := []string{"Zéphyrine", "Canari", "zcanari42"}
	if l := r.leaks(secrets...); len(l) > 0 {
		t.Errorf("after /oubli and a clean stop:\n%s", strings.Join(l, "\n"))
	}

	// Restart: the embedded Redis is rebuilt from the log; she stays gone, from the
	// organiser's answers, from the CRM and from the disk.
	p = r.start()
	r.quiet(p)
	for _, q := range []string{"/actifs", "/fiche Canari"} {
		if a := r.ask(p, q); strings.Contains(a, "Zéphyrine") || strings.Contains(a, "@zcanari42") {
			t.Errorf("after a restart the organiser's %s names her: %q", q, a)
		}
	}
	if a := r.ask(p, "/actifs"); !strings.Contains(a, "Marc") {
		t.Errorf("after a restart /actifs lost everyone: %q (the test proves nothing)", a)
	}
	if _, ok := r.signup(zoe); ok {
		t.Error("after a restart she is back in NationBuilder")
	}
	r.stop(p)
	if l := r.leaks(secrets...); len(l) > 0 {
		t.Errorf("after a restart:\n%s", strings.Join(l, "\n"))
	}
	if n := r.bodiesNaming("Canari"); n != namedBefore {
		t.Errorf("NationBuilder was sent her name %d more times after her /oubli", n-namedBefore)
	}
}

// bodiesNaming counts the request bodies NationBuilder received that hold s.
func (r *dpoRig) bodiesNaming(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Count(r.bodies.String(), s)
}

// An objector disappears from every organiser answer at once and after a restart, while the
// people they answered before objecting keep that credit, live and rebuilt alike.
func TestDPOStopThenOrganiserCommands(t *testing.T) {
	r := newDPORig(t, "notice")
	lea := tgtest.User{ID: 801, FirstName: "Léa", LastName: "Meneuse"}
	bob := tgtest.User{ID: 802, FirstName: "Bob", LastName: "Objecteur", Username: "bob_obj"}
	others := []tgtest.User{{ID: 803, FirstName: "Marc"}, {ID: 804, FirstName: "Inès"}}
	p := r.start()
	first := r.bot.Text(r.group, lea, "Qui peut aider Mme Durand samedi ?")
	r.say(lea, "Je coordonne", "Merci à tous")
	for _, u := range append(others, bob) {
		r.bot.Reply(r.group, u, first, "Moi !")
		r.say(u, "Je suis dispo", "Jeudi aussi", "Super")
	}
	r.quiet(p)
	before := r.ask(p, "/fiche Meneuse")
	if !strings.Contains(before, "Personnes") {
		t.Fatalf("organiser's card of Léa: %q", before)
	}
	if a := r.ask(p, "/actifs"); !strings.Contains(a, "Bob Objecteur") {
		t.Fatalf("Bob should be listed before objecting: %q", a)
	}

	r.say(bob, "/stop")
	r.quiet(p)
	if s, ok := r.signup(bob); !ok || !s.DoNotContact || !slices.Contains(s.Tags, "relais-stop") || slices.Contains(s.Tags, "relais-actif") {
		t.Errorf("Bob in NationBuilder after /stop: %+v (found %v)", s, ok)
	}
	r.say(bob, "Un message après mon /stop")
	r.quiet(p)
	check := func(when string) {
		t.Helper()
		for _, q := range []string{"/actifs", "/relais", "/fiche Objecteur", "/fiche bob_obj", "/stats"} {
			if a := r.ask(p, q); strings.Contains(a, "Bob Objecteur") || strings.Contains(a, "@bob_obj") {
				t.Errorf("%s the organiser's %s shows Bob: %q", when, q, a)
			}
		}
		if got := r.ask(p, "/fiche Meneuse"); got != before {
			t.Errorf("%s Léa's card changed:\n got %q\nwant %q (Bob's reply from before his /stop keeps counting)", when, got, before)
		}
	}
	check("after /stop")
	r.stop(p)
	p = r.start()
	r.quiet(p)
	check("after a restart")
	r.stop(p)
}

// A member who says yes in private and shares their own number with the button gets that
// number in the CRM contact; a contact card of someone else is not taken for theirs.
func TestDPOSharedPhoneReachesTheCRM(t *testing.T) {
	r := newDPORig(t, "opt-in")
	sam := tgtest.User{ID: 901, FirstName: "Sam", LastName: "Partage"}
	p := r.start()
	r.say(sam, "Je fais les courses de la semaine", "Qui a besoin ?", "Je passe mardi")
	r.quiet(p)
	if _, ok := r.signup(sam); ok {
		t.Fatal("opt-in: synced before saying yes")
	}
	private := tgtest.Private(sam)
	r.bot.Text(private, sam, "/oui")
	r.quiet(p)
	s, ok := r.signup(sam)
	if !ok || s.MobileNumber != "" {
		t.Fatalf("after /oui: %+v (found %v), want synced without a number yet", s, ok)
	}
	// Someone else's card first: not their number.
	r.bot.Send(tgtest.Message{Chat: private, From: &sam, Contact: &tgtest.Contact{PhoneNumber: "+33699999999", FirstName: "Autre", UserID: 999}})
	r.quiet(p)
	if s, _ := r.signup(sam); s.MobileNumber != "" {
		t.Fatalf("another person's number reached the CRM: %+v", s)
	}
	r.bot.Send(tgtest.Message{Chat: private, From: &sam, Contact: &tgtest.Contact{PhoneNumber: "33 6 12 34 56 78", FirstName: "Sam", UserID: sam.ID}})
	r.eventually(p, "the shared number in NationBuilder", func() bool {
		s, _ := r.signup(sam)
		return s.MobileNumber == "+33612345678"
	})
	r.stop(p)
	if l := r.leaks("+33612345678", "33 6 12 34 56 78"); len(l) > 0 {
		// The number is kept with the consent (the bucket holds it) and nowhere else.
		for _, x := range l {
			if !strings.Contains(x, "KV_") && !strings.Contains(x, "CONSENT") && !strings.Contains(x, "RELAIS_CRM") {
				t.Errorf("the shared number is kept outside the consent record and the CRM queue: %s", x)
			}
		}
	}
}

// A canary in talk, in an unknown !word, in a known command's free words and in a reply is
// never stored: not in the data directory (event log, state, replies), not in a request to the
// CRM, not in the logs.
func TestDPOCanaryNeverStored(t *testing.T) {
	r := newDPORig(t, "notice")
	r.withRedis()
	const canary = "CANARI-7f3a9"
	ana := tgtest.User{ID: 1001, FirstName: "Ana", LastName: "Bavarde"}
	ben := tgtest.User{ID: 1002, FirstName: "Ben"}
	p := r.start()
	first := r.bot.Text(r.group, ana, "Rendez-vous "+canary+" devant la mairie")
	r.say(ana, "!rdv "+canary+" chez moi", "/aide "+canary, "/stop@autrebot "+canary, "/rdv "+canary)
	r.bot.Reply(r.group, ben, first, "Je viens, "+canary)
	r.say(ben, "/fiche "+canary, "!actifs "+canary)
	r.bot.Text(tgtest.Private(ana), ana, "/moi "+canary)
	r.bot.Text(tgtest.Private(ana), ana, "coucou "+canary)
	r.quiet(p)
	if a := r.ask(p, "/actifs"); !strings.Contains(a, "Bavarde") {
		t.Fatalf("nothing was processed: %q (the test proves nothing)", a)
	}
	r.stop(p)
	if l := r.leaks(canary, strings.ToLower(canary)); len(l) > 0 {
		t.Errorf("message text stored:\n%s", strings.Join(l, "\n"))
	}
	if dump := r.redis.Dump(); strings.Contains(strings.ToLower(dump), strings.ToLower(canary)) {
		t.Error("message text stored in Redis")
	} else if !strings.Contains(dump, "Bavarde") {
		t.Error("Redis holds nothing of Ana: the test proves nothing")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.Contains(r.bodies.String(), canary) {
		t.Error("message text sent to the CRM")
	}
	if r.bodies.Len() == 0 {
		t.Error("nothing reached the CRM: the test proves nothing")
	}
}
