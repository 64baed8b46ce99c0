package crmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// signupWritable are the signup attributes NationBuilder v2 documents as writable (the
// subset of SignupReadWriteAttributes a contact sync could use). Anything else is a 400.
var signupWritable = map[string]string{
	"born_at": "string", "civicrm_id": "string", "do_not_call": "bool", "do_not_contact": "bool",
	"email": "string", "email_opt_in": "bool", "employer": "string", "external_id": "string",
	"first_name": "string", "is_volunteer": "bool", "last_name": "string", "middle_name": "string",
	"mobile_number": "string", "mobile_opt_in": "bool", "note": "string", "occupation": "string",
	"phone_number": "string", "recruiter_id": "string", "sex": "string", "support_level": "number",
	"language": "string", "locale": "string", "party_member": "bool", "is_leaderboardable": "bool",
	"work_phone_number": "string", "custom_values": "object", "van_id": "string", "ngp_id": "string",
}

// pushMatchKeys are the attributes PATCH /signups/push matches on.
var pushMatchKeys = []string{"civicrm_id", "county_file_id", "dw_id", "external_id", "email",
	"facebook_username", "ngp_id", "salesforce_id", "twitter_login", "van_id"}

var phonePattern = regexp.MustCompile(`^\+?[0-9 ().-]{7,20}$`)

// Signup is what the fake nation holds for one signup.
type Signup struct {
	ID           string
	ExternalID   string
	FirstName    string
	LastName     string
	MobileNumber string
	DoNotContact bool
	MobileOptIn  bool
	EmailOptIn   bool
	Tags         []string // tag names, sorted
}

// NationBuilder is a fake nation speaking API v2.
type NationBuilder struct {
	*httptest.Server
	Faults   *Faults
	Requests *Counter
	// Rate counts requests per sliding window; Rate.Set makes it enforce a limit with 429s.
	Rate *RateWindow

	mu           sync.Mutex
	token        string
	tokenExpired bool
	clientID     string
	clientSecret string
	refresh      string
	issued       int
	nextID       int
	signups      map[string]map[string]any // id → attributes
	tags         map[string]string         // id → name
	taggings     map[string][2]string      // id → signup id, tag id
}

// NewNationBuilder starts a fake nation accepting token; it stops with the test.
func NewNationBuilder(t testing.TB, token string) *NationBuilder {
	t.Helper()
	nb := &NationBuilder{
		Faults: NewFaults(1), Requests: newCounter(), Rate: &RateWindow{}, token: token,
		signups: map[string]map[string]any{}, tags: map[string]string{}, taggings: map[string][2]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", nb.oauthToken)
	mux.HandleFunc("PATCH /api/v2/signups/push", nb.api(nb.push))
	mux.HandleFunc("GET /api/v2/signups", nb.api(nb.listSignups))
	mux.HandleFunc("GET /api/v2/signups/{id}", nb.api(nb.showSignup))
	mux.HandleFunc("DELETE /api/v2/signups/{id}", nb.api(nb.deleteSignup))
	mux.HandleFunc("GET /api/v2/signup_tags", nb.api(nb.listTags))
	mux.HandleFunc("POST /api/v2/signup_tags", nb.api(nb.createTag))
	mux.HandleFunc("POST /api/v2/signup_taggings", nb.api(nb.createTagging))
	mux.HandleFunc("DELETE /api/v2/signup_taggings/{id}", nb.api(nb.deleteTagging))
	nb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		_, pattern := mux.Handler(r)
		if pattern == "" {
			pattern = r.Method + " (unknown)"
		}
		if ok, retryAfter := nb.Rate.arrive(time.Now()); !ok {
			rec.Header().Set("Retry-After", retryAfter)
			writeJSON(rec, http.StatusTooManyRequests, map[string]string{"code": "rate_limit_exceeded", "message": "Rate limit exceeded"})
			nb.Requests.add(pattern, rec.status)
			return
		}
		mux.ServeHTTP(rec, r)
		nb.Requests.add(pattern, rec.status)
	}))
	t.Cleanup(nb.Close)
	return nb
}

// EnableOAuth makes the token endpoint accept one refresh token for this client.
func (nb *NationBuilder) EnableOAuth(clientID, secret, refreshToken string) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.clientID, nb.clientSecret, nb.refresh = clientID, secret, refreshToken
}

// ExpireToken makes the current access token answer 401 token_expired.
func (nb *NationBuilder) ExpireToken() {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.tokenExpired = true
}

