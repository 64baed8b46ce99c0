package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-bot/relais/events"
)

// maxCampaignAttempts bounds the retries of one recipient whom Telegram refused before
// sending (5xx); a flood limit (429) is waited out however often it comes.
const maxCampaignAttempts = 8

// ServeCampaigns sends the campaign messages the bridge queued for Telegram until ctx ends,
// under the same flood limits as replies (one sender). Replicas share one durable consumer;
// each recipient is claimed in the campaigns bucket before the send, so nobody gets a
// campaign twice, whatever restarts, redeliveries or replicas: a recipient whose send was
// cut short by a crash stays "sending" and is not sent again (at most once).
func (a *Adapter) ServeCampaigns(ctx context.Context) error {
	n := a.publisher.Names()
	dl, err := events.OpenDeliveries(ctx, a.js, n, a.log)
	if err != nil {
		return fmt.Errorf("telegram campaigns: %w", err)
	}
	cons, err := a.js.CreateOrUpdateConsumer(ctx, n.CampaignsStream(),
		events.DurableConfig(n.CampaignConsumer(events.Telegram), n.CampaignFilter(events.Telegram)))
	if err != nil {
		return fmt.Errorf("telegram campaigns: %w", err)
	}
	stream, err := a.js.Stream(ctx, n.CampaignsStream())
	if err != nil {
		return fmt.Errorf("telegram campaigns: %w", err)
	}
	settler := events.Settler{Pub: a.publisher, Log: a.log, BaseDelay: time.Second, MaxDelay: time.Minute}
	h := func(ctx context.Context, msg jetstream.Msg) error { return a.out.campaign(ctx, dl, msg) }
	// A small buffer: messages wait in the stream, not in this process, while a flood limit
	// is waited out.
	return events.Consume(ctx, cons, settler, events.ErasingHandler(stream, a.publisher, a.log, h), jetstream.PullMaxMessages(4))
}

// campaign sends one recipient's campaign message, at most once, and only if the member
// may still be contacted at the moment of sending.
func (s *sender) campaign(ctx context.Context, dl *events.Deliveries, msg jetstream.Msg) error {
	r, err := events.DecodeReply(msg.Data())
	if err != nil {
		return err
	}
	if r.Platform != events.Telegram || r.Campaign == nil {
		return events.Permanent(errors.New("not a telegram campaign message"))
	}
	chat, err := strconv.ParseInt(r.Chat, 10, 64)
	if err != nil || chat <= 0 {
		return events.Permanent(errors.New("campaign chat is not a telegram user id"))
	}
	if err := s.waitAll(ctx); err != nil {
		return err
	}
	if err := s.campaignPace.Wait(ctx); err != nil {
		return err
	}
	slug, member := r.Campaign.Slug, r.Campaign.Member
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	claim, err := dl.Claim(ctx, slug, member, seq)
	if err != nil {
		return err
	}
	if claim.Withheld {
		s.a.log.Info("telegram campaign message withheld: the member may no longer be contacted", "campaign", slug, "member", member)
		s.a.countCampaign("withheld")
		return nil
	}
	if !claim.OK {
		s.a.log.Debug("telegram campaign message already claimed: not sent again", "campaign", slug, "member", member)
		s.a.countCampaign("skipped")
		return nil
	}
	// The gate is asked once more after the last wait, right before the request leaves.
	gate := func(ctx context.Context) error {
		ok, err := dl.Confirm(ctx, &claim)
		if err != nil {
			return gateError{err}
		}
		if !ok {
			return errWithheld
		}
		return nil
	}
	serr := s.sendGated(ctx, chat, r, gate)
	if errors.Is(serr, errWithheld) {
		s.a.log.Info("telegram campaign message withheld at the moment of sending", "campaign", slug, "member", member)
		s.a.countCampaign("withheld")
		return nil
	}
	outcome, retry := campaignOutcome(serr)
	if retry {
		if md, err := msg.Metadata(); err == nil && md.NumDelivered >= maxCampaignAttempts && !isFlood(serr) {
			outcome, retry = events.OutcomeFailed, false
		}
	}
	if retry {
		outcome = events.OutcomeRetry
		if d, ok := events.RetryDelay(serr); ok && isFlood(serr) {
			s.pauseAll(d)
		}
	}
	if outcome == "" {
		// Cut short by a shutdown while the request was out: it may have arrived.
		return serr
	}
	stands, err := dl.Settle(ctx, claim, outcome)
	if err != nil {
		return err
	}
	s.a.countCampaign(outcome)
	if !stands {
		// The member objected or asked for erasure meanwhile: nothing more is written
		// about them, and a retry would only find their marker.
		return nil
	}
	switch outcome {
	case events.OutcomeBlocked:
		if err := dl.MarkBlocked(ctx, member); err != nil {
			return fmt.Errorf("telegram campaigns: %w", err)
		}
		s.a.log.Info("telegram campaign recipient blocked the bot", "campaign", slug, "member", member)
	case events.OutcomeFailed:
		s.a.log.Warn("telegram campaign message failed", "campaign", slug, "member", member, "err", serr.Error())
	}
	if retry {
		return serr // NakWithDelay: retry_after when Telegram gave one
	}
	return nil
}

// errWithheld: the gate said no at the moment of sending.
var errWithheld = errors.New("campaign message withheld: the member may no longer be contacted")

// gateError: the gate could not be asked; nothing was sent, so the recipient is released
// for a retry.
type gateError struct{ err error }

func (e gateError) Error() string { return "campaign gate: " + e.err.Error() }
func (e gateError) Unwrap() error { return e.err }

// campaignOutcome sorts a send's result: the outcome to record, and whether the message
// may be sent again because Telegram said it was not sent. An empty outcome means nothing
// is known (a shutdown cut the request): the claim stays, and the recipient is not retried.
func campaignOutcome(err error) (outcome string, retry bool) {
	if err == nil {
		return events.OutcomeSent, false
	}
	var api *tgbotapi.Error
	var gate gateError
	switch {
	case errors.As(err, &gate):
		return events.OutcomeRetry, true
	case errors.As(err, &api) && api.Code == http.StatusForbidden:
		return events.OutcomeBlocked, false
	case isFlood(err):
		return events.OutcomeRetry, true
	case errors.As(err, &api) && api.Code >= 500:
		return events.OutcomeRetry, true
	case errors.As(err, &api):
		return events.OutcomeFailed, false
	case errors.Is(err, context.Canceled):
		return "", false
	}
	// A transport error: the request may have reached Telegram. At most once: not retried.
	return events.OutcomeFailed, false
}

// isFlood: the send was refused for a flood limit, Telegram's (429) or relais' own per chat.
func isFlood(err error) bool {
	var api *tgbotapi.Error
	if errors.As(err, &api) {
		return api.Code == http.StatusTooManyRequests
	}
	_, ok := events.RetryDelay(err)
	return ok
}

func campaignCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relais_telegram_campaign_messages_total",
		Help: "Campaign messages handled, by outcome (sent, blocked, failed, retry, skipped, withheld).",
	}, []string{"outcome"})
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}

func (a *Adapter) countCampaign(outcome string) {
	if a.campaignMessages != nil {
		a.campaignMessages.WithLabelValues(outcome).Inc()
	}
}
