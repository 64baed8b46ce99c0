package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/relais-bot/relais/events"
)

// batchLimit is how many updates one getUpdates returns at most (Telegram's maximum).
const batchLimit = 100

// ErrUnauthorized means Telegram refused the token: retrying cannot help.
var ErrUnauthorized = errors.New("telegram refused the bot token (401)")

// poll runs the poll loop while this process holds the token's lock: one poller per token,
// or Telegram answers 409 to both.
func (a *Adapter) poll(ctx context.Context) error {
	kv, err := a.js.KeyValue(ctx, a.publisher.Names().LocksBucket())
	if err != nil {
		return fmt.Errorf("telegram: locks bucket: %w", err)
	}
	lock := events.NewLock(kv, "telegram-"+strconv.FormatInt(a.BotID(), 10), events.LockConfig{Instance: a.cfg.Instance, Log: a.log})
	for {
		err := lock.Acquire(ctx, func() { a.log.Info("telegram poll lock held by another process, waiting") })
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("telegram: %w", err)
		}
		held, release := context.WithCancel(ctx)
		lost := make(chan error, 1)
		go func() {
			lost <- lock.Keep(held)
			release()
		}()
		unconfirmed, err := a.pollHeld(held, lock)
		if errors.Is(err, errNotHolder) {
			err = nil // the lock is someone else's: stop polling and wait for it again
		}
		if unconfirmed != 0 && ctx.Err() != nil {
			// A clean stop: confirm the last batch while still holding the lock. After a
			// lost lock another poller owns the token, and a getUpdates would cut it off.
			a.confirm(unconfirmed)
		}
		release()
		lockErr := <-lost
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := lock.Release(rctx); err != nil {
			a.log.Debug("telegram poll lock release", "err", err.Error())
		}
		cancel()
		switch {
		case err != nil:
			return err
		case ctx.Err() != nil:
			return nil
		}
		a.log.Warn("telegram poll lock lost, acquiring it again", "err", errString(lockErr))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errNotHolder: a 409 showed that another process polls, and the lock is no longer ours.
var errNotHolder = errors.New("telegram poll lock held by another process")

// pollHeld is the loop proper. It returns when ctx ends, with the offset that would confirm
// the last stored batch if no getUpdates sent it yet (0 when none), and an error when
// retrying cannot help (a refused token) or when the lock turned out to be someone else's
// (errNotHolder).
func (a *Adapter) pollHeld(ctx context.Context, lock *events.Lock) (unconfirmed int, err error) {
	// A webhook left over from an earlier deployment makes every getUpdates fail with 409.
	if _, err := a.request(ctx, "deleteWebhook", tgbotapi.Params{"drop_pending_updates": "false"}); err != nil {
		if apiCode(err) == http.StatusUnauthorized {
			a.sight.polled(http.StatusUnauthorized)
			return 0, fmt.Errorf("telegram: %w: %w", ErrUnauthorized, err)
		}
		a.log.Warn("telegram delete webhook failed", "err", err.Error())
	}
	a.log.Info("telegram polling", "timeout", a.cfg.PollTimeout)
	var (
		offset    int // 0: every update Telegram still holds
		confirmed int // the offset the last successful getUpdates sent
		attempt   uint64
		// conflicts counts the 409s in a row: the first is logged, the rest only counted.
		conflicts int
	)
	pending := func() int {
		if offset != confirmed {
			return offset
		}
		return 0
	}
	for {
		batch, err := a.getUpdates(ctx, offset, a.cfg.PollTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return pending(), nil
			}
			attempt++
			d := a.retryDelay(err, attempt)
			a.sight.polled(apiCode(err))
			switch apiCode(err) {
			case http.StatusUnauthorized:
				return 0, fmt.Errorf("telegram: %w: %w", ErrUnauthorized, err)
			case http.StatusConflict:
				// Telegram ends the older of two getUpdates with 409. Two pollers can overlap
				// for a moment (a same-instance clash, an older relais during an upgrade) or
				// another deployment polls this token, or someone set a webhook: back off, and
				// if the lock is no longer ours, stop polling; the lock's own renewal would
				// notice too, but only at its next beat.
				conflicts++
				if conflicts == 1 {
					a.log.Warn("telegram getUpdates conflict: another process polls this token, or a webhook is set; backing off and checking the poll lock", "retry_in", d)
				} else {
					a.log.Debug("telegram getUpdates conflict again", "conflicts", conflicts, "retry_in", d)
				}
				if held, lerr := lock.Held(ctx); lerr == nil && !held {
					return 0, errNotHolder // not ours: no confirm, it would cut the holder off
				}
			default:
				a.log.Warn("telegram getUpdates failed", "err", err.Error(), "retry_in", d)
			}
			if !sleep(ctx, d) {
				return pending(), nil
			}
			continue
		}
		if conflicts > 0 {
			a.log.Info("telegram getUpdates conflict over", "conflicts", conflicts)
			conflicts = 0
		}
		attempt = 0
		a.sight.polled(0)
		confirmed = offset
		if len(batch) == 0 {
			continue
		}
		evs, next := a.mapBatch(batch)
		if !a.publishRetrying(ctx, evs) {
			return pending(), nil // not advanced: the next poller gets this batch again
		}
		a.answerCallbacks(ctx, batch)
		if next != 0 {
			offset = next
		}
	}
}

