// Package telegram is relais' Telegram adapter: it turns Bot API updates into events.Event on
// JetStream, without losing or doubling any, and sends the bridge's replies.
//
// The go-telegram-bot-api v5 library is used for transport and types only. Its update loop
// confirms updates to Telegram before they are handled and ignores retry_after, so the
// adapter runs its own loop: fetch, publish every event and wait for the acks, only then
// confirm the batch with the next offset.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/locale"
)

// DefaultEndpoint is Telegram's API endpoint format (TELEGRAM_API_ENDPOINT).
const DefaultEndpoint = tgbotapi.APIEndpoint

// DefaultPollTimeout is the getUpdates long-poll timeout.
const DefaultPollTimeout = 50 * time.Second

// Config configures an Adapter.
type Config struct {
	Token string
	// Endpoint is the API endpoint format, "https://api.telegram.org/bot%s/%s" when empty.
	Endpoint string
	// WebhookURL switches to webhook mode (TELEGRAM_WEBHOOK_URL); WebhookSecret is then
	// required: 1–256 of A-Z, a-z, 0-9, _ and -.
	WebhookURL    string
	WebhookSecret string
	// PollTimeout is the long-poll timeout; DefaultPollTimeout when zero.
	PollTimeout time.Duration
	// Instance is this process's identity (RELAIS_INSTANCE): restarted, it takes the poll
	// lock back at once instead of waiting for its own dead lease.
	Instance string
	// Lang is the language of the share-my-phone button (RELAIS_LANG; "" is French).
	Lang string
	Log  *slog.Logger
	// Registerer gets the adapter's metrics (campaign messages by outcome); nil: none.
	Registerer prometheus.Registerer
	// HTTPClient, when set, must not time out before a long poll ends. Requests get their
	// own deadlines, so a client without Timeout is right.
	HTTPClient *http.Client
}

// eventPublisher is what the adapter needs of events.Publisher.
type eventPublisher interface {
	Event(ctx context.Context, e events.Event) (duplicate bool, err error)
}

// Adapter is one bot token's connection to Telegram.
type Adapter struct {
	cfg    Config
	log    *slog.Logger
	bot    *tgbotapi.BotAPI
	client tgbotapi.HTTPClient
	redact redactor
	js     jetstream.JetStream
	// publisher gives names, hashes and dead letters; pub is the seam events go through
	// (the same publisher, but tests put a failing one there).
	publisher *events.Publisher
	pub       eventPublisher
	mapper    *mapper
	// out holds the flood limits, shared by replies and campaigns.
	out *sender
	// campaignMessages counts campaign messages by outcome.
	campaignMessages *prometheus.CounterVec
	// backoff bounds the retry delay of the poll loop (tests shorten it).
	backoffBase, backoffMax time.Duration
	// phoneButton is the label of the share-my-phone button, in cfg.Lang.
	phoneButton string
	// sight is what Health reports.
	sight *sight
}

var secretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// New checks the token with getMe and logs whether the bot reads every group message.
func New(ctx context.Context, cfg Config, js jetstream.JetStream, pub *events.Publisher) (*Adapter, error) {
	if cfg.Token == "" {
		return nil, errors.New("telegram: token missing")
	}
	if js == nil || pub == nil {
		return nil, errors.New("telegram: jetstream and publisher are required")
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = DefaultPollTimeout
	}
	if cfg.WebhookURL != "" && !secretPattern.MatchString(cfg.WebhookSecret) {
		return nil, errors.New("telegram: webhook mode needs a secret of 1-256 characters from A-Z, a-z, 0-9, _ and -")
	}
	if cfg.HTTPClient != nil && cfg.HTTPClient.Timeout > 0 && cfg.HTTPClient.Timeout <= cfg.PollTimeout {
		return nil, fmt.Errorf("telegram: http client timeout %s must exceed the poll timeout %s", cfg.HTTPClient.Timeout, cfg.PollTimeout)
	}
	phoneButton, err := locale.Text(cfg.Lang, "telegram.PhoneButton")
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{
		phoneButton: phoneButton,
		cfg:         cfg,
		log:         log.With("platform", "telegram"),
		redact:      redactor{token: cfg.Token},
		js:          js,
		publisher:   pub,
		pub:         pub,
		backoffBase: time.Second,
		backoffMax:  time.Minute,
	}
	a.out = newSender(a)
	a.campaignMessages = campaignCounter(cfg.Registerer)
	if cfg.HTTPClient != nil {
		a.client = cfg.HTTPClient
	} else {
		a.client = &http.Client{}
	}
	setLibraryLogger(a.log, a.redact)

	getMeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bot, err := tgbotapi.NewBotAPIWithClient(cfg.Token, cfg.Endpoint, ctxClient{ctx: getMeCtx, base: a.client})
	if err != nil {
		return nil, fmt.Errorf("telegram: getMe: %w", a.redact.err(err))
	}
	bot.Client = a.client // every call binds its own context through api()
	a.bot = bot
	a.mapper = newMapper(bot.Self.UserName, bot.Self.ID)
	a.sight = newSight(bot.Self.CanReadAllGroupMessages)
	mode := "polling"
	if cfg.WebhookURL != "" {
		mode = "webhook"
	}
	a.log.Info("telegram bot ready", "bot_id", bot.Self.ID, "mode", mode,
		"privacy_mode_off", bot.Self.CanReadAllGroupMessages)
	if !bot.Self.CanReadAllGroupMessages {
		a.log.Warn("telegram privacy mode is on: the bot sees only commands and replies in groups where it is not admin; disable it with /setprivacy in @BotFather, then re-add the bot")
	}
	return a, nil
}

