package civicrm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/crmtest"
)

func newClient(t *testing.T, site *crmtest.CiviCRM) *Client {
	t.Helper()
	c, err := New(Config{URL: site.URL, APIKey: "key", SiteKey: "site"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUpsertUpdateErase(t *testing.T) {
	ctx := context.Background()
	site := crmtest.NewCiviCRM(t, "key", "site")
	c := newClient(t, site)

	ct := crm.Contact{ExternalID: "relais-a", FirstName: "Ana", LastName: "Lopez", Phone: "+33612345678",
		Tags: []string{"relais-actif", "relais-leader"}, RemoveTags: []string{"relais-inactif"}}
	ref, err := c.Upsert(ctx, ct)
	if err != nil {
		t.Fatal(err)
	}
	// Second write: one tag dropped, objection, relais knows what it applied.
	ct.Ref, ct.Applied = ref, ct.Tags
	ct.Tags, ct.RemoveTags, ct.DoNotContact = []string{"relais-stop"}, []string{"relais-actif", "relais-leader"}, true
	ref2, err := c.Upsert(ctx, ct)
	if err != nil {
		t.Fatal(err)
	}
	if ref2 != ref {
		t.Fatalf("second upsert made contact %s, first was %s", ref2, ref)
	}
	got := site.Contacts()
	if len(got) != 1 {
		t.Fatalf("%d contacts, want 1", len(got))
	}
	g := got[0]
	if g.ExternalID != "relais-a" || g.FirstName != "Ana" || g.Mobile != "+33612345678" || !g.DoNotSMS || !g.IsOptOut ||
		!slices.Equal(g.Tags, []string{"relais-stop"}) {
		t.Fatalf("contact %+v", g)
	}
	if err := c.Erase(ctx, "relais-a", ref); err != nil {
		t.Fatal(err)
	}
	if n := len(site.Contacts()); n != 0 || site.Trashed() != 0 {
		t.Fatalf("after erase: %d contacts, %d trashed", n, site.Trashed())
	}
	if err := c.Erase(ctx, "relais-a", ""); err != nil {
		t.Fatalf("erasing an absent contact: %v", err)
	}
	if n := site.Requests.Malformed(); n != 0 {
		t.Fatalf("%d malformed requests: %v", n, site.Requests.MalformedReasons())
	}
	t.Logf("requests: %s", site.Requests.Summary())
}

func TestFaultsAreRetryable(t *testing.T) {
	site := crmtest.NewCiviCRM(t, "key", "")
	c := newClient(t, site)
	site.Faults.FailNext(http.StatusTooManyRequests, 1)
	_, err := c.Upsert(context.Background(), crm.Contact{ExternalID: "relais-b", FirstName: "B"})
	e, ok := crm.AsError(err)
	if !ok || !e.Retryable || e.Status != 429 || e.RetryAfter == 0 {
		t.Fatalf("429: %v", err)
	}
	site.Faults.SetDown(true)
	_, err = c.Upsert(context.Background(), crm.Contact{ExternalID: "relais-b", FirstName: "B"})
	if e, ok := crm.AsError(err); !ok || !e.Retryable || e.Status != 503 {
		t.Fatalf("503: %v", err)
	}
}

func TestWrongKeyIsNotDeadLettered(t *testing.T) {
	site := crmtest.NewCiviCRM(t, "key", "")
	c, err := New(Config{URL: site.URL, APIKey: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Upsert(context.Background(), crm.Contact{ExternalID: "relais-c", FirstName: "C"})
	if e, ok := crm.AsError(err); !ok || !e.Retryable {
		t.Fatalf("wrong key: %v", err)
	}
	if s := err.Error(); strings.Contains(s, "wrong") {
		t.Fatalf("error shows the key: %s", s)
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		retryable bool
	}{
		{"validation", 500, `{"error_code":"mandatory_missing","error_message":"Mandatory values missing","status":500}`, false},
		{"hidden error", 500, `{"error_code":"1","error_message":"Sorry an error occurred","status":500}`, true},
		{"maintenance", 503, `{"status_code":503,"status_message":"Temporarily unavailable for maintenance."}`, true},
		{"acl", 403, `{"error_code":0,"error_message":"ACL check failed","status":403}`, true},
		{"csrf guard", 400, `{"error_code":400,"error_message":"SECURITY ALERT"}`, false},
		{"error in a 200", 200, `{"error_code":"already exists","error_message":"DB Error: already exists"}`, false},
		{"garbage 200", 200, `<html>`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, _ := New(Config{URL: srv.URL, APIKey: "k"})
			_, err := c.call(context.Background(), "Contact", "save", map[string]any{})
			if err == nil {
				t.Fatal("no error")
			}
			if got := crm.IsRetryable(err); got != tt.retryable {
				t.Fatalf("retryable=%v, want %v (%v)", got, tt.retryable, err)
			}
		})
	}
}

func FuzzParseResult(f *testing.F) {
	for _, s := range []string{
		`{"values":[{"id":3}],"count":1}`, `{"values":{"3":{"id":"3"}},"count":1}`, `{"values":[]}`,
		`{"error_code":"mandatory_missing","error_message":"x"}`, `{"error_code":1}`, `{"error_code":null,"values":null}`,
		`[]`, `null`, `{"values":[1,2]}`, `{"error_code":{"a":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseResult(data)
		if err != nil {
			return
		}
		if id, err := firstID(r.Values); err == nil && id == "" {
			t.Fatal("empty id without error")
		}
		_ = namedCode(r.ErrorCode)
	})
}
