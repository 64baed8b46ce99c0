package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestHasherTokensUnchanged pins tokens to their definition, HMAC-SHA256 of the parts joined
// by NUL, truncated and base32-encoded: tokens are Redis keys, NATS subjects and CRM external
// ids, so a faster Hasher that changed one would orphan a deployment's data. Concurrent calls
// share the pooled HMACs and must not mix their inputs.
func TestHasherTokensUnchanged(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	h, err := NewHasher(secret)
	if err != nil {
		t.Fatal(err)
	}
	want := func(parts ...string) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(strings.Join(parts, "\x00")))
		return tokenEncoding.EncodeToString(m.Sum(nil)[:tokenBytes])
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := strings.Repeat("x", i%70) + string(rune('a'+g))
				if got, w := h.Member(WhatsApp, id), want("member", "whatsapp", id); got != w {
					t.Errorf("Member(%q) = %s, want %s", id, got, w)
					return
				}
				if got, w := h.Group(Telegram, id), want("group", "telegram", id); got != w {
					t.Errorf("Group(%q) = %s, want %s", id, got, w)
					return
				}
				if got, w := h.Event(id), want("event", id); got != w {
					t.Errorf("Event(%q) = %s, want %s", id, got, w)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHasherTokens(t *testing.T) {
	h, err := NewHasher([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewHasher([]byte("another secret of enough length"))
	safe := regexp.MustCompile(`^[a-z2-7]{16}$`)
	m := h.Member(Telegram, "123456789")
	for _, tok := range []string{m, h.Group(Telegram, "-100123"), h.Member(WhatsApp, "33612345678@s.whatsapp.net")} {
		if !safe.MatchString(tok) {
			t.Fatalf("token %q is not subject-safe", tok)
		}
	}
	switch {
	case m != h.Member(Telegram, "123456789"):
		t.Fatal("tokens must be stable")
	case m == h.Member(WhatsApp, "123456789"):
		t.Fatal("platforms must not share tokens")
	case m == h.Group(Telegram, "123456789"):
		t.Fatal("members and groups must not share tokens")
	case m == other.Member(Telegram, "123456789"):
		t.Fatal("the secret must key the token")
	}
	if _, err := NewHasher([]byte("short")); err == nil {
		t.Fatal("a short secret must be refused")
	}
}

func TestNames(t *testing.T) {
	n, err := NewNames("t1")
	if err != nil {
		t.Fatal(err)
	}
	subj := n.EventSubject(Telegram, "g", "m")
	if subj != "t1.relais.ev.telegram.g.m" || n.EventsStream() != "T1_RELAIS_EVENTS" {
		t.Fatalf("names: %s %s", subj, n.EventsStream())
	}
	if got, ok := n.MemberFromSubject(subj); !ok || got != "m" {
		t.Fatalf("member from subject: %q %v", got, ok)
	}
	if got := n.DLQSubject(subj); got != "t1.relais.dlq.ev.telegram.g.m" {
		t.Fatalf("dlq subject %s", got)
	}
	if _, err := NewNames("a.b"); err == nil {
		t.Fatal("a dot in the prefix must be refused")
	}
	if DefaultNames().CRMSubject("m") != "relais.crm.m" {
		t.Fatal("default crm subject")
	}
}
