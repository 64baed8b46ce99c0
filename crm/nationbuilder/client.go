// Package nationbuilder writes relais contacts into a NationBuilder nation through API v2
// (JSON:API): signups upserted by external_id with PATCH /signups/push, relais tags through
// signup_tags and signup_taggings, objectors flagged do_not_contact, erasure by DELETE.
package nationbuilder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"github.com/relais-bot/relais/crm"
)

// Config connects to one nation.
type Config struct {
	Slug  string
	Token string // access token; may be empty when a refresh token is configured
	// BaseURL overrides https://<slug>.nationbuilder.com (NATIONBUILDER_BASE_URL); a trailing
	// /api/v2 is accepted.
	BaseURL string
	// ClientID, ClientSecret and RefreshToken enable OAuth refresh: v2 tokens last 24 h.
	ClientID, ClientSecret, RefreshToken string
	// TokenStore keeps a refreshed token pair across restarts (the used refresh token is
	// revoked, so losing the new one would lock relais out). Nil keeps it in memory only.
	TokenStore TokenStore
	// HTTPClient defaults to one paced at 250 requests per 10 s with a 30 s timeout.
	HTTPClient *http.Client
	Log        *slog.Logger
}

// Limit is NationBuilder's published rate limit: 250 requests per 10 seconds per token.
const Limit = rate.Limit(25)

// Client is a crm.Sink for NationBuilder.
type Client struct {
	api    string // https://<slug>.nationbuilder.com/api/v2
	oauth  string // https://<slug>.nationbuilder.com/oauth/token
	http   *http.Client
	log    *slog.Logger
	tokens *tokens

	mu   sync.Mutex
	tags map[string]string // tag name (lowercase) → signup_tags id
}

// New checks cfg and returns a client. It does no I/O.
func New(cfg Config) (*Client, error) {
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	if base == "" {
		if cfg.Slug == "" || strings.ContainsAny(cfg.Slug, "/.:@?# ") {
			return nil, errors.New("nationbuilder: a nation slug (or a base URL) is required")
		}
		base = "https://" + cfg.Slug + ".nationbuilder.com"
	}
	base = strings.TrimSuffix(base, "/api/v2")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("nationbuilder: base URL must be an absolute http(s) URL")
	}
	if cfg.Token == "" && cfg.RefreshToken == "" && cfg.TokenStore == nil {
		return nil, errors.New("nationbuilder: a token or a refresh token is required")
	}
	if cfg.RefreshToken != "" && (cfg.ClientID == "" || cfg.ClientSecret == "") {
		return nil, errors.New("nationbuilder: OAuth refresh needs the client id and secret")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = crm.NewHTTPClient(crm.NewThrottle(Limit, 25))
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{api: base + "/api/v2", oauth: base + "/oauth/token", http: hc, log: log, tags: map[string]string{}}
	c.tokens = &tokens{
		client: hc, url: c.oauth, clientID: cfg.ClientID, secret: cfg.ClientSecret,
		store: cfg.TokenStore, current: Token{Access: cfg.Token, Refresh: cfg.RefreshToken},
	}
	return c, nil
}

// signupAttributes are the documented writable signup attributes relais sets. Anything else
// would be refused (an unknown custom field is a 400 there).
type signupAttributes struct {
	ExternalID   string `json:"external_id"`
	FirstName    string `json:"first_name,omitempty"`
	LastName     string `json:"last_name,omitempty"`
	MobileNumber string `json:"mobile_number,omitempty"`
	// Opt-ins default to true in NationBuilder; relais never collected consent to mass
	// e-mail or SMS, so a signup it creates starts opted out, and an objector is always.
	MobileOptIn  *bool `json:"mobile_opt_in,omitempty"`
	EmailOptIn   *bool `json:"email_opt_in,omitempty"`
	DoNotContact *bool `json:"do_not_contact,omitempty"`
}

