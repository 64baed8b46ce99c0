package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/relais-bot/relais/crm/webhook"
)

// Payload is the JSON body POSTed to RELAIS_ALERT_WEBHOOK. It is signed as the CRM webhook
// is: X-Relais-Signature is "sha256=" + hex HMAC-SHA256(RELAIS_ALERT_SECRET, body) and
// X-Relais-Timestamp equals sent_at, so a receiver rejects replays.
type Payload struct {
	Event   string `json:"event"` // "incident.started" or "incident.ended"
	Kind    Kind   `json:"kind"`
	Subject string `json:"subject,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Text    string `json:"text"` // French, for receivers that forward it as is
	Started string `json:"started_at"`
	Ended   string `json:"ended_at,omitempty"`
	// DurationS is how long it lasted, on "incident.ended".
	DurationS int64  `json:"duration_s,omitempty"`
	Until     string `json:"until,omitempty"` // a temporary ban's end
	// Uncoordinated: sent while NATS was unreachable; another replica may send it too.
	Uncoordinated bool   `json:"uncoordinated,omitempty"`
	Instance      string `json:"instance,omitempty"`
	SentAt        int64  `json:"sent_at"`
}

// Webhook posts incidents to RELAIS_ALERT_WEBHOOK.
type Webhook struct {
	url      string
	secret   []byte
	instance string
	http     *http.Client
	now      func() time.Time
}

// NewWebhook checks the URL and secret (at least 16 bytes, as WEBHOOK_SECRET). It does no I/O.
func NewWebhook(rawURL, secret, instance string, client *http.Client) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("alert webhook: RELAIS_ALERT_WEBHOOK must be an absolute http(s) URL")
	}
	if len(secret) < 16 {
		return nil, errors.New("alert webhook: RELAIS_ALERT_SECRET must be at least 16 bytes")
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Webhook{url: rawURL, secret: []byte(secret), instance: instance, http: client, now: time.Now}, nil
}

// PayloadOf is the webhook body for a.
func PayloadOf(a Announcement, instance string, now time.Time) Payload {
	p := Payload{
		Event: "incident.started", Kind: a.Kind, Subject: a.Subject, Detail: a.Detail,
		Text: a.Text("fr"), Started: a.Started.UTC().Format(time.RFC3339),
		Uncoordinated: a.Uncoordinated, Instance: instance, SentAt: now.Unix(),
	}
	if a.Ending() {
		p.Event = "incident.ended"
		p.Ended = a.Ended.UTC().Format(time.RFC3339)
		p.DurationS = int64(a.Ended.Sub(a.Started).Round(time.Second) / time.Second)
	}
	if !a.Until.IsZero() {
		p.Until = a.Until.UTC().Format(time.RFC3339)
	}
	return p
}

// Post sends a, signed; a non-2xx answer is an error.
func (w *Webhook) Post(ctx context.Context, a Announcement) error {
	p := PayloadOf(a, w.instance, w.now())
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("alert webhook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("alert webhook: request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "relais-alert/1")
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(p.SentAt, 10))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(w.secret, body))
	resp, err := w.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a token in its query
		}
		return fmt.Errorf("alert webhook: post: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("alert webhook: receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}
