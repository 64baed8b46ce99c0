package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
)

// relais run with a token and a fake Bot API polls it and publishes the group's events, and
// its logs never show the token.
func TestRunPollsTelegram(t *testing.T) {
	bin := buildRelais(t)
	const token = "4242:AAErecognisableTokenValue_xyz"
	bot := tgtest.New(t, tgtest.WithToken(token))
	// A server of this test's own, so the default stream names are ours alone.
	srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	group := tgtest.Supergroup(-1001234, "Entraide Belleville")
	camille := tgtest.User{ID: 7001, FirstName: "Camille", LastName: "Martin", Username: "camille"}
	bot.Text(group, camille, "Qui peut faire les courses de Mme Diallo demain ?")

	addr := freeAddr(t)
	p := startRelais(t, bin, []string{
		"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + addr, "RELAIS_LOG_LEVEL=debug",
		"NATS_URL=" + srv.URL(), "TELEGRAM_TOKEN=" + token, "TELEGRAM_API_ENDPOINT=" + bot.Endpoint(),
	}, "run", "--roles=telegram")
	waitReady(t, p, addr, 10*time.Second)

	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, events.DefaultNames().EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	var ev events.Event
	for {
		msg, err := stream.GetMsg(ctx, 1)
		if err == nil {
			if ev, err = events.DecodeEvent(msg.Data); err != nil {
				t.Fatal(err)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no event published: %v\n%s", err, p.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ev.Kind != events.KindMessage || ev.Group == nil || ev.Group.Title != "Entraide Belleville" || ev.Sender.ID != "7001" {
		t.Fatalf("event %+v", ev)
	}
	stopRelais(t, p)
	logs := p.Logs()
	if strings.Contains(logs, "AAErecognisableTokenValue") || strings.Contains(logs, "4242:") {
		t.Fatalf("the token appears in the logs:\n%s", logs)
	}
	for _, personal := range []string{"Camille", "Martin", "Diallo", "courses"} {
		if strings.Contains(logs, personal) {
			t.Fatalf("personal data %q appears in the logs:\n%s", personal, logs)
		}
	}
	if !strings.Contains(logs, "privacy") {
		t.Fatalf("the privacy mode is not logged at start:\n%s", logs)
	}
}