// Upsert pushes the signup (matched on external_id), then adds and removes relais tags. It
// reports each step (ct.Report) and skips those ct.Done says an interrupted attempt at this
// change already did: a retry after a 429 on the third tag sends neither the signup nor the
// first two tags again.
func (c *Client) Upsert(ctx context.Context, ct crm.Contact) (string, error) {
	done := ct.Done.Clone()
	if done.Ref == "" {
		id, created, err := c.push(ctx, ct)
		if err != nil {
			return "", err
		}
		done.Ref, done.Created = id, created
		ct.Report(done)
	}
	add := ct.TagsToAdd()
	if done.Created {
		// A new signup carries nothing yet, whatever relais remembers applying (someone may
		// have deleted the old one in the control panel).
		add = ct.Tags
	}
	for _, tag := range add {
		if slices.Contains(done.Tagged, tag) {
			continue
		}
		if err := c.tag(ctx, done.Ref, tag); err != nil {
			return "", err
		}
		done.Tagged = append(done.Tagged, tag)
		ct.Report(done)
	}
	remove := slices.DeleteFunc(ct.TagsToRemove(), func(t string) bool { return slices.Contains(done.Untagged, t) })
	if len(remove) > 0 && !done.Created {
		err := c.untag(ctx, done.Ref, remove, func(tag string) {
			done.Untagged = append(done.Untagged, tag)
			ct.Report(done)
		})
		if err != nil {
			return "", err
		}
	}
	return done.Ref, nil
}

// push upserts the signup itself; created says NationBuilder created it.
func (c *Client) push(ctx context.Context, ct crm.Contact) (string, bool, error) {
	first, last := ct.Names()
	attrs := signupAttributes{ExternalID: ct.ExternalID, FirstName: first, LastName: last, MobileNumber: ct.Phone}
	no, yes := false, true
	if ct.Ref == "" || ct.DoNotContact {
		attrs.MobileOptIn, attrs.EmailOptIn = &no, &no
	}
	if ct.DoNotContact {
		// Only ever set: relais cannot tell whether someone else set the flag, so it never
		// clears it.
		attrs.DoNotContact = &yes
	}
	body := map[string]any{"data": map[string]any{"type": "signups", "attributes": attrs}}
	resp, status, err := c.do(ctx, "push signup", http.MethodPatch, "/signups/push", body)
	if err != nil {
		return "", false, err
	}
	signup, err := parseOne(resp, "signups")
	if err != nil {
		return "", false, &crm.Error{Op: "push signup", Message: err.Error(), Retryable: true}
	}
	return signup.ID, status == http.StatusCreated, nil
}