// getUpdates fetches one batch of raw updates.
func (a *Adapter) getUpdates(ctx context.Context, offset int, timeout time.Duration) ([]json.RawMessage, error) {
	params := tgbotapi.Params{}
	params.AddNonZero("offset", offset)
	params.AddNonZero("limit", batchLimit)
	params.AddNonZero("timeout", int((timeout+time.Second-1)/time.Second))
	if err := params.AddInterface("allowed_updates", allowedUpdates); err != nil {
		return nil, fmt.Errorf("getUpdates: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout+15*time.Second)
	defer cancel()
	result, err := a.request(rctx, "getUpdates", params)
	if err != nil {
		return nil, err
	}
	var batch []json.RawMessage
	if err := json.Unmarshal(result, &batch); err != nil {
		return nil, fmt.Errorf("getUpdates: result: %s", events.JSONErrorReason(err))
	}
	return batch, nil
}

// confirm tells Telegram the last batch is handled, so a restart does not fetch it again
// (it would only be deduplicated). Best effort: the updates are already stored.
func (a *Adapter) confirm(offset int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	params := tgbotapi.Params{}
	params.AddNonZero("offset", offset)
	params.AddNonZero("limit", 1)
	if _, err := a.request(ctx, "getUpdates", params); err != nil {
		a.log.Debug("telegram final confirm failed", "err", err.Error())
	}
}

// mapBatch maps a batch and returns the offset that confirms it: the last update's id + 1.
// Ids are sequential within a batch but not across quiet weeks (Telegram then picks a random
// id, possibly lower), so the offset follows the batch, never a comparison with the old one.
func (a *Adapter) mapBatch(batch []json.RawMessage) ([]events.Event, int) {
	var (
		evs  []events.Event
		next int
	)
	for _, raw := range batch {
		id, ok := updateID(raw)
		if ok {
			next = id + 1
		}
		u, err := DecodeUpdate(raw)
		if err != nil {
			a.log.Warn("telegram update skipped", "update_id", id, "err", err.Error())
			continue
		}
		a.sight.update(a, u)
		mapped := a.mapper.Map(u)
		a.log.Debug("telegram update", "update_id", id, "events", len(mapped))
		evs = append(evs, mapped...)
	}
	if next == 0 {
		a.log.Error("telegram batch without update ids", "updates", len(batch))
	}
	return evs, next
}

// publishRetrying publishes evs until every one is acked, or ctx ends (false). Events
// already stored are dropped by the stream on retry: their id is the Nats-Msg-Id.
func (a *Adapter) publishRetrying(ctx context.Context, evs []events.Event) bool {
	for attempt := uint64(1); ; attempt++ {
		err := a.publish(ctx, evs)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d := events.Backoff(attempt, a.backoffBase, a.backoffMax)
		a.log.Warn("telegram publish failed, retrying the batch", "err", err.Error(), "retry_in", d)
		if !sleep(ctx, d) {
			return false
		}
	}
}

func (a *Adapter) publish(ctx context.Context, evs []events.Event) error {
	for _, e := range evs {
		if _, err := a.pub.Event(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// answerCallbacks stops the spinner of every button press in a batch, once its command is
// stored. Best effort: an unanswered press only spins until Telegram gives up.
func (a *Adapter) answerCallbacks(ctx context.Context, batch []json.RawMessage) {
	for _, raw := range batch {
		var head struct {
			CallbackQuery *struct {
				ID string `json:"id"`
			} `json:"callback_query"`
		}
		if json.Unmarshal(raw, &head) != nil || head.CallbackQuery == nil || head.CallbackQuery.ID == "" {
			continue
		}
		a.answerCallback(ctx, head.CallbackQuery.ID)
	}
}

func (a *Adapter) answerCallback(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := a.request(ctx, "answerCallbackQuery", tgbotapi.Params{"callback_query_id": id}); err != nil {
		a.log.Debug("telegram answerCallbackQuery failed", "err", err.Error())
	}
}
