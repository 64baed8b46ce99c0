package crmtest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// civiFields are the fields the fake knows per entity, as CiviCRM's getFields would list them.
var civiFields = map[string][]string{
	"Contact": {"id", "contact_type", "first_name", "last_name", "external_identifier", "display_name", "nick_name",
		"source", "do_not_email", "do_not_phone", "do_not_sms", "do_not_mail", "is_opt_out"},
	"Tag":       {"id", "name", "label", "description", "used_for", "is_selectable"},
	"EntityTag": {"id", "entity_table", "entity_id", "tag_id", "tag_id:name"},
	"Phone":     {"id", "contact_id", "phone", "phone_type_id", "phone_type_id:name", "location_type_id", "is_primary"},
}

// civiParams are the params each action takes.
var civiParams = map[string][]string{
	"get":    {"select", "where", "limit", "offset", "orderBy", "chain", "checkPermissions"},
	"save":   {"records", "match", "defaults", "reload", "chain", "checkPermissions"},
	"create": {"values", "chain", "checkPermissions"},
	"delete": {"where", "useTrash", "chain", "checkPermissions"},
}

// CiviContact is what the fake site holds for one contact.
type CiviContact struct {
	ID         int64
	ExternalID string
	FirstName  string
	LastName   string
	Mobile     string
	Tags       []string // names, sorted
	DoNotSMS   bool
	IsOptOut   bool
}

// CiviCRM is a fake CiviCRM site speaking APIv4 REST.
type CiviCRM struct {
	*httptest.Server
	Faults   *Faults
	Requests *Counter

	apiKey, siteKey string

	mu       sync.Mutex
	nextID   int64
	contacts map[int64]map[string]any
	tags     map[int64]string
	entity   map[[2]int64]int64 // (contact, tag) → entity tag id
	phones   map[int64]string   // contact → mobile
	trashed  int
}

// NewCiviCRM starts a fake site; siteKey "" disables the site-key guard.
func NewCiviCRM(t testing.TB, apiKey, siteKey string) *CiviCRM {
	t.Helper()
	cv := &CiviCRM{Faults: NewFaults(2), Requests: newCounter(), apiKey: apiKey, siteKey: siteKey,
		contacts: map[int64]map[string]any{}, tags: map[int64]string{}, entity: map[[2]int64]int64{}, phones: map[int64]string{}}
	cv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		route := cv.serve(rec, r)
		cv.Requests.add(route, rec.status)
	}))
	t.Cleanup(cv.Close)
	return cv
}

// Contacts returns every contact by id.
func (cv *CiviCRM) Contacts() []CiviContact {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	var out []CiviContact
	for id, c := range cv.contacts {
		str := func(k string) string { s, _ := c[k].(string); return s }
		b := func(k string) bool { v, _ := c[k].(bool); return v }
		cc := CiviContact{ID: id, ExternalID: str("external_identifier"), FirstName: str("first_name"), LastName: str("last_name"),
			Mobile: cv.phones[id], DoNotSMS: b("do_not_sms"), IsOptOut: b("is_opt_out")}
		for k := range cv.entity {
			if k[0] == id {
				cc.Tags = append(cc.Tags, cv.tags[k[1]])
			}
		}
		slices.Sort(cc.Tags)
		out = append(out, cc)
	}
	slices.SortFunc(out, func(a, b CiviContact) int { return int(a.ID - b.ID) })
	return out
}

// Trashed counts contacts deleted to the trash instead of for good.
func (cv *CiviCRM) Trashed() int {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return cv.trashed
}

type civiError struct {
	status int
	code   any
	msg    string
}

