// Package civicrm writes relais contacts into CiviCRM through the APIv4 REST endpoint
// (civicrm/ajax/api4/{Entity}/{action}, params as form-encoded JSON, AuthX bearer key).
// A contact is one Contact.save matched on external_identifier, with its mobile phone and
// relais tags chained in the same request; erasure is a permanent Contact.delete.
package civicrm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"github.com/relais-bot/relais/crm"
)

// Config connects to one CiviCRM site.
type Config struct {
	// URL is the site root (https://crm.example.org) or the api4 endpoint itself
	// (…/civicrm/ajax/api4), for CMSs that route it elsewhere.
	URL     string
	APIKey  string // the API user's key, sent as X-Civi-Auth: Bearer
	SiteKey string // CIVICRM_SITE_KEY, sent as X-Civi-Key when set
	// HTTPClient defaults to one paced at 10 requests per second with a 30 s timeout.
	HTTPClient *http.Client
}

// Client is a crm.Sink for CiviCRM.
type Client struct {
	endpoint string
	key      string
	siteKey  string
	http     *http.Client

	mu   sync.Mutex
	tags map[string]int64 // tag name → id
}

// New checks cfg and returns a client. It does no I/O.
func New(cfg Config) (*Client, error) {
	base := strings.TrimRight(strings.TrimSpace(cfg.URL), "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("civicrm: URL must be an absolute http(s) URL")
	}
	if cfg.APIKey == "" {
		return nil, errors.New("civicrm: an API key is required")
	}
	if !strings.HasSuffix(base, "/civicrm/ajax/api4") {
		base += "/civicrm/ajax/api4"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = crm.NewHTTPClient(crm.NewThrottle(rate.Limit(10), 10))
	}
	return &Client{endpoint: base, key: cfg.APIKey, siteKey: cfg.SiteKey, http: hc, tags: map[string]int64{}}, nil
}

// Upsert saves the contact, its mobile and its relais tags in one chained Contact.save
// (plus, once per process, a lookup or creation of each tag it has not seen).
func (c *Client) Upsert(ctx context.Context, ct crm.Contact) (string, error) {
	// Every tag goes in the chained EntityTag.save, not only the new ones: it costs no
	// extra request, and a contact someone deleted and the save recreated gets them back.
	tagIDs := make([]int64, 0, len(ct.Tags))
	for _, name := range ct.Tags {
		id, err := c.tagID(ctx, name)
		if err != nil {
			return "", err
		}
		tagIDs = append(tagIDs, id)
	}
	first, last := ct.Names()
	record := map[string]any{
		"contact_type":        "Individual",
		"external_identifier": ct.ExternalID,
		"first_name":          first,
		"last_name":           last,
	}
	if ct.DoNotContact {
		// Only ever set: relais cannot tell whether someone else set these flags.
		for _, f := range []string{"do_not_email", "do_not_phone", "do_not_sms", "do_not_mail", "is_opt_out"} {
			record[f] = true
		}
	}
	chain := map[string]any{}
	if ct.Phone != "" {
		chain["phone"] = []any{"Phone", "save", map[string]any{
			"records": []any{map[string]any{"contact_id": "$id", "phone": ct.Phone, "phone_type_id:name": "Mobile"}},
			"match":   []string{"contact_id", "phone_type_id"},
		}}
	}
	if len(tagIDs) > 0 {
		records := make([]any, 0, len(tagIDs))
		for _, id := range tagIDs {
			records = append(records, map[string]any{"entity_table": "civicrm_contact", "entity_id": "$id", "tag_id": id})
		}
		chain["tag"] = []any{"EntityTag", "save", map[string]any{
			"records": records, "match": []string{"entity_table", "entity_id", "tag_id"},
		}}
	}
	if remove := ct.TagsToRemove(); len(remove) > 0 {
		chain["untag"] = []any{"EntityTag", "delete", map[string]any{"where": []any{
			[]any{"entity_table", "=", "civicrm_contact"},
			[]any{"entity_id", "=", "$id"},
			[]any{"tag_id:name", "IN", remove},
		}}}
	}
	params := map[string]any{"records": []any{record}, "match": []string{"external_identifier"}}
	if len(chain) > 0 {
		params["chain"] = chain
	}
	values, err := c.call(ctx, "Contact", "save", params)
	if err != nil {
		return "", err
	}
	id, err := firstID(values)
	if err != nil {
		return "", &crm.Error{Op: "Contact.save", Message: err.Error(), Retryable: true}
	}
	return id, nil
}

// Erase deletes the contact for good (useTrash false: erasure, not the trash can).
func (c *Client) Erase(ctx context.Context, externalID, ref string) error {
	where := []any{[]any{"external_identifier", "=", externalID}}
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil && id > 0 {
		where = []any{[]any{"id", "=", id}}
	}
	_, err := c.call(ctx, "Contact", "delete", map[string]any{"where": where, "useTrash": false})
	return err
}

