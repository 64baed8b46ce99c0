package nationbuilder

import (
	"encoding/json"
	"fmt"
	"strings"
)

// resource is one JSON:API resource object as NationBuilder v2 sends it.
type resource struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// document is a JSON:API answer: one resource or a list, plus sideloads.
type document struct {
	Data     json.RawMessage `json:"data"`
	Included []resource      `json:"included"`
}

// parseOne reads an answer holding one resource of type typ and returns its id.
func parseOne(body []byte, typ string) (resource, error) {
	var doc document
	if err := json.Unmarshal(body, &doc); err != nil {
		return resource{}, fmt.Errorf("unreadable answer: %w", err)
	}
	var r resource
	if err := json.Unmarshal(doc.Data, &r); err != nil {
		return resource{}, fmt.Errorf("unreadable %s: %w", typ, err)
	}
	if r.Type != typ || r.ID == "" {
		return resource{}, fmt.Errorf("answer is not a %s with an id", typ)
	}
	return r, nil
}

// parseList reads an answer holding a list of resources of type typ.
func parseList(body []byte, typ string) ([]resource, error) {
	var doc document
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("unreadable answer: %w", err)
	}
	var rs []resource
	if err := json.Unmarshal(doc.Data, &rs); err != nil {
		return nil, fmt.Errorf("unreadable %s list: %w", typ, err)
	}
	for _, r := range rs {
		if r.Type != typ || r.ID == "" {
			return nil, fmt.Errorf("list holds something other than %s", typ)
		}
	}
	return rs, nil
}

// tagName reads the name attribute of a signup_tags resource.
func tagName(r resource) string {
	var a struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(r.Attributes, &a)
	return a.Name
}

// carriedTags returns lowercase tag name → tagging id from a signup read with its
// signup_tags and taggings sideloaded.
func carriedTags(body []byte) (map[string]string, error) {
	var doc document
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("unreadable answer: %w", err)
	}
	names := map[string]string{} // tag id → name
	taggings := map[string]string{}
	for _, r := range doc.Included {
		if r.ID == "" {
			continue
		}
		switch r.Type {
		case "signup_tags":
			names[r.ID] = strings.ToLower(tagName(r))
		case "signup_taggings":
			var a struct {
				TagID flexID `json:"tag_id"`
			}
			if err := json.Unmarshal(r.Attributes, &a); err != nil {
				return nil, fmt.Errorf("unreadable tagging: %w", err)
			}
			if a.TagID != "" {
				taggings[string(a.TagID)] = r.ID
			}
		}
	}
	out := map[string]string{}
	for tagID, tagging := range taggings {
		if name := names[tagID]; name != "" {
			out[name] = tagging
		}
	}
	return out, nil
}

// apiError is what NationBuilder says when it refuses: JSON:API errors for validation, a
// bare code and message for auth and rate limits.
type apiError struct {
	Code    string
	Message string
}

func parseError(body []byte) apiError {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Code   string `json:"code"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Meta   struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"meta"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return apiError{}
	}
	if len(e.Errors) > 0 {
		first := e.Errors[0]
		code := first.Meta.Code
		if code == "" {
			code = first.Code
		}
		msg := first.Detail
		if msg == "" {
			msg = first.Title
		}
		return apiError{Code: code, Message: msg}
	}
	return apiError{Code: e.Code, Message: e.Message}
}

// flexID is an id NationBuilder may write as a string or as a number.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id is neither a string nor a number")
	}
	*f = flexID(n.String())
	return nil
}