func (cv *CiviCRM) serve(w http.ResponseWriter, r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/civicrm/ajax/api4/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 2 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error_message": "page not found"})
		return r.Method + " (unknown)"
	}
	entity, action := parts[0], parts[1]
	route := r.Method + " " + entity + "." + action
	if status, retryAfter := cv.Faults.pick(); status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, status, map[string]any{"status_code": status, "status_message": http.StatusText(status)})
		return route
	}
	reject := func(e civiError) string {
		cv.Requests.reject(e.msg)
		writeJSON(w, e.status, map[string]any{"error_code": e.code, "error_message": e.msg, "status": e.status})
		return route
	}
	switch {
	case r.Header.Get("X-Requested-With") != "XMLHttpRequest":
		return reject(civiError{400, 400, "SECURITY ALERT: Ajax requests can only be issued by javascript clients, eg. CRM.api4()."})
	case r.Method != http.MethodPost && !strings.HasPrefix(action, "get"):
		return reject(civiError{405, 405, "SECURITY: All requests that modify the database must be http POST, not GET."})
	case r.Header.Get("X-Civi-Auth") != "Bearer "+cv.apiKey:
		return reject(civiError{401, 401, "Invalid credential"})
	case cv.siteKey != "" && r.Header.Get("X-Civi-Key") != cv.siteKey:
		return reject(civiError{401, 401, "Invalid site key"})
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt != "application/x-www-form-urlencoded" {
		// CiviCRM reads params from the form: a JSON body is silently ignored.
		return reject(civiError{500, "mandatory_missing", "params must be form-encoded"})
	}
	if err := r.ParseForm(); err != nil {
		return reject(civiError{400, 400, "unreadable form"})
	}
	var params map[string]any
	dec := json.NewDecoder(strings.NewReader(r.Form.Get("params")))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return reject(civiError{500, "mandatory_missing", "params is not a JSON object"})
	}
	cv.mu.Lock()
	values, cerr := cv.run(entity, action, params)
	cv.mu.Unlock()
	if cerr != nil {
		if cerr.status == 500 {
			// A data error the real API would report the same way: not malformed.
			writeJSON(w, cerr.status, map[string]any{"error_code": cerr.code, "error_message": cerr.msg, "status": cerr.status})
			return route
		}
		return reject(*cerr)
	}
	writeJSON(w, http.StatusOK, map[string]any{"values": values, "count": len(values), "countFetched": len(values),
		"entity": entity, "action": action, "version": 4})
	return route
}

// run executes one call (and its chains) with cv.mu held.
func (cv *CiviCRM) run(entity, action string, params map[string]any) ([]any, *civiError) {
	known, ok := civiFields[entity]
	if !ok {
		return nil, &civiError{400, 400, "API entity " + entity + " not found"}
	}
	allowed, ok := civiParams[action]
	if !ok {
		return nil, &civiError{400, 400, "API action " + action + " not found"}
	}
	for k := range params {
		if !slices.Contains(allowed, k) {
			return nil, &civiError{400, 400, fmt.Sprintf("unknown param %q for %s", k, action)}
		}
	}
	var out []map[string]any
	switch action {
	case "save", "create":
		var records []any
		if action == "create" {
			v, ok := params["values"].(map[string]any)
			if !ok {
				return nil, &civiError{400, 400, "values must be an object"}
			}
			records = []any{v}
		} else if records, ok = params["records"].([]any); !ok || len(records) == 0 {
			return nil, &civiError{500, "mandatory_missing", "Mandatory values missing from Api4 " + entity + "::save: records"}
		}
		match, _ := params["match"].([]any)
		for _, rec := range records {
			fields, ok := rec.(map[string]any)
			if !ok {
				return nil, &civiError{400, 400, "a record must be an object"}
			}
			for k := range fields {
				if !slices.Contains(known, k) {
					return nil, &civiError{400, 400, fmt.Sprintf("unknown field %s.%s", entity, k)}
				}
			}
			saved, err := cv.save(entity, fields, match)
			if err != nil {
				return nil, err
			}
			out = append(out, saved)
		}
	case "get":
		out = cv.find(entity, params["where"])
	case "delete":
		if params["where"] == nil {
			return nil, &civiError{500, "mandatory_missing", "Mandatory values missing from Api4 " + entity + "::delete: where"}
		}
		if entity == "Contact" && params["useTrash"] != false {
			cv.trashed++
		}
		for _, rec := range cv.find(entity, params["where"]) {
			cv.remove(entity, toInt(rec["id"]))
			out = append(out, map[string]any{"id": rec["id"]})
		}
	}
	if chain, ok := params["chain"].(map[string]any); ok {
		for _, rec := range out {
			for name, spec := range chain {
				call, ok := spec.([]any)
				if !ok || len(call) < 3 {
					return nil, &civiError{400, 400, "chain " + name + " must be [entity, action, params]"}
				}
				e, _ := call[0].(string)
				a, _ := call[1].(string)
				p, _ := substitute(call[2], rec).(map[string]any)
				res, err := cv.run(e, a, p)
				if err != nil {
					return nil, err
				}
				rec[name] = res
			}
		}
	}
	values := make([]any, 0, len(out))
	for _, rec := range out {
		values = append(values, rec)
	}
	return values, nil
}

// substitute replaces "$field" strings with the parent record's value, as chains do.
func substitute(v any, parent map[string]any) any {
	switch t := v.(type) {
	case string:
		if f, ok := strings.CutPrefix(t, "$"); ok {
			return parent[f]
		}
		return t
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = substitute(t[i], parent)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			out[k] = substitute(x, parent)
		}
		return out
	}
	return v
}

func toInt(v any) int64 {
	switch t := v.(type) {
	case json.Number:
		n, _ := t.Int64()
		return n
	case int64:
		return t
	case string:
		n, _ := strconv.ParseInt(t, 10, 64)
		return n
	}
	return 0
}

