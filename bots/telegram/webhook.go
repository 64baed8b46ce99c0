package telegram

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"time"
)

// SecretHeader carries the webhook secret Telegram was given with setWebhook.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// WebhookHandler receives updates in webhook mode; mount it at the path of WebhookURL. It
// answers 200 only once every event of the update is stored, so Telegram retries whatever
// was not; a request without the right secret gets 401 and publishes nothing.
func (a *Adapter) WebhookHandler() http.Handler {
	want := sha256.Sum256([]byte(a.cfg.WebhookSecret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Comparing digests keeps the comparison constant-time in the length too.
		got := sha256.Sum256([]byte(r.Header.Get(SecretHeader)))
		if a.cfg.WebhookSecret == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUpdateSize))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "update too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read update", http.StatusBadRequest)
			return
		}
		u, err := DecodeUpdate(body)
		if err != nil {
			// Telegram resends a refused update before any later one: refusing one it cannot
			// fix would hold back the whole chat. Skip it, as the poll loop does.
			a.log.Warn("telegram webhook update skipped", "err", err.Error())
			w.WriteHeader(http.StatusOK)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		a.sight.update(a, u)
		evs := a.mapper.Map(u)
		if err := a.publish(ctx, evs); err != nil {
			a.mapper.restoreMigration(evs)
			a.log.Warn("telegram webhook publish failed, Telegram will retry", "update_id", u.UpdateID, "err", err.Error())
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if u.CallbackQuery != nil && u.CallbackQuery.ID != "" {
			a.answerCallback(ctx, u.CallbackQuery.ID)
		}
		a.log.Debug("telegram update", "update_id", u.UpdateID, "events", len(evs))
		w.WriteHeader(http.StatusOK)
	})
}