// Token returns the access token the fake accepts now.
func (nb *NationBuilder) Token() string {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return nb.token
}

// Signups returns every signup, by id order.
func (nb *NationBuilder) Signups() []Signup {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	out := make([]Signup, 0, len(nb.signups))
	for id := range nb.signups {
		out = append(out, nb.viewLocked(id))
	}
	slices.SortFunc(out, func(a, b Signup) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// SignupByExternalID finds one signup.
func (nb *NationBuilder) SignupByExternalID(x string) (Signup, bool) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if id := nb.findLocked(x); id != "" {
		return nb.viewLocked(id), true
	}
	return Signup{}, false
}

// SetTagging adds a tagging directly, as an organiser would in the control panel.
func (nb *NationBuilder) SetTagging(signupID, tagName string) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	tagID := ""
	for id, n := range nb.tags {
		if strings.EqualFold(n, tagName) {
			tagID = id
		}
	}
	if tagID == "" {
		tagID = nb.newIDLocked()
		nb.tags[tagID] = tagName
	}
	nb.taggings[nb.newIDLocked()] = [2]string{signupID, tagID}
}

func (nb *NationBuilder) viewLocked(id string) Signup {
	a := nb.signups[id]
	str := func(k string) string { s, _ := a[k].(string); return s }
	boolean := func(k string, def bool) bool {
		if b, ok := a[k].(bool); ok {
			return b
		}
		return def
	}
	s := Signup{ID: id, ExternalID: str("external_id"), FirstName: str("first_name"), LastName: str("last_name"),
		MobileNumber: str("mobile_number"), DoNotContact: boolean("do_not_contact", false),
		MobileOptIn: boolean("mobile_opt_in", true), EmailOptIn: boolean("email_opt_in", true)}
	for _, tg := range nb.taggings {
		if tg[0] == id {
			s.Tags = append(s.Tags, nb.tags[tg[1]])
		}
	}
	slices.Sort(s.Tags)
	return s
}

func (nb *NationBuilder) findLocked(externalID string) string {
	for id, a := range nb.signups {
		if a["external_id"] == externalID {
			return id
		}
	}
	return ""
}

func (nb *NationBuilder) newIDLocked() string {
	nb.nextID++
	return strconv.Itoa(nb.nextID)
}

// api wraps a handler with what every v2 call checks: injected faults, bearer token, Accept.
func (nb *NationBuilder) api(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if status, retryAfter := nb.Faults.pickFor(r.Pattern); status != 0 {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			code := map[int]string{429: "rate_limit_exceeded", 503: "service_unavailable"}[status]
			writeJSON(w, status, map[string]string{"code": code, "message": http.StatusText(status)})
			return
		}
		nb.mu.Lock()
		token, expired := nb.token, nb.tokenExpired
		nb.mu.Unlock()
		auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok || auth != token:
			nb.Requests.reject("bad or missing bearer token")
			writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "invalid access token"})
			return
		case expired:
			writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "token_expired", "message": "The access token expired"})
			return
		}
		if !jsonMedia(r.Header.Get("Accept")) {
			nb.Requests.reject("Accept is not application/json")
			writeJSON(w, http.StatusNotAcceptable, map[string]string{"code": "not_acceptable", "message": "Accept must be application/json"})
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPatch {
			if !jsonMedia(r.Header.Get("Content-Type")) {
				nb.Requests.reject("Content-Type is not application/json")
				writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"code": "unsupported_media_type", "message": "Content-Type must be application/json"})
				return
			}
		}
		h(w, r)
	}
}

func jsonMedia(v string) bool {
	for part := range strings.SplitSeq(v, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/json" || mt == "application/vnd.api+json") {
			return true
		}
	}
	return false
}