// Erase deletes the signup. Without a ref it looks the signup up by external_id.
func (c *Client) Erase(ctx context.Context, externalID, ref string) error {
	if ref == "" {
		q := url.Values{"filter[external_id]": {externalID}, "fields[signups]": {"external_id"}}
		resp, _, err := c.do(ctx, "find signup", http.MethodGet, "/signups?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		found, err := parseList(resp, "signups")
		if err != nil {
			return &crm.Error{Op: "find signup", Message: err.Error(), Retryable: true}
		}
		if len(found) == 0 {
			return nil
		}
		ref = found[0].ID
	}
	_, _, err := c.do(ctx, "delete signup", http.MethodDelete, "/signups/"+url.PathEscape(ref), nil)
	if e, ok := crm.AsError(err); ok && e.Status == http.StatusNotFound {
		return nil // already gone
	}
	return err
}

// tag applies one tag; a 422 "taken" means it was already there.
func (c *Client) tag(ctx context.Context, signupID, name string) error {
	tagID, err := c.tagID(ctx, name, true)
	if err != nil {
		return err
	}
	body := map[string]any{"data": map[string]any{"type": "signup_taggings",
		"attributes": map[string]string{"signup_id": signupID, "tag_id": tagID}}}
	_, _, err = c.do(ctx, "tag signup", http.MethodPost, "/signup_taggings", body)
	if e, ok := crm.AsError(err); ok && e.Status == http.StatusUnprocessableEntity && e.Code == "taken" {
		return nil
	}
	return err
}

// untag deletes the taggings of the named tags, calling untagged after each. One read of the
// signup with its tags and taggings sideloaded finds them, without looking any tag up.
func (c *Client) untag(ctx context.Context, signupID string, names []string, untagged func(string)) error {
	resp, _, err := c.do(ctx, "list taggings", http.MethodGet, "/signups/"+url.PathEscape(signupID)+"?include=signup_tags,taggings&fields[signups]=external_id", nil)
	if err != nil {
		return err
	}
	carried, err := carriedTags(resp)
	if err != nil {
		return &crm.Error{Op: "list taggings", Message: err.Error(), Retryable: true}
	}
	for _, name := range names {
		tagging, ok := carried[strings.ToLower(name)]
		if ok {
			_, _, err = c.do(ctx, "untag signup", http.MethodDelete, "/signup_taggings/"+url.PathEscape(tagging), nil)
			if e, ok := crm.AsError(err); ok && e.Status == http.StatusNotFound {
				err = nil // already gone
			}
			if err != nil {
				return err
			}
		}
		untagged(name) // removed, or the signup did not carry it
	}
	return nil
}

// tagID finds a tag by name, creating it when create is set; "" when absent and not created.
// Tag ids never change, so they are looked up once per process.
func (c *Client) tagID(ctx context.Context, name string, create bool) (string, error) {
	key := strings.ToLower(name)
	c.mu.Lock()
	id, ok := c.tags[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	q := url.Values{"filter[name]": {name}}
	resp, _, err := c.do(ctx, "find tag", http.MethodGet, "/signup_tags?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	found, err := parseList(resp, "signup_tags")
	if err != nil {
		return "", &crm.Error{Op: "find tag", Message: err.Error(), Retryable: true}
	}
	for _, r := range found {
		if strings.EqualFold(tagName(r), name) {
			id = r.ID
		}
	}
	if id == "" && create {
		body := map[string]any{"data": map[string]any{"type": "signup_tags", "attributes": map[string]string{"name": name}}}
		resp, _, err := c.do(ctx, "create tag", http.MethodPost, "/signup_tags", body)
		if e, ok := crm.AsError(err); ok && e.Status == http.StatusUnprocessableEntity && e.Code == "taken" {
			return c.tagID(ctx, name, false) // another replica created it meanwhile
		}
		if err != nil {
			return "", err
		}
		r, err := parseOne(resp, "signup_tags")
		if err != nil {
			return "", &crm.Error{Op: "create tag", Message: err.Error(), Retryable: true}
		}
		id = r.ID
	}
	if id != "" {
		c.mu.Lock()
		c.tags[key] = id
		c.mu.Unlock()
	}
	return id, nil
}

// do sends one request and returns the body and status of a 2xx answer, or a classified
// *crm.Error. An expired token is refreshed once when refresh is configured.
func (c *Client) do(ctx context.Context, op, method, path string, body any) ([]byte, int, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, 0, &crm.Error{Op: op, Message: "cannot encode request"}
		}
	}
	for attempt := 0; ; attempt++ {
		token, err := c.tokens.access(ctx)
		if err != nil {
			return nil, 0, err
		}
		req, err := http.NewRequestWithContext(ctx, method, c.api+path, bytes.NewReader(payload))
		if err != nil {
			return nil, 0, &crm.Error{Op: op, Message: "cannot build request"}
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, 0, crm.NetworkError(op, scrub(err))
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return nil, 0, crm.NetworkError(op, scrub(err))
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return data, resp.StatusCode, nil
		}
		apiErr := parseError(data)
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && c.tokens.canRefresh() {
			if err := c.tokens.refresh(ctx, token); err != nil {
				return nil, 0, err
			}
			continue
		}
		return nil, resp.StatusCode, crm.Classify(op, resp, apiErr.Code, apiErr.Message)
	}
}

// scrub keeps the transport error's kind but drops the URL, which may carry a filter value.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
