package nationbuilder

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/crmtest"
)

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUpsertTagsAndErase(t *testing.T) {
	ctx := context.Background()
	nb := crmtest.NewNationBuilder(t, "tok")
	c := newClient(t, Config{BaseURL: nb.URL + "/api/v2", Token: "tok"})

	ct := crm.Contact{ExternalID: "relais-a", FirstName: "Ana", LastName: "Lopez", Phone: "+33612345678",
		Tags: []string{"relais-actif", "relais-groupe-lyon"}, RemoveTags: []string{"relais-inactif"}}
	ref, err := c.Upsert(ctx, ct)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := nb.SignupByExternalID("relais-a")
	if s.ID != ref || !slices.Equal(s.Tags, ct.Tags) || s.MobileNumber != ct.Phone || s.MobileOptIn || s.EmailOptIn {
		t.Fatalf("after create: %+v", s)
	}
	// An organiser tags the signup by hand with a relais-looking tag relais never applied.
	nb.SetTagging(ref, "relais-leader")

	tests := []struct {
		name string
		edit func(*crm.Contact)
		want []string
		dnc  bool
	}{
		{"drop a tag relais applied, keep the organiser's", func(c *crm.Contact) {
			c.Applied = c.Tags
			c.Tags, c.RemoveTags = []string{"relais-actif"}, []string{"relais-groupe-lyon", "relais-leader"}
		}, []string{"relais-actif", "relais-leader"}, false},
		{"unknown history removes every listed tag", func(c *crm.Contact) {
			c.Applied = nil
			c.Tags, c.RemoveTags = []string{"relais-actif"}, []string{"relais-leader"}
		}, []string{"relais-actif"}, false},
		{"objection", func(c *crm.Contact) {
			c.Applied = c.Tags
			c.Tags, c.RemoveTags, c.DoNotContact = []string{"relais-stop"}, []string{"relais-actif"}, true
		}, []string{"relais-stop"}, true},
		{"re-applying a tag already there is fine", func(c *crm.Contact) {
			c.Applied = nil
			c.RemoveTags = nil
		}, []string{"relais-stop"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct.Ref = ref
			tt.edit(&ct)
			if _, err := c.Upsert(ctx, ct); err != nil {
				t.Fatal(err)
			}
			s, _ := nb.SignupByExternalID("relais-a")
			if !slices.Equal(s.Tags, tt.want) || s.DoNotContact != tt.dnc {
				t.Fatalf("signup %+v, want tags %v dnc %v", s, tt.want, tt.dnc)
			}
		})
	}
	if err := c.Erase(ctx, "relais-a", ""); err != nil { // no ref: found by external_id
		t.Fatal(err)
	}
	if _, ok := nb.SignupByExternalID("relais-a"); ok {
		t.Fatal("signup survived erase")
	}
	if err := c.Erase(ctx, "relais-a", ref); err != nil {
		t.Fatalf("erasing twice: %v", err)
	}
	if n := nb.Requests.Malformed(); n != 0 {
		t.Fatalf("%d malformed: %v", n, nb.Requests.MalformedReasons())
	}
	t.Logf("requests: %s", nb.Requests.Summary())
}

func TestValidationErrorIsPermanent(t *testing.T) {
	nb := crmtest.NewNationBuilder(t, "tok")
	c := newClient(t, Config{BaseURL: nb.URL, Token: "tok"})
	_, err := c.Upsert(context.Background(), crm.Contact{ExternalID: "relais-nameless"})
	e, ok := crm.AsError(err)
	if !ok || e.Retryable || e.Status != http.StatusUnprocessableEntity || e.Code != "blank" {
		t.Fatalf("got %v", err)
	}
}