// readResource decodes a JSON:API body {"data":{"type":typ,"attributes":{...}}}. It writes
// the 400 itself and returns ok=false when the shape is wrong.
func (nb *NationBuilder) readResource(w http.ResponseWriter, r *http.Request, typ string) (map[string]any, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, false
	}
	var doc struct {
		Data *struct {
			Type       string         `json:"type"`
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc.Data == nil || doc.Data.Attributes == nil {
		nb.badRequest(w, "body is not a JSON:API resource document")
		return nil, false
	}
	if doc.Data.Type != typ {
		nb.badRequest(w, fmt.Sprintf("data.type must be %s", typ))
		return nil, false
	}
	return doc.Data.Attributes, true
}

func (nb *NationBuilder) badRequest(w http.ResponseWriter, detail string) {
	nb.Requests.reject(detail)
	writeJSON(w, http.StatusBadRequest, jsonAPIError("bad_request", "Bad Request", detail, "", ""))
}

func jsonAPIError(code, title, detail, attribute, metaCode string) map[string]any {
	e := map[string]any{"code": code, "status": "", "title": title, "detail": detail}
	if attribute != "" {
		e["source"] = map[string]string{"pointer": "/data/attributes/" + attribute}
		e["meta"] = map[string]string{"attribute": attribute, "message": detail, "code": metaCode}
	}
	return map[string]any{"errors": []any{e}}
}

func (nb *NationBuilder) push(w http.ResponseWriter, r *http.Request) {
	attrs, ok := nb.readResource(w, r, "signups")
	if !ok {
		return
	}
	for k, v := range attrs {
		kind, known := signupWritable[k]
		if !known {
			nb.badRequest(w, fmt.Sprintf("unknown attribute %q", k))
			return
		}
		if !hasKind(v, kind) {
			nb.badRequest(w, fmt.Sprintf("attribute %q must be a %s", k, kind))
			return
		}
	}
	match := ""
	for _, k := range pushMatchKeys {
		if s, _ := attrs[k].(string); s != "" {
			match = k
			break
		}
	}
	if match != "external_id" && match != "" {
		// relais only ever matches on external_id; anything else is a bug in the client.
		nb.badRequest(w, "expected a push matched on external_id")
		return
	}
	if match == "" {
		nb.badRequest(w, "push needs one of "+strings.Join(pushMatchKeys, ", "))
		return
	}
	if m, _ := attrs["mobile_number"].(string); m != "" && !phonePattern.MatchString(m) {
		writeJSON(w, http.StatusUnprocessableEntity, jsonAPIError("unprocessable_entity", "Unprocessable Entity", "Mobile number is invalid", "mobile_number", "invalid"))
		return
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	id := nb.findLocked(attrs["external_id"].(string))
	status := http.StatusOK
	if id == "" {
		named := false
		for _, k := range []string{"first_name", "last_name", "email", "mobile_number", "phone_number"} {
			if s, _ := attrs[k].(string); s != "" {
				named = true
			}
		}
		if !named {
			writeJSON(w, http.StatusUnprocessableEntity, jsonAPIError("unprocessable_entity", "Unprocessable Entity", "A signup needs a name, a phone or an email", "first_name", "blank"))
			return
		}
		id, status = nb.newIDLocked(), http.StatusCreated
		nb.signups[id] = map[string]any{}
	}
	for k, v := range attrs {
		nb.signups[id][k] = v
	}
	writeJSON(w, status, map[string]any{"data": nb.signupResourceLocked(id)})
}

func hasKind(v any, kind string) bool {
	switch kind {
	case "string":
		_, ok := v.(string)
		return ok || v == nil
	case "bool":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func (nb *NationBuilder) signupResourceLocked(id string) map[string]any {
	return map[string]any{"id": id, "type": "signups", "attributes": nb.signups[id]}
}

func (nb *NationBuilder) listSignups(w http.ResponseWriter, r *http.Request) {
	x := r.URL.Query().Get("filter[external_id]")
	nb.mu.Lock()
	defer nb.mu.Unlock()
	data := []any{}
	for id, a := range nb.signups {
		if x == "" || a["external_id"] == x {
			data = append(data, nb.signupResourceLocked(id))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "links": map[string]string{"next": ""}, "meta": map[string]any{}})
}

func (nb *NationBuilder) showSignup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if _, ok := nb.signups[id]; !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "not_found", "message": "Record not found"})
		return
	}
	doc := map[string]any{"data": nb.signupResourceLocked(id)}
	include := strings.Split(r.URL.Query().Get("include"), ",")
	for _, inc := range include {
		if inc != "" && inc != "taggings" && inc != "signup_tags" {
			nb.badRequest(w, fmt.Sprintf("unsupported sideload %q", inc))
			return
		}
	}
	included := []any{}
	tagSeen := map[string]bool{}
	for tid, tg := range nb.taggings {
		if tg[0] != id {
			continue
		}
		if slices.Contains(include, "taggings") {
			included = append(included, map[string]any{"id": tid, "type": "signup_taggings",
				"attributes": map[string]string{"signup_id": tg[0], "tag_id": tg[1]}})
		}
		if slices.Contains(include, "signup_tags") && !tagSeen[tg[1]] {
			tagSeen[tg[1]] = true
			included = append(included, map[string]any{"id": tg[1], "type": "signup_tags",
				"attributes": map[string]string{"name": nb.tags[tg[1]]}})
		}
	}
	if len(include) > 0 && include[0] != "" {
		doc["included"] = included
	}
	writeJSON(w, http.StatusOK, doc)
}

