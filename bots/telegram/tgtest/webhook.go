package tgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

func (s *Server) setWebhook(w http.ResponseWriter, form map[string]string) {
	wh := &Webhook{URL: form["url"], SecretToken: form["secret_token"]}
	if a := form["allowed_updates"]; a != "" {
		if err := json.Unmarshal([]byte(a), &wh.AllowedUpdates); err != nil {
			writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse allowed updates"})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if wh.URL == "" {
		s.webhook = nil
	} else {
		s.webhook = wh
		s.allowed = wh.AllowedUpdates
	}
	writeResult(w, true)
}

// DeliverWebhook posts queued updates to the registered webhook with its secret, as
// Telegram does, one at a time, and removes each one the webhook accepts (2xx). It stops at
// the first refusal and returns how many were delivered.
func (s *Server) DeliverWebhook(ctx context.Context, client *http.Client) (int, error) {
	n := 0
	for {
		s.mu.Lock()
		wh := s.webhook
		if wh == nil {
			s.mu.Unlock()
			return n, fmt.Errorf("tgtest: no webhook set")
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return n, nil
		}
		q := s.queue[0]
		url, secret := wh.URL, wh.SecretToken
		s.mu.Unlock()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(q.raw)))
		if err != nil {
			return n, fmt.Errorf("tgtest: webhook request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		resp, err := client.Do(req)
		if err != nil {
			return n, fmt.Errorf("tgtest: webhook: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return n, fmt.Errorf("tgtest: webhook answered %d", resp.StatusCode)
		}
		s.mu.Lock()
		if len(s.queue) > 0 && s.queue[0].id == q.id {
			s.queue = s.queue[1:]
		}
		s.mu.Unlock()
		n++
	}
}
