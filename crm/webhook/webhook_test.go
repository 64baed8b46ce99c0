package webhook

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/crmtest"
)

const secret = "0123456789abcdef-webhook"

func TestUpsertAndErase(t *testing.T) {
	ctx := context.Background()
	rx := crmtest.NewWebhook(t, secret)
	c, err := New(Config{URL: rx.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ct := crm.Contact{ExternalID: "relais-a", FirstName: "Ana", Phone: "+33612345678", Tags: []string{"relais-actif"},
		LastActive: time.Now()}
	ref, err := c.Upsert(ctx, ct)
	if err != nil || ref != "wh-1" {
		t.Fatalf("upsert: %q, %v", ref, err)
	}
	ct.Tags, ct.RemoveTags, ct.DoNotContact = []string{"relais-stop"}, []string{"relais-actif"}, true
	if _, err := c.Upsert(ctx, ct); err != nil {
		t.Fatal(err)
	}
	got := rx.Contacts()
	if len(got) != 1 || !slices.Equal(got[0].Tags, []string{"relais-stop"}) || !got[0].DoNotContact {
		t.Fatalf("receiver holds %+v", got)
	}
	if err := c.Erase(ctx, "relais-a", ref); err != nil {
		t.Fatal(err)
	}
	if n := len(rx.Contacts()); n != 0 {
		t.Fatalf("%d contacts after erase", n)
	}
	if n := rx.Requests.Malformed(); n != 0 {
		t.Fatalf("%d malformed: %v", n, rx.Requests.MalformedReasons())
	}
}

func TestRejections(t *testing.T) {
	ctx := context.Background()
	rx := crmtest.NewWebhook(t, secret)
	tests := []struct {
		name      string
		secret    string
		clock     time.Time
		retryable bool
	}{
		{"wrong secret", "another-secret-of-16-bytes", time.Now(), true},
		{"stale clock", secret, time.Now().Add(-time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{URL: rx.URL, Secret: tt.secret, Now: func() time.Time { return tt.clock }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Upsert(ctx, crm.Contact{ExternalID: "relais-x", FirstName: "X"})
			e, ok := crm.AsError(err)
			if !ok || e.Status != http.StatusUnauthorized || e.Retryable != tt.retryable {
				t.Fatalf("got %v", err)
			}
		})
	}
	rx.Faults.FailNext(http.StatusServiceUnavailable, 1)
	c, _ := New(Config{URL: rx.URL, Secret: secret})
	if _, err := c.Upsert(ctx, crm.Contact{ExternalID: "relais-y", FirstName: "Y"}); !crm.IsRetryable(err) {
		t.Fatalf("503 not retryable: %v", err)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"v":1,"op":"upsert","external_id":"relais-a","do_not_contact":false,"sent_at":1800000000}`)
	sig := Sign([]byte(secret), body)
	ts := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name      string
		body      []byte
		sig, ts   string
		now       time.Time
		wantError bool
	}{
		{"good", body, sig, ts, now, false},
		{"tampered body", append(body[:len(body)-1:len(body)-1], ' ', '}'), sig, ts, now, true},
		{"bad signature", body, "sha256=00", ts, now, true},
		{"header differs from body", body, sig, "1800000001", now, true},
		{"replayed later", body, sig, ts, now.Add(time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify([]byte(secret), tt.body, tt.sig, tt.ts, tt.now, 5*time.Minute)
			if (err != nil) != tt.wantError {
				t.Fatalf("err %v, want error %v", err, tt.wantError)
			}
		})
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{`{"id":"abc"}`, `{"id":42}`, `{"id":null}`, `{}`, `[]`, `{"id":{"x":1}}`, `{"error":"x","message":"y"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if ref := ParseRef(body); len(ref) > 200 {
			t.Fatalf("ref of %d bytes", len(ref))
		}
		_ = receiverMessage(body)
	})
}
