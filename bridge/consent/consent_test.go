package consent_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

func newStore(t *testing.T, env *eventstest.Env, policy string) *consent.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := consent.New(ctx, env.JS, env.Names, policy)
	if err != nil {
		t.Fatalf("consent.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var at = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestDecideFollowsRecords(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s := newStore(t, env, "")
	records := map[string]consent.Record{
		"yes":    {Status: consent.StatusYes, At: at, Channel: events.Telegram, NoticeVersion: 1, Phone: "+33612345678"},
		"stop":   {Status: consent.StatusStop, At: at, Channel: events.WhatsApp},
		"erased": {Status: consent.StatusErased, At: at},
	}
	for m, r := range records {
		if err := s.Set(ctx, m, r); err != nil {
			t.Fatalf("Set %s: %v", m, err)
		}
	}
	tests := []struct {
		member         string
		optedIn, suppr bool
	}{
		{"yes", true, false},
		{"stop", false, true},
		{"erased", false, true},
		{"never", false, false},
	}
	check := func(t *testing.T, s *consent.Store) {
		t.Helper()
		for _, tt := range tests {
			d, err := s.Decide(ctx, tt.member, "g1")
			if err != nil {
				t.Fatalf("Decide %s: %v", tt.member, err)
			}
			if d.OptedIn != tt.optedIn || d.Suppressed != tt.suppr || d.Policy != consent.PolicyOptIn {
				t.Errorf("Decide %s = %+v, want opted in %v, suppressed %v, opt-in", tt.member, d, tt.optedIn, tt.suppr)
			}
		}
	}
	check(t, s)
	// A fresh Store (a restart, or a rebuilt Redis) knows the same from the bucket alone.
	rebuilt := newStore(t, env, "")
	check(t, rebuilt)
	got, found, err := rebuilt.Get(ctx, "yes")
	if err != nil || !found {
		t.Fatalf("Get yes: found %v, err %v", found, err)
	}
	if !reflect.DeepEqual(got, records["yes"]) {
		t.Errorf("Get yes = %+v, want %+v", got, records["yes"])
	}
	sup := rebuilt.Suppressed()
	if len(sup) != 2 || !contains(sup, "stop") || !contains(sup, "erased") {
		t.Errorf("Suppressed = %v, want stop and erased", sup)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestReplicaSeesWrites(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	a, b := newStore(t, env, consent.PolicyNotice), newStore(t, env, consent.PolicyNotice)
	if err := a.Set(ctx, "m1", consent.Record{Status: consent.StatusStop, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetGroupPolicy(ctx, "g1", consent.PolicyOptIn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica sees objection and policy", func() bool {
		d, _ := b.Decide(ctx, "m1", "g1")
		return d.Suppressed && d.Policy == consent.PolicyOptIn
	})
}

// waitFor polls a condition that another goroutine makes true; the deadline only bounds a
// failing test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestObjectionDropsEarlierPhone(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s := newStore(t, env, "")
	if err := s.Set(ctx, "m1", consent.Record{Status: consent.StatusYes, At: at, Phone: "+33612345678"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "m1", consent.Record{Status: consent.StatusYes, At: at.Add(time.Hour), Phone: "+33612345678"}); err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{consent.StatusStop, consent.StatusErased} {
		if err := s.Set(ctx, "m1", consent.Record{Status: status, At: at.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		kv, err := env.JS.KeyValue(ctx, env.Names.ConsentBucket())
		if err != nil {
			t.Fatal(err)
		}
		hist, err := kv.History(ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 {
			t.Fatalf("after %s, history has %d revisions, want 1", status, len(hist))
		}
		if v := string(hist[0].Value()); strings.Contains(v, "+336") || !strings.Contains(v, status) {
			t.Errorf("after %s, kept revision %s", status, v)
		}
	}
}

func TestGroupPolicy(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s := newStore(t, env, consent.PolicyNotice)
	if p := s.Policy("g1"); p != consent.PolicyNotice {
		t.Fatalf("default policy %q", p)
	}
	if err := s.SetGroupPolicy(ctx, "g1", "opt-in"); err != nil {
		t.Fatal(err)
	}
	if p := s.Policy("g1"); p != consent.PolicyOptIn {
		t.Errorf("override: %q", p)
	}
	if p := s.Policy("g2"); p != consent.PolicyNotice {
		t.Errorf("other group: %q", p)
	}
	if p := newStore(t, env, consent.PolicyNotice).Policy("g1"); p != consent.PolicyOptIn {
		t.Errorf("override after restart: %q", p)
	}
	if err := s.SetGroupPolicy(ctx, "g1", ""); err != nil {
		t.Fatal(err)
	}
	if p := s.Policy("g1"); p != consent.PolicyNotice {
		t.Errorf("cleared override: %q", p)
	}
	if p := newStore(t, env, consent.PolicyNotice).Policy("g1"); p != consent.PolicyNotice {
		t.Errorf("cleared override after restart: %q", p)
	}
	if err := s.SetGroupPolicy(ctx, "g1", "sometimes"); err == nil {
		t.Error("bad policy accepted")
	}
}

func TestClaimNoticeOnce(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s := newStore(t, env, consent.PolicyNotice)

	// Many replicas racing: exactly one posts.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 8 {
		wg.Go(func() {
			ok, err := s.ClaimNotice(ctx, "g1", 1)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims won, want 1", wins)
	}
	steps := []struct {
		name    string
		store   *consent.Store
		version int
		release bool
		want    bool
	}{
		{"same version after restart", newStore(t, env, consent.PolicyNotice), 1, false, false},
		{"older version", s, 0, false, false},
		{"new version", s, 2, false, true},
		{"new version again", s, 2, false, false},
		{"after a failed post was released", s, 2, true, true},
	}
	for _, st := range steps {
		if st.release {
			if err := st.store.ReleaseNotice(ctx, "g1"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.store.ClaimNotice(ctx, "g1", st.version)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Errorf("%s: claimed %v, want %v", st.name, got, st.want)
		}
	}
	if v, err := s.NoticeVersion(ctx, "g1"); err != nil || v != 2 {
		t.Errorf("NoticeVersion = %d, %v; want 2", v, err)
	}
}

func TestRejectsBadInput(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s := newStore(t, env, "")
	tests := []struct {
		name   string
		member string
		rec    consent.Record
	}{
		{"key of another kind", "policy.g1", consent.Record{Status: consent.StatusYes, At: at}},
		{"wildcard", "m.>", consent.Record{Status: consent.StatusYes, At: at}},
		{"empty member", "", consent.Record{Status: consent.StatusYes, At: at}},
		{"unknown status", "m1", consent.Record{Status: "maybe", At: at}},
		{"no time", "m1", consent.Record{Status: consent.StatusYes}},
		{"phone without consent", "m1", consent.Record{Status: consent.StatusStop, At: at, Phone: "+33612345678"}},
	}
	for _, tt := range tests {
		if err := s.Set(ctx, tt.member, tt.rec); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if _, err := consent.New(ctx, env.JS, env.Names, "always"); err == nil {
		t.Error("bad default policy accepted")
	}
}

func TestUnreadableRecordSuppresses(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	kv, err := env.JS.KeyValue(ctx, env.Names.ConsentBucket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "m1", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	d, err := newStore(t, env, consent.PolicyNotice).Decide(ctx, "m1", "g1")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Suppressed || d.OptedIn {
		t.Errorf("unreadable record decided %+v, want suppressed", d)
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", consent.PolicyOptIn, true},
		{"opt-in", consent.PolicyOptIn, true},
		{" Notice ", consent.PolicyNotice, true},
		{"optin", consent.PolicyOptIn, true},
		{"opt-out", "", false},
	}
	for _, tt := range tests {
		got, err := consent.ParsePolicy(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePolicy(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"", "opt-in", "notice", "NOTICE", "opt in", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := consent.ParsePolicy(s)
		if err == nil && p != consent.PolicyOptIn && p != consent.PolicyNotice {
			t.Fatalf("ParsePolicy(%q) = %q", s, p)
		}
		if err != nil && p != "" {
			t.Fatalf("ParsePolicy(%q) returned %q with error", s, p)
		}
	})
}

// The store is the bridge's consent.
var _ bridge.Consent = (*consent.Store)(nil)
