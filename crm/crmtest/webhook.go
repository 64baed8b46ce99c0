package crmtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// WebhookContact is what the fake receiver holds for one contact.
type WebhookContact struct {
	ID           string
	ExternalID   string
	FirstName    string
	LastName     string
	Phone        string
	Tags         []string
	DoNotContact bool
}

// Webhook is a fake receiver that checks the signature and the timestamp window the way a
// careful receiver would, and applies the changes it accepts.
type Webhook struct {
	*httptest.Server
	Faults   *Faults
	Requests *Counter
	Window   time.Duration

	secret []byte

	mu       sync.Mutex
	next     int
	contacts map[string]*WebhookContact
	seen     map[string]bool // signatures already accepted: a replay is refused
}

// NewWebhook starts a receiver for secret; it stops with the test.
func NewWebhook(t testing.TB, secret string) *Webhook {
	t.Helper()
	wh := &Webhook{Faults: NewFaults(3), Requests: newCounter(), Window: 5 * time.Minute, secret: []byte(secret),
		contacts: map[string]*WebhookContact{}, seen: map[string]bool{}}
	wh.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		wh.serve(rec, r)
		wh.Requests.add(r.Method+" "+r.URL.Path, rec.status)
	}))
	t.Cleanup(wh.Close)
	return wh
}

// Contacts returns the contacts held, by external id.
func (wh *Webhook) Contacts() []WebhookContact {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	var out []WebhookContact
	for _, c := range wh.contacts {
		cc := *c
		cc.Tags = slices.Clone(c.Tags)
		out = append(out, cc)
	}
	slices.SortFunc(out, func(a, b WebhookContact) int {
		if a.ExternalID < b.ExternalID {
			return -1
		}
		if a.ExternalID > b.ExternalID {
			return 1
		}
		return 0
	})
	return out
}

type webhookPayload struct {
	V            int      `json:"v"`
	Op           string   `json:"op"`
	ExternalID   string   `json:"external_id"`
	Ref          string   `json:"ref"`
	FirstName    string   `json:"first_name"`
	LastName     string   `json:"last_name"`
	Name         string   `json:"name"`
	Phone        string   `json:"phone"`
	Handles      []any    `json:"handles"`
	Tags         []string `json:"tags"`
	RemoveTags   []string `json:"remove_tags"`
	Groups       []string `json:"groups"`
	LastActive   *string  `json:"last_active"`
	DoNotContact bool     `json:"do_not_contact"`
	SentAt       int64    `json:"sent_at"`
}

func (wh *Webhook) serve(w http.ResponseWriter, r *http.Request) {
	if status, retryAfter := wh.Faults.pick(); status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, status, map[string]string{"error": http.StatusText(status)})
		return
	}
	reject := func(status int, why string) {
		wh.Requests.reject(why)
		writeJSON(w, status, map[string]string{"error": why})
	}
	if r.Method != http.MethodPost {
		reject(http.StatusMethodNotAllowed, "POST only")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		reject(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		reject(http.StatusBadRequest, "unreadable body")
		return
	}
	m := hmac.New(sha256.New, wh.secret)
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	sig := r.Header.Get("X-Relais-Signature")
	if !hmac.Equal([]byte(sig), []byte(want)) {
		reject(http.StatusUnauthorized, "bad signature")
		return
	}
	var p webhookPayload
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		reject(http.StatusBadRequest, fmt.Sprintf("bad payload: %v", err))
		return
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Relais-Timestamp"), 10, 64)
	if err != nil || ts != p.SentAt {
		reject(http.StatusUnauthorized, "timestamp header does not match the body")
		return
	}
	if d := time.Since(time.Unix(ts, 0)); d > wh.Window || d < -wh.Window {
		reject(http.StatusUnauthorized, "stale timestamp")
		return
	}
	if p.V != 1 || p.ExternalID == "" || (p.Op != "upsert" && p.Op != "erase") {
		reject(http.StatusUnprocessableEntity, "payload needs v 1, an external_id and op upsert or erase")
		return
	}
	wh.mu.Lock()
	defer wh.mu.Unlock()
	if wh.seen[sig] {
		reject(http.StatusConflict, "replayed request")
		return
	}
	wh.seen[sig] = true
	if p.Op == "erase" {
		delete(wh.contacts, p.ExternalID)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	c := wh.contacts[p.ExternalID]
	if c == nil {
		wh.next++
		c = &WebhookContact{ID: fmt.Sprintf("wh-%d", wh.next), ExternalID: p.ExternalID}
		wh.contacts[p.ExternalID] = c
	}
	c.FirstName, c.LastName, c.Phone, c.DoNotContact = p.FirstName, p.LastName, p.Phone, p.DoNotContact
	c.Tags = slices.DeleteFunc(c.Tags, func(t string) bool { return slices.Contains(p.RemoveTags, t) })
	for _, t := range p.Tags {
		if !slices.Contains(c.Tags, t) {
			c.Tags = append(c.Tags, t)
		}
	}
	slices.Sort(c.Tags)
	writeJSON(w, http.StatusOK, map[string]string{"id": c.ID})
}
