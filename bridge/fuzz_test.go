package bridge

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

// FuzzSlug: group titles come from the platforms; every title gives an ASCII tag suffix.
func FuzzSlug(f *testing.F) {
	for _, s := range []string{"Équipe Écoles Nord", "", "---", "🌹 Roses & Co 🌹", strings.Repeat("é", 100), "a\x00b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, title string) {
		s := slug(title)
		if len(s) > maxSlug || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") || strings.Contains(s, "--") {
			t.Fatalf("slug(%q) = %q", title, s)
		}
		for _, r := range s {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				t.Fatalf("slug(%q) = %q: %q is not allowed", title, s, r)
			}
		}
		if !utf8.ValidString(fold(title)) && utf8.ValidString(title) {
			t.Fatalf("fold broke valid text %q", title)
		}
	})
}

// FuzzPlan: any event that decodes and passes the rules plans without panicking, never
// credits its sender, and credits each member once.
func FuzzPlan(f *testing.F) {
	f.Add("telegram:-1:2", "message", "7", "8", "@bob,9,7,,@", "3", "-1", "")
	f.Add("x", "reaction", "7", "", "", "telegram:-1:9", "-1", "-2")
	f.Add(":", "join", "1", "1", "1", ":", "g", "g")
	h, err := events.NewHasher([]byte("0123456789abcdef0123"))
	if err != nil {
		f.Fatal(err)
	}
	b := &Bridge{hash: h}
	b.cfg, _ = Config{}.withDefaults()
	f.Fuzz(func(t *testing.T, id, kind, sender, replyTo, mentions, target, group, from string) {
		ev := events.Event{V: events.Version, ID: id, Kind: events.Kind(kind), Platform: events.Telegram,
			At: testNow, Sender: events.Member{ID: sender}, ReplyTo: replyTo, Target: target,
			Group: &events.Group{ID: group, MigratedFrom: from}}
		if mentions != "" {
			ev.Mentions = strings.Split(mentions, ",")
		}
		if ev.Validate() != nil || b.check(ev, testNow) != nil {
			return
		}
		p := b.plan(ev)
		seen := map[string]bool{}
		for _, c := range p.credits {
			if c.member == p.sender || seen[c.member] || c.member == "" {
				t.Fatalf("bad credit %+v (sender %s)", c, p.sender)
			}
			seen[c.member] = true
		}
		if p.day != dayOf(testNow) || !strings.HasSuffix(p.stamp, "|"+h.Event(id)) {
			t.Fatalf("plan %+v", p)
		}
	})
}
