package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/crm/webhook"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	incident "github.com/relais-bot/relais/health"
)

// alertReceiver is RELAIS_ALERT_WEBHOOK: it keeps every correctly signed payload.
type alertReceiver struct {
	mu       sync.Mutex
	payloads []incident.Payload
	raw      []string
	bad      int
}

func newAlertReceiver(t *testing.T, secret string) (*alertReceiver, string) {
	t.Helper()
	r := &alertReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var p incident.Payload
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get(webhook.HeaderSignature) != webhook.Sign([]byte(secret), body) || json.Unmarshal(body, &p) != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.payloads, r.raw = append(r.payloads, p), append(r.raw, string(body))
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *alertReceiver) count(kind incident.Kind, event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.payloads {
		if p.Kind == kind && p.Event == event {
			n++
		}
	}
	return n
}

func (r *alertReceiver) waitFor(t *testing.T, kind incident.Kind, event string, procs ...*process) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.count(kind, event) == 0 {
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, p := range procs {
				logs.WriteString(p.Logs())
			}
			t.Fatalf("no %s %s posted; got %v\n%s", kind, event, r.raw, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two replicas of relais run: the bot kicked from a group and re-added is one incident
// started and ended, dead letters seen by both replicas are one incident, each posted signed
// to RELAIS_ALERT_WEBHOOK, naming the group by token only.
func TestRunAlertsIncidentsOnceAcrossReplicas(t *testing.T) {
	bin := buildRelais(t)
	bot := tgtest.New(t)
	srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	const secret = "alert-secret-0123456789"
	rcv, url := newAlertReceiver(t, secret)

	var procs []*process
	for range 2 {
		addr := freeAddr(t)
		p := startRelais(t, bin, []string{
			"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + addr, "RELAIS_SECRET=relais-test-secret-0123456789",
			"NATS_URL=" + srv.URL(), "TELEGRAM_TOKEN=" + bot.Token(), "TELEGRAM_API_ENDPOINT=" + bot.Endpoint(),
			"RELAIS_ALERT_WEBHOOK=" + url, "RELAIS_ALERT_SECRET=" + secret, "RELAIS_ALERT_AFTER=2s",
			"RELAIS_ADMINS=telegram:7001",
		}, "run", "--roles=telegram")
		waitReady(t, p, addr, 20*time.Second)
		procs = append(procs, p)
	}

	group := tgtest.Supergroup(-1001234, "Entraide Belleville")
	admin := tgtest.User{ID: 7001, FirstName: "Camille"}
	bot.MyChatMember(group, admin, "administrator", "kicked")
	rcv.waitFor(t, incident.TelegramGroupRemoved, "incident.started", procs...)
	bot.MyChatMember(group, admin, "kicked", "administrator")
	rcv.waitFor(t, incident.TelegramGroupRemoved, "incident.ended", procs...)

	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	names := events.DefaultNames()
	if _, err := js.Publish(context.Background(), names.DLQSubject(names.CRMSubject("m1")), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	rcv.waitFor(t, incident.DeadLetters, "incident.started", procs...)
	time.Sleep(3 * time.Second) // several probe rounds of both replicas
	for _, k := range []incident.Kind{incident.TelegramGroupRemoved, incident.DeadLetters} {
		if n := rcv.count(k, "incident.started"); n != 1 {
			t.Errorf("%s started posted %d times by two replicas, want 1", k, n)
		}
	}
	if n := rcv.count(incident.TelegramGroupRemoved, "incident.ended"); n != 1 {
		t.Errorf("removal ended posted %d times, want 1", n)
	}
	// The admin was told too, privately in the fake Telegram, once each way: the replicas'
	// replies share their ids and the replies stream drops the second.
	removed := incident.TelegramGroupRemoved.Text("fr")
	told := func(prefix string) int {
		n := 0
		for _, m := range bot.Sent() {
			if m.ChatID == admin.ID && strings.HasPrefix(m.Text, prefix) && strings.Contains(m.Text, removed) {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); told("⚠️") == 0 || told("✅ Rétabli") == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the admin was not told of the removal in chat, start and end; sent %+v", bot.Sent())
		}
	}
	if start, end := told("⚠️"), told("✅ Rétabli"); start != 1 || end != 1 {
		t.Errorf("the admin was told the start %d times and the end %d times, want once each", start, end)
	}
	for _, m := range bot.Sent() {
		if m.ChatID == admin.ID && strings.Contains(m.Text, "1234") {
			t.Errorf("the admin's message names the group's id: %q", m.Text)
		}
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.bad != 0 {
		t.Errorf("%d badly signed posts", rcv.bad)
	}
	for _, raw := range rcv.raw {
		for _, personal := range []string{"Belleville", "1234", "Camille", "7001"} {
			if strings.Contains(raw, personal) {
				t.Errorf("webhook payload names %q: %s", personal, raw)
			}
		}
	}
}

// NATS stopped: the process that sees it posts the webhook itself, marked uncoordinated;
// NATS restarted: the end is posted too.
func TestRunAlertsNATSDownByWebhookDirectly(t *testing.T) {
	bin := buildRelais(t)
	dir := t.TempDir()
	srv, err := embedded.StartNATS(embedded.Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL()
	const secret = "alert-secret-0123456789"
	rcv, hook := newAlertReceiver(t, secret)
	addr := freeAddr(t)
	p := startRelais(t, bin, []string{
		"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + addr, "NATS_URL=" + url,
		"RELAIS_ALERT_WEBHOOK=" + hook, "RELAIS_ALERT_SECRET=" + secret, "RELAIS_ALERT_AFTER=2s",
	}, "run", "--roles=crm")
	waitReady(t, p, addr, 20*time.Second)
	srv.Shutdown()
	rcv.waitFor(t, incident.NATSUnreachable, "incident.started", p)
	srv2, err := embedded.StartNATS(embedded.Options{Dir: dir, Listen: strings.TrimPrefix(url, "nats://")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv2.Shutdown)
	rcv.waitFor(t, incident.NATSUnreachable, "incident.ended", p)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, pl := range rcv.payloads {
		if pl.Kind == incident.NATSUnreachable && !pl.Uncoordinated {
			t.Errorf("posted while NATS was down without saying it is uncoordinated: %+v", pl)
		}
		if pl.Event == "incident.ended" && pl.DurationS < 2 {
			t.Errorf("ended after %d s, want at least RELAIS_ALERT_AFTER", pl.DurationS)
		}
	}
}

// The fake NationBuilder answers 503 past RELAIS_ALERT_AFTER: crm.failing; then refuses the
// token: crm.credentials at once, and the failure ends.
func TestRunAlertsCRMFailingThenRefusingCredentials(t *testing.T) {
	bin := buildRelais(t)
	srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nb := crmtest.NewNationBuilder(t, "nb-token")
	nb.Faults.SetDown(true)
	const secret = "alert-secret-0123456789"
	rcv, hook := newAlertReceiver(t, secret)
	addr := freeAddr(t)
	p := startRelais(t, bin, []string{
		"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + addr, "NATS_URL=" + srv.URL(),
		"RELAIS_SECRET=relais-test-secret-0123456789",
		"CRM=nationbuilder", "NATIONBUILDER_BASE_URL=" + nb.URL, "NATIONBUILDER_TOKEN=nb-token",
		"RELAIS_ALERT_WEBHOOK=" + hook, "RELAIS_ALERT_SECRET=" + secret, "RELAIS_ALERT_AFTER=2s",
	}, "run", "--roles=crm")
	waitReady(t, p, addr, 20*time.Second)

	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	h, err := events.NewHasher([]byte("relais-test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(js, events.DefaultNames(), h)
	publish := func(member string) {
		t.Helper()
		c := events.ContactChange{V: events.Version, ID: member + "-1", Member: member, ExternalID: events.ExternalID(member),
			Op: events.OpUpsert, FirstName: "Camille", Handles: []events.Handle{{Platform: events.Telegram, ID: "tg-" + member}},
			Tags: []string{"relais-actif"}, At: time.Now().UTC()}
		if err := pub.ContactChange(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	publish("m1")
	rcv.waitFor(t, incident.CRMFailing, "incident.started", p)
	nb.Faults.SetDown(false)
	nb.ExpireToken()
	publish("m2")
	rcv.waitFor(t, incident.CRMCredentials, "incident.started", p)
	rcv.waitFor(t, incident.CRMFailing, "incident.ended", p)
	if n := rcv.count(incident.CRMFailing, "incident.started"); n != 1 {
		t.Errorf("crm.failing started %d times, want 1", n)
	}
	logs := p.Logs()
	if strings.Contains(logs, "Camille") || strings.Contains(logs, "nb-token") {
		t.Errorf("personal data or the token in the logs:\n%s", logs)
	}
}

// Telegram refuses the token from the start: the role cannot be built, relais keeps trying,
// and the refusal is an incident at once.
func TestRunAlertsTelegramTokenRefused(t *testing.T) {
	bin := buildRelais(t)
	bot := tgtest.New(t)
	srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	const secret = "alert-secret-0123456789"
	rcv, hook := newAlertReceiver(t, secret)
	p := startRelais(t, bin, []string{
		"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + freeAddr(t), "NATS_URL=" + srv.URL(),
		"TELEGRAM_TOKEN=4242:AAEwrongTokenValue", "TELEGRAM_API_ENDPOINT=" + bot.Endpoint(),
		"RELAIS_ALERT_WEBHOOK=" + hook, "RELAIS_ALERT_SECRET=" + secret, "RELAIS_ALERT_AFTER=2s",
	}, "run", "--roles=telegram")
	rcv.waitFor(t, incident.TelegramTokenRefused, "incident.started", p)
	if logs := p.Logs(); strings.Contains(logs, "AAEwrongTokenValue") {
		t.Errorf("the token appears in the logs:\n%s", logs)
	}
}