func TestRetryAfterIsReported(t *testing.T) {
	nb := crmtest.NewNationBuilder(t, "tok")
	nb.Faults.SetRetryAfter("3")
	nb.Faults.FailNext(http.StatusTooManyRequests, 1)
	c := newClient(t, Config{BaseURL: nb.URL, Token: "tok", HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	_, err := c.Upsert(context.Background(), crm.Contact{ExternalID: "relais-r", FirstName: "R"})
	e, ok := crm.AsError(err)
	if !ok || !e.Retryable || e.RetryAfter != 3*time.Second {
		t.Fatalf("got %v", err)
	}
}

func TestOAuthRefreshPersistsTheNewPair(t *testing.T) {
	ctx := context.Background()
	nb := crmtest.NewNationBuilder(t, "old-access")
	nb.EnableOAuth("client", "secret", "refresh-0")
	store := FileTokenStore{Path: filepath.Join(t.TempDir(), "nb-token.json")}
	cfg := Config{BaseURL: nb.URL, Token: "old-access", ClientID: "client", ClientSecret: "secret", RefreshToken: "refresh-0", TokenStore: store}
	c := newClient(t, cfg)
	if _, err := c.Upsert(ctx, crm.Contact{ExternalID: "relais-o", FirstName: "O"}); err != nil {
		t.Fatal(err)
	}
	nb.ExpireToken()
	if _, err := c.Upsert(ctx, crm.Contact{ExternalID: "relais-o", FirstName: "O2"}); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	saved, found, err := store.Load(ctx)
	if err != nil || !found || saved.Access != nb.Token() || saved.Refresh != "refresh-1" {
		t.Fatalf("stored %v %v %v", saved.Access, found, err)
	}
	if fi, _ := os.Stat(store.Path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode().Perm())
	}
	// A restart with the spent refresh token in the config still works: the stored pair wins.
	nb.ExpireToken()
	c2 := newClient(t, cfg)
	if _, err := c2.Upsert(ctx, crm.Contact{ExternalID: "relais-o", FirstName: "O3"}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if saved, _, _ := store.Load(ctx); saved.Refresh != "refresh-2" {
		t.Fatalf("refresh token after restart: %q", saved.Refresh)
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	nb := crmtest.NewNationBuilder(t, "right")
	c := newClient(t, Config{BaseURL: nb.URL, Token: "super-secret-token"})
	_, err := c.Upsert(context.Background(), crm.Contact{ExternalID: "relais-t", FirstName: "T"})
	if err == nil || strings.Contains(err.Error(), "super-secret-token") {
		t.Fatalf("error %v", err)
	}
	c = newClient(t, Config{BaseURL: "http://127.0.0.1:1", Token: "super-secret-token", HTTPClient: &http.Client{Timeout: time.Second}})
	_, err = c.Upsert(context.Background(), crm.Contact{ExternalID: "relais-t", FirstName: "T"})
	if !crm.IsRetryable(err) || strings.Contains(err.Error(), "super-secret-token") {
		t.Fatalf("network error %v", err)
	}
	if s := (Token{Access: "super-secret-token"}).String(); strings.Contains(s, "super") {
		t.Fatalf("token prints as %q", s)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []Config{
		{},
		{Slug: "nation"},
		{Slug: "a/b", Token: "t"},
		{BaseURL: "ftp://x", Token: "t"},
		{Slug: "nation", RefreshToken: "r"},
	}
	for _, cfg := range tests {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	c, err := New(Config{Slug: "nation", Token: "t"})
	if err != nil || c.api != "https://nation.nationbuilder.com/api/v2" || c.oauth != "https://nation.nationbuilder.com/oauth/token" {
		t.Fatalf("slug config: %v %+v", err, c)
	}
}

func FuzzParseAnswers(f *testing.F) {
	for _, s := range []string{
		`{"data":{"id":"1","type":"signups","attributes":{"external_id":"relais-a"}}}`,
		`{"data":[{"id":"7","type":"signup_tags","attributes":{"name":"relais-actif"}}]}`,
		`{"data":{"id":"1","type":"signups"},"included":[{"id":"9","type":"signup_taggings","attributes":{"tag_id":7}},{"id":"7","type":"signup_tags","attributes":{"name":"X"}}]}`,
		`{"errors":[{"code":"unprocessable_entity","detail":"Tag has already been taken","meta":{"code":"taken"}}]}`,
		`{"code":"token_expired","message":"expired"}`,
		`{"access_token":"a","refresh_token":"r","expires_in":86400}`,
		`{"data":null}`, `[]`, `{"included":[{"type":"signup_taggings","id":"1","attributes":{"tag_id":{"x":1}}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if r, err := parseOne(body, "signups"); err == nil && r.ID == "" {
			t.Fatal("resource without id accepted")
		}
		if rs, err := parseList(body, "signup_tags"); err == nil {
			for _, r := range rs {
				if r.ID == "" || r.Type != "signup_tags" {
					t.Fatal("bad list item accepted")
				}
				_ = tagName(r)
			}
		}
		if m, err := carriedTags(body); err == nil {
			for name, id := range m {
				if name == "" || id == "" {
					t.Fatal("empty tagging accepted")
				}
			}
		}
		_ = parseError(body)
		if tok, err := parseToken(body, time.Unix(0, 0)); err == nil && tok.Access == "" {
			t.Fatal("token without access accepted")
		}
	})
}

func TestRecreatedSignupGetsItsTagsBack(t *testing.T) {
	ctx := context.Background()
	nb := crmtest.NewNationBuilder(t, "tok")
	c := newClient(t, Config{BaseURL: nb.URL, Token: "tok"})
	ct := crm.Contact{ExternalID: "relais-d", FirstName: "D", Tags: []string{"relais-actif"}}
	ref, err := c.Upsert(ctx, ct)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Erase(ctx, ct.ExternalID, ref); err != nil { // an organiser deletes the signup
		t.Fatal(err)
	}
	ct.Ref, ct.Applied = ref, ct.Tags
	if _, err := c.Upsert(ctx, ct); err != nil {
		t.Fatal(err)
	}
	if s, _ := nb.SignupByExternalID("relais-d"); !slices.Equal(s.Tags, ct.Tags) {
		t.Fatalf("recreated signup has tags %v", s.Tags)
	}
}
