// Package webhook sends relais contact changes as signed JSON POSTs, for CRMs relais has no
// adapter for (or an automation tool in front of one). The receiver checks
// X-Relais-Signature, an HMAC-SHA256 of the body keyed with WEBHOOK_SECRET, and rejects
// stale X-Relais-Timestamp values: the timestamp is also inside the signed body, so it
// cannot be changed to replay an old request.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/events"
)

// Headers on every request.
const (
	HeaderSignature = "X-Relais-Signature" // "sha256=" + hex HMAC-SHA256(secret, body)
	HeaderTimestamp = "X-Relais-Timestamp" // Unix seconds, equal to the body's sent_at
)

// Config is one receiver.
type Config struct {
	URL    string
	Secret string // at least 16 bytes
	// HTTPClient defaults to one paced at 10 requests per second with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Client is a crm.Sink that POSTs each change.
type Client struct {
	url    string
	secret []byte
	http   *http.Client
	now    func() time.Time
}

// New checks cfg. It does no I/O.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("webhook: URL must be an absolute http(s) URL")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("webhook: the secret must be at least 16 bytes")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = crm.NewHTTPClient(crm.NewThrottle(rate.Limit(10), 10))
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{url: cfg.URL, secret: []byte(cfg.Secret), http: hc, now: now}, nil
}

// Payload is the JSON body. Op "erase" carries only the ids.
type Payload struct {
	V            int              `json:"v"`
	Op           events.ContactOp `json:"op"`
	ExternalID   string           `json:"external_id"`
	Ref          string           `json:"ref,omitempty"`
	FirstName    string           `json:"first_name,omitempty"`
	LastName     string           `json:"last_name,omitempty"`
	Name         string           `json:"name,omitempty"`
	Phone        string           `json:"phone,omitempty"`
	Handles      []events.Handle  `json:"handles,omitempty"`
	Tags         []string         `json:"tags,omitempty"`
	RemoveTags   []string         `json:"remove_tags,omitempty"`
	Groups       []string         `json:"groups,omitempty"`
	LastActive   *time.Time       `json:"last_active,omitempty"`
	DoNotContact bool             `json:"do_not_contact"`
	SentAt       int64            `json:"sent_at"`
}

// Upsert POSTs the full contact. The receiver may answer {"id": "..."} to give its own
// reference; otherwise the external id is the reference.
func (c *Client) Upsert(ctx context.Context, ct crm.Contact) (string, error) {
	p := Payload{V: 1, Op: events.OpUpsert, ExternalID: ct.ExternalID, Ref: ct.Ref,
		FirstName: ct.FirstName, LastName: ct.LastName, Name: ct.Name, Phone: ct.Phone,
		Handles: ct.Handles, Tags: ct.Tags, RemoveTags: ct.RemoveTags, Groups: ct.Groups, DoNotContact: ct.DoNotContact}
	if !ct.LastActive.IsZero() {
		la := ct.LastActive.UTC()
		p.LastActive = &la
	}
	body, err := c.post(ctx, "post contact", p)
	if err != nil {
		return "", err
	}
	if ref := ParseRef(body); ref != "" {
		return ref, nil
	}
	return ct.ExternalID, nil
}

// Erase POSTs an erase; 404 and 410 mean the receiver holds nothing, which is fine.
func (c *Client) Erase(ctx context.Context, externalID, ref string) error {
	_, err := c.post(ctx, "post erase", Payload{V: 1, Op: events.OpErase, ExternalID: externalID, Ref: ref})
	if e, ok := crm.AsError(err); ok && (e.Status == http.StatusNotFound || e.Status == http.StatusGone) {
		return nil
	}
	return err
}

func (c *Client) post(ctx context.Context, op string, p Payload) ([]byte, error) {
	now := c.now()
	p.SentAt = now.Unix()
	body, err := json.Marshal(p)
	if err != nil {
		return nil, &crm.Error{Op: op, Message: "cannot encode payload"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &crm.Error{Op: op, Message: "cannot build request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "relais-webhook/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(p.SentAt, 10))
	req.Header.Set(HeaderSignature, Sign(c.secret, body))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, crm.NetworkError(op, scrub(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, crm.NetworkError(op, scrub(err))
	}
	if e := crm.Classify(op, resp, "", receiverMessage(data)); e != nil {
		return nil, e
	}
	return data, nil
}

// Sign returns the X-Relais-Signature value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request's signature and freshness, for receivers written in Go. It
// returns the decoded payload.
func Verify(secret, body []byte, signature, timestamp string, now time.Time, window time.Duration) (Payload, error) {
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, body))) {
		return Payload{}, errors.New("webhook: bad signature")
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return Payload{}, errors.New("webhook: body is not a relais payload")
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ts != p.SentAt {
		return Payload{}, errors.New("webhook: timestamp header does not match the body")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > window || d < -window {
		return Payload{}, fmt.Errorf("webhook: timestamp outside the %v window", window)
	}
	return p, nil
}

// ParseRef reads the receiver's optional {"id": "..."} answer.
func ParseRef(body []byte) string {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &r) != nil || len(r.ID) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(r.ID, &s) == nil {
		return crm.Clip(s, 128)
	}
	var n json.Number
	if json.Unmarshal(r.ID, &n) == nil {
		return n.String()
	}
	return ""
}

// receiverMessage picks a short reason out of an error answer: {"error": "..."} or
// {"message": "..."}, else nothing (an HTML error page says nothing useful).
func receiverMessage(body []byte) string {
	var r struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	return strings.TrimSpace(r.Error + " " + r.Message)
}

func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