// BotUsername is the bot's username, without "@".
func (a *Adapter) BotUsername() string { return a.bot.Self.UserName }

// BotID is the bot's user id.
func (a *Adapter) BotID() int64 { return a.bot.Self.ID }

// Run receives updates until ctx ends: the poll loop, or in webhook mode the registration of
// the webhook (WebhookHandler then receives the updates).
func (a *Adapter) Run(ctx context.Context) error {
	if a.cfg.WebhookURL != "" {
		if err := a.setWebhook(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
	return a.poll(ctx)
}

// api returns the library client bound to ctx. BotAPI holds no lock, so a shallow copy
// per call is safe and lets concurrent calls carry their own deadlines.
func (a *Adapter) api(ctx context.Context) *tgbotapi.BotAPI {
	b := *a.bot
	b.Client = ctxClient{ctx: ctx, base: a.client}
	return &b
}

// request calls a Bot API method; its errors never carry the token.
func (a *Adapter) request(ctx context.Context, method string, params tgbotapi.Params) (json.RawMessage, error) {
	resp, err := a.api(ctx).MakeRequest(method, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, a.redact.err(err))
	}
	return resp.Result, nil
}

func (a *Adapter) setWebhook(ctx context.Context) error {
	params := tgbotapi.Params{"url": a.cfg.WebhookURL, "secret_token": a.cfg.WebhookSecret}
	if err := params.AddInterface("allowed_updates", allowedUpdates); err != nil {
		return fmt.Errorf("telegram: set webhook: %w", err)
	}
	for attempt := uint64(1); ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := a.request(rctx, "setWebhook", params)
		cancel()
		if err == nil {
			a.log.Info("telegram webhook registered")
			return nil
		}
		if apiCode(err) == http.StatusUnauthorized || apiCode(err) == http.StatusBadRequest {
			return fmt.Errorf("telegram: %w", err)
		}
		a.log.Warn("telegram set webhook failed, retrying", "err", err.Error())
		if !sleep(ctx, a.retryDelay(err, attempt)) {
			return nil
		}
	}
}

// apiCode is the Bot API error code of err, 0 for transport errors.
func apiCode(err error) int {
	var api *tgbotapi.Error
	if errors.As(err, &api) {
		return api.Code
	}
	return 0
}

// retryDelay is retry_after for a 429, backoff otherwise.
func (a *Adapter) retryDelay(err error, attempt uint64) time.Duration {
	var api *tgbotapi.Error
	if errors.As(err, &api) && api.RetryAfter > 0 {
		return time.Duration(api.RetryAfter) * time.Second
	}
	return events.Backoff(attempt, a.backoffBase, a.backoffMax)
}

// sleep waits d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// chatToken identifies a chat in logs by its keyed hash, the token the rest of relais uses.
func (a *Adapter) chatToken(chat int64) string {
	id := strconv.FormatInt(chat, 10)
	if chat > 0 {
		return a.publisher.Hasher().Member(events.Telegram, id)
	}
	return a.publisher.Hasher().Group(events.Telegram, id)
}
