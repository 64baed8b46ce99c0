package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/events/eventstest"
)

// privacyRig runs the real binary against servers this test owns and can inspect: NATS,
// Redis (miniredis, dumped to look for a member's traces), a fake Telegram and a fake
// NationBuilder.
type privacyRig struct {
	t      *testing.T
	bin    string
	bot    *tgtest.Server
	nb     *crmtest.NationBuilder
	redis  *miniredis.Miniredis
	js     jetstream.JetStream
	names  events.Names
	hasher events.Hasher
	env    []string
	group  tgtest.Chat
}

func newPrivacyRig(t *testing.T, policy string) *privacyRig {
	t.Helper()
	r := &privacyRig{t: t, bin: buildRelais(t), group: tgtest.Supergroup(-100555, "Entraide Belleville")}
	r.bot = tgtest.New(t, tgtest.WithStart(time.Now().Add(-48*time.Hour)))
	r.nb = crmtest.NewNationBuilder(t, "nb-test-token")
	r.redis = miniredis.RunT(t)
	srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r.js, _ = jetstream.New(nc)
	ns := eventstest.UniquePrefix()
	r.names, _ = events.NewNames(ns)
	r.hasher, _ = events.NewHasher(eventstest.Secret)
	r.env = []string{
		"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_SECRET=" + string(eventstest.Secret), "RELAIS_NAMESPACE=" + ns,
		"RELAIS_SYNC_POLICY=" + policy, "RELAIS_ACTIVE_MIN_MESSAGES=3", "RELAIS_ACTIVE_MIN_DAYS=1",
		"NATS_URL=" + srv.URL(), "REDIS_URL=redis://" + r.redis.Addr(),
		"TELEGRAM_TOKEN=" + r.bot.Token(), "TELEGRAM_API_ENDPOINT=" + r.bot.Endpoint(),
		"CRM=nationbuilder", "NATIONBUILDER_SLUG=test", "NATIONBUILDER_BASE_URL=" + r.nb.URL,
		"NATIONBUILDER_TOKEN=nb-test-token",
	}
	return r
}

func (r *privacyRig) start() *process {
	r.t.Helper()
	addr := freeAddr(r.t)
	p := startRelais(r.t, r.bin, append(slices.Clone(r.env), "RELAIS_HTTP_ADDR="+addr), "run")
	waitReady(r.t, p, addr, 15*time.Second)
	return p
}

func (r *privacyRig) say(u tgtest.User, texts ...string) {
	for _, text := range texts {
		r.bot.Text(r.group, u, text)
	}
}

func (r *privacyRig) externalID(u tgtest.User) string {
	return events.ExternalID(r.hasher.Member(events.Telegram, fmt.Sprint(u.ID)))
}

