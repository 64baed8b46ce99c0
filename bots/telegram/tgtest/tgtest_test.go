package tgtest_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

func client(t *testing.T, s *tgtest.Server) *tgbotapi.BotAPI {
	t.Helper()
	bot, err := tgbotapi.NewBotAPIWithClient(s.Token(), s.Endpoint(), s.Client())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return bot
}

func ids(t *testing.T, bot *tgbotapi.BotAPI, params tgbotapi.Params) []int {
	t.Helper()
	resp, err := bot.MakeRequest("getUpdates", params)
	if err != nil {
		t.Fatalf("getUpdates: %v", err)
	}
	var us []struct {
		ID int `json:"update_id"`
	}
	if err := json.Unmarshal(resp.Result, &us); err != nil {
		t.Fatal(err)
	}
	out := []int{}
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGetUpdatesSemantics: updates stay until an offset confirms them, as on Telegram.
func TestGetUpdatesSemantics(t *testing.T) {
	s := tgtest.New(t)
	bot := client(t, s)
	g := tgtest.Supergroup(-1001, "G")
	u := tgtest.User{ID: 1, FirstName: "A"}
	for range 3 {
		s.Text(g, u, "x")
	}
	if got := ids(t, bot, tgbotapi.Params{}); !equal(got, []int{1, 2, 3}) {
		t.Fatalf("first fetch = %v", got)
	}
	if got := ids(t, bot, tgbotapi.Params{}); !equal(got, []int{1, 2, 3}) {
		t.Fatalf("unconfirmed updates not returned again: %v", got)
	}
	if got := ids(t, bot, tgbotapi.Params{"offset": "3"}); !equal(got, []int{3}) || s.Pending() != 1 || s.Confirmed() != 3 {
		t.Fatalf("offset 3 = %v, pending %d, confirmed %d", got, s.Pending(), s.Confirmed())
	}
	s.Text(g, u, "y")
	s.Text(g, u, "z")
	if got := ids(t, bot, tgbotapi.Params{"offset": "-1"}); !equal(got, []int{5}) {
		t.Fatalf("offset -1 = %v, want the last update only", got)
	}
	if got := ids(t, bot, tgbotapi.Params{"offset": "6", "timeout": "0"}); len(got) != 0 || s.Pending() != 0 {
		t.Fatalf("after confirming all: %v, pending %d", got, s.Pending())
	}
}

// TestErrorsAsTelegramSendsThem: the library decodes the fake's errors into the fields a
// caller reads.
func TestErrorsAsTelegramSendsThem(t *testing.T) {
	s := tgtest.New(t)
	bot := client(t, s)

	s.InjectError("getUpdates", tgtest.TooManyRequests(7))
	_, err := bot.MakeRequest("getUpdates", nil)
	var api *tgbotapi.Error
	if !errors.As(err, &api) || api.Code != 429 || api.RetryAfter != 7 {
		t.Errorf("429: %v", err)
	}

	s.Migrate(tgtest.Group(-42, "G"), -1004200, tgtest.User{ID: 1, FirstName: "A"})
	_, err = bot.Send(tgbotapi.NewMessage(-42, "hi"))
	if !errors.As(err, &api) || api.Code != 400 || api.MigrateToChatID != -1004200 {
		t.Errorf("migrated: %v", err)
	}

	if _, err := bot.MakeRequest("setWebhook", tgbotapi.Params{"url": "https://example.org/h", "secret_token": "s"}); err != nil {
		t.Fatal(err)
	}
	_, err = bot.MakeRequest("getUpdates", nil)
	if !errors.As(err, &api) || api.Code != 409 {
		t.Errorf("getUpdates with a webhook: %v", err)
	}
	if wh := s.Webhook(); wh == nil || wh.SecretToken != "s" {
		t.Errorf("webhook = %+v", wh)
	}

	_, err = tgbotapi.NewBotAPIWithClient("1:wrong", s.Endpoint(), s.Client())
	if !errors.As(err, &api) || api.Code != 401 {
		t.Errorf("wrong token: %v", err)
	}
}

// TestConcurrentPollersConflict: a second long poll ends the first with 409.
func TestConcurrentPollersConflict(t *testing.T) {
	s := tgtest.New(t)
	bot := client(t, s)
	var wg sync.WaitGroup
	var first error
	wg.Go(func() { _, first = bot.MakeRequest("getUpdates", tgbotapi.Params{"timeout": "10"}) })
	for s.Calls("getUpdates") == 0 {
		time.Sleep(5 * time.Millisecond) // until the first long poll is in
	}
	_ = ids(t, bot, tgbotapi.Params{})
	wg.Wait()
	var api *tgbotapi.Error
	if !errors.As(first, &api) || api.Code != 409 {
		t.Errorf("first poller: %v, want 409", first)
	}
}