// tagID finds a contact tag by name, creating it when missing. Cached for the process.
func (c *Client) tagID(ctx context.Context, name string) (int64, error) {
	c.mu.Lock()
	id, ok := c.tags[name]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	values, err := c.call(ctx, "Tag", "get", map[string]any{
		"select": []string{"id", "name"}, "where": []any{[]any{"name", "=", name}}, "limit": 1,
	})
	if err != nil {
		return 0, err
	}
	ref, err := firstID(values)
	if err != nil {
		values, err = c.call(ctx, "Tag", "create", map[string]any{
			"values": map[string]any{"name": name, "used_for": []string{"civicrm_contact"}},
		})
		if err != nil {
			return 0, err
		}
		if ref, err = firstID(values); err != nil {
			return 0, &crm.Error{Op: "Tag.create", Message: err.Error(), Retryable: true}
		}
	}
	id, err = strconv.ParseInt(ref, 10, 64)
	if err != nil {
		return 0, &crm.Error{Op: "Tag.get", Message: "tag id is not a number", Retryable: true}
	}
	c.mu.Lock()
	c.tags[name] = id
	c.mu.Unlock()
	return id, nil
}

// call runs one APIv4 action and returns its values.
func (c *Client) call(ctx context.Context, entity, action string, params any) ([]json.RawMessage, error) {
	op := entity + "." + action
	payload, err := json.Marshal(params)
	if err != nil {
		return nil, &crm.Error{Op: op, Message: "cannot encode params"}
	}
	form := url.Values{"params": {string(payload)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/"+entity+"/"+action, strings.NewReader(form))
	if err != nil {
		return nil, &crm.Error{Op: op, Message: "cannot build request"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	req.Header.Set("X-Civi-Auth", "Bearer "+c.key)
	if c.siteKey != "" {
		req.Header.Set("X-Civi-Key", c.siteKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, crm.NetworkError(op, scrub(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, crm.NetworkError(op, scrub(err))
	}
	result, perr := parseResult(data)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 && perr == nil && result.ErrorCode == "" {
		return result.Values, nil
	}
	if e := crm.Classify(op, resp, result.ErrorCode, result.ErrorMessage); e != nil {
		// CiviCRM answers 500 for every API exception. A named code (mandatory_missing,
		// already exists, …) is CiviCRM refusing the data; a bare number is an unexplained
		// failure, which an outage looks like.
		if resp.StatusCode == http.StatusInternalServerError && namedCode(result.ErrorCode) {
			e.Retryable = false
		}
		return nil, e
	}
	if perr != nil {
		return nil, &crm.Error{Op: op, Status: resp.StatusCode, Message: perr.Error(), Retryable: true}
	}
	return nil, &crm.Error{Op: op, Status: resp.StatusCode, Code: crm.Clip(result.ErrorCode, 64), Message: crm.Clip(result.ErrorMessage, 300)}
}

func namedCode(code string) bool {
	if code == "" {
		return false
	}
	_, err := strconv.Atoi(code)
	return err != nil
}

// result is the APIv4 REST envelope.
type result struct {
	Values       []json.RawMessage
	Count        int
	ErrorCode    string
	ErrorMessage string
}

// parseResult reads an APIv4 answer: {"values":[…],"count":n,…} or
// {"error_code":…,"error_message":…}. error_code is a number or a string.
func parseResult(data []byte) (result, error) {
	var raw struct {
		Values       json.RawMessage `json:"values"`
		Count        int             `json:"count"`
		ErrorCode    json.RawMessage `json:"error_code"`
		ErrorMessage string          `json:"error_message"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return result{}, fmt.Errorf("unreadable answer")
	}
	r := result{Count: raw.Count, ErrorMessage: raw.ErrorMessage}
	if len(raw.ErrorCode) > 0 && string(raw.ErrorCode) != "null" {
		var s string
		if json.Unmarshal(raw.ErrorCode, &s) == nil {
			r.ErrorCode = s
		} else {
			var n json.Number
			if json.Unmarshal(raw.ErrorCode, &n) != nil {
				return r, fmt.Errorf("unreadable error_code")
			}
			r.ErrorCode = n.String()
		}
		if r.ErrorCode == "" {
			r.ErrorCode = "0"
		}
		return r, nil
	}
	if len(raw.Values) == 0 || string(raw.Values) == "null" {
		return r, nil
	}
	if err := json.Unmarshal(raw.Values, &r.Values); err != nil {
		// An indexed result is an object keyed by id.
		var byKey map[string]json.RawMessage
		if json.Unmarshal(raw.Values, &byKey) != nil {
			return result{}, fmt.Errorf("unreadable values")
		}
		for _, v := range byKey {
			r.Values = append(r.Values, v)
		}
	}
	return r, nil
}

// firstID returns the id of the first value, as a decimal string.
func firstID(values []json.RawMessage) (string, error) {
	if len(values) == 0 {
		return "", errors.New("no record in the answer")
	}
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(values[0], &v); err != nil {
		return "", errors.New("unreadable record")
	}
	id := strings.Trim(string(v.ID), `"`)
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
		return "", errors.New("record without a numeric id")
	}
	return id, nil
}

// scrub keeps the transport error's kind but drops the URL.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