// settle waits until every update was fetched and the bridge and CRM worker have nothing
// left to do.
func (r *privacyRig) settle(p *process) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		done := r.bot.Pending() == 0
		for _, c := range [][2]string{{r.names.EventsStream(), r.names.BridgeConsumer()}, {r.names.CRMStream(), r.names.CRMConsumer()}} {
			info, err := consumerInfo(ctx, r.js, c[0], c[1])
			done = done && err == nil && info.NumPending == 0 && info.NumAckPending == 0
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			r.t.Fatalf("relais did not settle in 30s\n%s", p.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *privacyRig) signup(u tgtest.User) (crmtest.Signup, bool) {
	return r.nb.SignupByExternalID(r.externalID(u))
}

// /stop and /oubli end to end: from a Telegram group to the fake NationBuilder, the event
// log and Redis; and a replay of the log brings nobody back.
func TestObjectionAndErasureReachEverywhere(t *testing.T) {
	r := newPrivacyRig(t, "notice")
	nadia := tgtest.User{ID: 501, FirstName: "Nadia", LastName: "Benali", Username: "nadia"}
	paul := tgtest.User{ID: 502, FirstName: "Paul", LastName: "Durand"}
	r.say(nadia, "Bonjour", "Je peux aider jeudi", "Et samedi")
	r.say(paul, "Salut", "Moi aussi", "Dimanche ?")
	p := r.start()
	r.settle(p)
	for _, u := range []tgtest.User{nadia, paul} {
		s, ok := r.signup(u)
		if !ok || !slices.Contains(s.Tags, "relais-actif") || s.DoNotContact {
			t.Fatalf("%s in NationBuilder: %+v (found %v), want tagged relais-actif", u.FirstName, s, ok)
		}
	}

	// Nadia objects: untagged, do-not-contact, and what she says afterwards changes nothing.
	r.say(nadia, "/stop")
	r.settle(p)
	stopped, _ := r.signup(nadia)
	if !stopped.DoNotContact || slices.Contains(stopped.Tags, "relais-actif") || !slices.Contains(stopped.Tags, "relais-stop") {
		t.Fatalf("after /stop NationBuilder holds %+v, want do_not_contact, relais-stop and no relais-actif", stopped)
	}
	before := r.nb.Requests.Total()
	r.say(nadia, "Encore un message", "Et un autre", "Et un troisième")
	r.settle(p)
	if after, _ := r.signup(nadia); r.nb.Requests.Total() != before || !slices.Equal(after.Tags, stopped.Tags) {
		t.Fatalf("messages after /stop reached the CRM: %d more requests, %+v", r.nb.Requests.Total()-before, after)
	}

	// Paul asks to be forgotten.
	paulToken := r.hasher.Member(events.Telegram, "502")
	r.say(paul, "/oubli")
	r.settle(p)
	// The erasure runs off the batch loop and deletes its own command from the log, which
	// settles the consumer before it is done: wait for its last step, the CRM deletion.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s, ok := r.signup(paul)
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after /oubli NationBuilder still holds %+v\n%s", s, p.Logs())
		}
	}
	r.settle(p)
	if n := r.nb.Requests.ByRoute()["DELETE /api/v2/signups/{id} 200"]; n != 1 {
		t.Fatalf("NationBuilder saw %d signup deletions, want 1: %v", n, r.nb.Requests.ByRoute())
	}
	r.assertForgotten(paulToken, "Paul", "Durand")
	stopRelais(t, p)

	// Rebuild Redis from the log: Paul stays forgotten.
	r.redis.FlushAll()
	replay := startRelais(t, r.bin, r.env, "replay")
	if err := <-replay.done; err != nil {
		t.Fatalf("relais replay: %v\n%s", err, replay.Logs())
	}
	r.assertForgotten(paulToken, "Paul", "Durand")
	if r.nb.Requests.Malformed() != 0 {
		t.Fatalf("NationBuilder rejected requests as malformed: %v", r.nb.Requests.MalformedReasons())
	}
}

// assertForgotten checks that neither the event log nor Redis holds a trace of the member.
func (r *privacyRig) assertForgotten(token string, names ...string) {
	r.t.Helper()
	ctx := context.Background()
	for _, s := range []struct{ stream, filter string }{
		{r.names.EventsStream(), r.names.MemberEventsFilter(token)},
	} {
		st, err := r.js.Stream(ctx, s.stream)
		if err != nil {
			r.t.Fatal(err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(s.filter))
		if err != nil {
			r.t.Fatal(err)
		}
		if len(info.State.Subjects) != 0 {
			r.t.Fatalf("%s still holds the member's events: %v", s.stream, info.State.Subjects)
		}
	}
	dump := r.redis.Dump()
	for _, k := range r.redis.Keys() {
		if strings.Contains(k, token) {
			r.t.Fatalf("redis key %q names the erased member", k)
		}
	}
	for _, s := range append([]string{token}, names...) {
		if strings.Contains(dump, s) {
			r.t.Fatalf("redis still holds %q of the erased member", s)
		}
	}
}

// Under opt-in, a very active member who never said /oui never reaches the CRM; after /oui
// they do.
func TestOptInKeepsTheSilentOutOfTheCRM(t *testing.T) {
	r := newPrivacyRig(t, "opt-in")
	camille := tgtest.User{ID: 601, FirstName: "Camille", LastName: "Martin"}
	for range 4 {
		r.say(camille, "Je m'occupe des courses", "Qui a besoin ?", "Merci à tous")
	}
	p := r.start()
	r.settle(p)
	if n := r.nb.Requests.Total(); n != 0 || len(r.nb.Signups()) != 0 {
		t.Fatalf("NationBuilder got %d requests and %d signups for a member who never said /oui", n, len(r.nb.Signups()))
	}
	r.say(camille, "/oui")
	r.settle(p)
	if s, ok := r.signup(camille); !ok || !slices.Contains(s.Tags, "relais-actif") {
		t.Fatalf("after /oui: %+v (found %v), want her in NationBuilder, tagged", s, ok)
	}
	stopRelais(t, p)
}
