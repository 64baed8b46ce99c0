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