func (nb *NationBuilder) deleteSignup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if _, ok := nb.signups[id]; !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "not_found", "message": "Record not found"})
		return
	}
	delete(nb.signups, id)
	for tid, tg := range nb.taggings {
		if tg[0] == id {
			delete(nb.taggings, tid)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{}})
}

func (nb *NationBuilder) listTags(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("filter[name]")
	nb.mu.Lock()
	defer nb.mu.Unlock()
	data := []any{}
	for id, n := range nb.tags {
		if name == "" || strings.EqualFold(n, name) {
			data = append(data, map[string]any{"id": id, "type": "signup_tags", "attributes": map[string]string{"name": n}})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "links": map[string]string{"next": ""}, "meta": map[string]any{}})
}

func (nb *NationBuilder) createTag(w http.ResponseWriter, r *http.Request) {
	attrs, ok := nb.readResource(w, r, "signup_tags")
	if !ok {
		return
	}
	name, _ := attrs["name"].(string)
	if len(attrs) != 1 || strings.TrimSpace(name) == "" {
		nb.badRequest(w, "a signup tag takes exactly a non-empty name")
		return
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	for _, n := range nb.tags {
		if strings.EqualFold(n, name) {
			writeJSON(w, http.StatusUnprocessableEntity, jsonAPIError("unprocessable_entity", "Unprocessable Entity", "Name has already been taken", "name", "taken"))
			return
		}
	}
	id := nb.newIDLocked()
	nb.tags[id] = name
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]any{"id": id, "type": "signup_tags", "attributes": map[string]string{"name": name}}})
}

func (nb *NationBuilder) createTagging(w http.ResponseWriter, r *http.Request) {
	attrs, ok := nb.readResource(w, r, "signup_taggings")
	if !ok {
		return
	}
	signupID, _ := attrs["signup_id"].(string)
	tagID, _ := attrs["tag_id"].(string)
	if len(attrs) != 2 || signupID == "" || tagID == "" {
		nb.badRequest(w, "a signup tagging takes exactly signup_id and tag_id")
		return
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if _, ok := nb.signups[signupID]; !ok {
		writeJSON(w, http.StatusUnprocessableEntity, jsonAPIError("unprocessable_entity", "Unprocessable Entity", "Signup must exist", "signup", "blank"))
		return
	}
	if _, ok := nb.tags[tagID]; !ok {
		writeJSON(w, http.StatusUnprocessableEntity, jsonAPIError("unprocessable_entity", "Unprocessable Entity", "Tag must exist", "tag", "blank"))
		return
	}
	for _, tg := range nb.taggings {
		if tg == [2]string{signupID, tagID} {
			writeJSON(w, http.StatusUnprocessableEntity, jsonAPIError("unprocessable_entity", "Unprocessable Entity", "Tag has already been taken", "tag", "taken"))
			return
		}
	}
	id := nb.newIDLocked()
	nb.taggings[id] = [2]string{signupID, tagID}
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]any{"id": id, "type": "signup_taggings",
		"attributes": map[string]string{"signup_id": signupID, "tag_id": tagID}}})
}

func (nb *NationBuilder) deleteTagging(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if _, ok := nb.taggings[id]; !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "not_found", "message": "Record not found"})
		return
	}
	delete(nb.taggings, id)
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{}})
}

// oauthToken implements the refresh_token grant: a refresh token works once.
func (nb *NationBuilder) oauthToken(w http.ResponseWriter, r *http.Request) {
	var req map[string]string
	if !jsonMedia(r.Header.Get("Content-Type")) || json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req) != nil {
		nb.Requests.reject("token request is not JSON")
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	switch {
	case req["grant_type"] != "refresh_token":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
	case nb.clientID == "" || req["client_id"] != nb.clientID || req["client_secret"] != nb.clientSecret:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
	case req["refresh_token"] == "" || req["refresh_token"] != nb.refresh:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
	default:
		nb.issued++
		nb.token = fmt.Sprintf("access-%d", nb.issued)
		nb.refresh = fmt.Sprintf("refresh-%d", nb.issued)
		nb.tokenExpired = false
		writeJSON(w, http.StatusOK, map[string]any{"access_token": nb.token, "refresh_token": nb.refresh,
			"token_type": "Bearer", "expires_in": 86400, "scope": "default", "created_at": 1})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