func (cv *CiviCRM) save(entity string, f map[string]any, match []any) (map[string]any, *civiError) {
	cv.nextID++
	fresh := cv.nextID
	switch entity {
	case "Contact":
		id := toInt(f["id"])
		if id == 0 && slices.Contains(match, any("external_identifier")) {
			for cid, c := range cv.contacts {
				if c["external_identifier"] == f["external_identifier"] {
					id = cid
				}
			}
		}
		if id == 0 {
			if f["contact_type"] == nil {
				return nil, &civiError{500, "mandatory_missing", "Mandatory values missing from Api4 Contact::save: contact_type"}
			}
			for _, c := range cv.contacts {
				if x, _ := f["external_identifier"].(string); x != "" && c["external_identifier"] == x {
					return nil, &civiError{500, "already exists", "DB Error: already exists"}
				}
			}
			id = fresh
			cv.contacts[id] = map[string]any{}
		} else if _, ok := cv.contacts[id]; !ok {
			return nil, &civiError{500, "0", "Contact not found"}
		}
		for k, v := range f {
			if k != "id" {
				cv.contacts[id][k] = v
			}
		}
		return map[string]any{"id": id}, nil
	case "Tag":
		name, _ := f["name"].(string)
		for id, n := range cv.tags {
			if n == name {
				if slices.Contains(match, any("name")) {
					return map[string]any{"id": id, "name": n}, nil
				}
				return nil, &civiError{500, "already exists", "DB Error: already exists"}
			}
		}
		cv.tags[fresh] = name
		return map[string]any{"id": fresh, "name": name}, nil
	case "EntityTag":
		contact, tag := toInt(f["entity_id"]), toInt(f["tag_id"])
		if f["entity_table"] != "civicrm_contact" || cv.contacts[contact] == nil || cv.tags[tag] == "" {
			return nil, &civiError{500, "mandatory_missing", "EntityTag needs an existing contact and tag"}
		}
		if id, ok := cv.entity[[2]int64{contact, tag}]; ok {
			if len(match) == 0 {
				return nil, &civiError{500, "already exists", "DB Error: already exists"}
			}
			return map[string]any{"id": id}, nil
		}
		cv.entity[[2]int64{contact, tag}] = fresh
		return map[string]any{"id": fresh}, nil
	case "Phone":
		contact := toInt(f["contact_id"])
		if cv.contacts[contact] == nil || f["phone_type_id:name"] != "Mobile" {
			return nil, &civiError{500, "mandatory_missing", "Phone needs an existing contact and a phone type"}
		}
		cv.phones[contact], _ = f["phone"].(string)
		return map[string]any{"id": contact}, nil
	}
	return nil, &civiError{400, 400, "save not supported for " + entity}
}

// find evaluates a where clause of [field, "=" | "IN", value] conditions.
func (cv *CiviCRM) find(entity string, where any) []map[string]any {
	var rows []map[string]any
	switch entity {
	case "Contact":
		for id, c := range cv.contacts {
			rows = append(rows, map[string]any{"id": id, "external_identifier": c["external_identifier"]})
		}
	case "Tag":
		for id, n := range cv.tags {
			rows = append(rows, map[string]any{"id": id, "name": n})
		}
	case "EntityTag":
		for k, id := range cv.entity {
			rows = append(rows, map[string]any{"id": id, "entity_table": "civicrm_contact", "entity_id": k[0], "tag_id": k[1], "tag_id:name": cv.tags[k[1]]})
		}
	}
	conds, _ := where.([]any)
	var out []map[string]any
	for _, row := range rows {
		keep := true
		for _, c := range conds {
			cond, _ := c.([]any)
			if len(cond) != 3 {
				keep = false
				break
			}
			field, _ := cond[0].(string)
			op, _ := cond[1].(string)
			keep = keep && matches(row[field], op, cond[2])
		}
		if keep {
			out = append(out, row)
		}
	}
	return out
}

func matches(have any, op string, want any) bool {
	eq := func(a, b any) bool { return fmt.Sprint(normal(a)) == fmt.Sprint(normal(b)) }
	switch op {
	case "=":
		return eq(have, want)
	case "IN":
		list, _ := want.([]any)
		for _, w := range list {
			if eq(have, w) {
				return true
			}
		}
	}
	return false
}

func normal(v any) any {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return v
}

func (cv *CiviCRM) remove(entity string, id int64) {
	switch entity {
	case "Contact":
		delete(cv.contacts, id)
		delete(cv.phones, id)
		for k := range cv.entity {
			if k[0] == id {
				delete(cv.entity, k)
			}
		}
	case "EntityTag":
		for k, eid := range cv.entity {
			if eid == id {
				delete(cv.entity, k)
			}
		}
	case "Tag":
		delete(cv.tags, id)
	}
}
