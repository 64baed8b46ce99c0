package commands_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// fakeMembership is the platforms' answer to "is this user in that group?".
type fakeMembership struct {
	mu      sync.Mutex
	members map[[2]string]bool // group chat id, user id
	fail    map[string]bool    // group chat ids the platform cannot answer for
	asked   int
	onAsk   func() // called on each question: a replica dying while it asks
}

func (f *fakeMembership) IsMember(ctx context.Context, _ events.Platform, group, user string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.onAsk != nil {
		f.onAsk()
		if err := ctx.Err(); err != nil {
			return false, err
		}
	}
	if f.fail[group] {
		return false, errors.New("platform unavailable")
	}
	return f.members[[2]string{group, user}], nil
}

// withScopes makes the organisers ordinary organisers (no admin) whose groups checker says.
func withScopes(checker scope.Checker) rigOption {
	return func(c *commands.Config, _ *rigDeps) {
		c.Admins = commands.Organisers{}
		c.Scopes = scope.NewResolver(checker, time.Minute, nil, nil)
	}
}

// The second group, of which the organiser is not a member, and its people.
var (
	otherGroup  = &events.Group{ID: "-100888", Title: "Grenoble centre"}
	otherMember = events.Member{ID: "830030803", Name: "Bastien Secret", Username: "bastien_s"}
)

// seedScoped gives the rig two Telegram groups: A (tgGroup: Camille) and B (otherGroup:
// Bastien, and Camille too). Camille's card carries both groups.
func (r *rig) seedScoped() (a, b string) {
	h := r.env.Hasher
	a, b = h.Group(events.Telegram, tgGroup.ID), h.Group(events.Telegram, otherGroup.ID)
	r.q.groups = []commands.GroupStats{
		{Token: b, Chat: otherGroup.ID, Title: otherGroup.Title, Platform: events.Telegram, MembersSeen: 99, Active7: 77, Active30: 88, MessagesPerDay: make([]int, 14)},
		{Token: a, Chat: tgGroup.ID, Title: tgGroup.Title, Platform: events.Telegram, MembersSeen: 42, Active7: 9, Active30: 17, MessagesPerDay: make([]int, 14)},
	}
	refA, refB := bridge.GroupRef{Token: a, Title: tgGroup.Title}, bridge.GroupRef{Token: b, Title: otherGroup.Title}
	r.q.members = []commands.MemberCard{
		{Token: r.member(events.Telegram, otherMember), Name: otherMember.Name, Username: otherMember.Username, Platform: events.Telegram,
			Groups: []string{otherGroup.Title}, InGroups: []bridge.GroupRef{refB}, Messages: 90, ActiveDays: 20, People: 30,
			Tags: []string{"relais-actif", "relais-groupe-grenoble-centre", "relais-leader"}},
		{Token: r.member(events.Telegram, tgMember), Name: tgMember.Name, Username: tgMember.Username, Platform: events.Telegram,
			Groups: []string{otherGroup.Title, tgGroup.Title}, InGroups: []bridge.GroupRef{refB, refA}, Messages: 57, ActiveDays: 12, People: 8,
			Tags: []string{"relais-actif", "relais-groupe-grenoble-centre", "relais-groupe-lyon-3e-entraide", "relais-leader"}},
	}
	return a, b
}

// fakeLinks makes login links that name the organiser: the test sees the link is theirs.
type fakeLinks struct{}

func (fakeLinks) LoginLink(_ context.Context, who scope.Who) (string, time.Duration, error) {
	return "https://relais.example/tableau/login?t=" + string(who.Platform) + who.ID, 10 * time.Minute, nil
}

func withDashboard(l commands.LoginLinker) rigOption {
	return func(c *commands.Config, _ *rigDeps) { c.Dashboard = l }
}

// TestScopeEveryOrganiserCommand: an organiser of group A gets nothing of group B, by any
// organiser command, asked in private, in group A or in group B; an admin sees both.
func TestScopeEveryOrganiserCommand(t *testing.T) {
	checker := &fakeMembership{members: map[[2]string]bool{{tgGroup.ID, tgOrganiser.ID}: true}}
	secrets := []string{otherGroup.Title, otherMember.Name, "bastien_s", "grenoble-centre", "99"}
	type tc struct {
		name  string
		where *events.Group
		cmd   string
		args  []string
		want  string // something of group A the answer must show ("" when none)
	}
	var cases []tc
	for _, where := range []*events.Group{nil, tgGroup, otherGroup} {
		cases = append(cases,
			tc{"stats", where, "stats", nil, tgGroup.Title},
			tc{"stats by title of B", where, "stats", []string{"centre"}, ""},
			tc{"stats by a word of both", where, "stats", []string{"e"}, tgGroup.Title},
			tc{"actifs", where, "actifs", nil, tgMember.Name},
			tc{"relais", where, "relais", nil, tgMember.Name},
			tc{"fiche of a member of B only", where, "fiche", []string{"Bastien"}, ""},
			tc{"fiche of a member of both", where, "fiche", []string{"Camille"}, tgGroup.Title},
			tc{"sync", where, "sync", nil, ""},
			tc{"bilan", where, "bilan", nil, tgMember.Name},
			tc{"tableau", where, "tableau", nil, ""},
		)
	}
	r := newRig(t, "fr", withScopes(checker), withDashboard(fakeLinks{}))
	r.seedScoped()
	for _, c := range cases {
		where := "private"
		if c.where != nil {
			where = c.where.Title
		}
		t.Run(c.name+" in "+where, func(t *testing.T) {
			text := privateText(r.handle(r.cmd(events.Telegram, tgOrganiser, c.where, c.cmd, c.args...)))
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("organiser of A saw %q of B in:\n%s", s, text)
				}
			}
			if c.want != "" && !strings.Contains(text, c.want) {
				t.Errorf("answer lacks %q of A:\n%s", c.want, text)
			}
		})
	}
}

// privateText joins the private answers (and photo captions) of a command.
func privateText(replies []events.Reply) string {
	var b strings.Builder
	for _, rep := range replies {
		if rep.Private {
			b.WriteString(rep.Text + "\n")
		}
	}
	return b.String()
}

func TestScopeAdminSeesEveryGroup(t *testing.T) {
	checker := &fakeMembership{}
	r := newRig(t, "fr") // organisers are admins
	r.seedScoped()
	text := privateText(r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "stats")))
	for _, want := range []string{tgGroup.Title, otherGroup.Title} {
		if !strings.Contains(text, want) {
			t.Errorf("admin's /stats lacks %q:\n%s", want, text)
		}
	}
	if checker.asked != 0 {
		t.Errorf("the platform was asked %d times about an admin", checker.asked)
	}
}

func TestScopeFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		checker *fakeMembership
	}{
		{"member of nothing", &fakeMembership{members: map[[2]string]bool{}}},
		{"member on another platform only", &fakeMembership{members: map[[2]string]bool{{waGroup.ID, tgOrganiser.ID}: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "en", withScopes(tt.checker))
			r.seedScoped()
			text := privateText(r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "stats")))
			if !strings.Contains(text, r.h.NoScopeText()) {
				t.Errorf("want the no-scope answer, got:\n%s", text)
			}
			for _, s := range []string{tgGroup.Title, otherGroup.Title} {
				if strings.Contains(text, s) {
					t.Errorf("saw %q", s)
				}
			}
		})
	}
}

func TestScopeMembershipIsCached(t *testing.T) {
	checker := &fakeMembership{members: map[[2]string]bool{{tgGroup.ID, tgOrganiser.ID}: true}}
	r := newRig(t, "fr", withScopes(checker))
	r.seedScoped()
	r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "stats"))
	first := checker.asked
	r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "actifs"))
	if first != 2 || checker.asked != first {
		t.Errorf("platform asked %d then %d times; want 2 (one per group) then none (cached)", first, checker.asked)
	}
}

// TestStatsSendsAChartOfTheScope: /stats sends a PNG privately beside its text, drawn from
// the scope's groups only.
func TestStatsSendsAChartOfTheScope(t *testing.T) {
	checker := &fakeMembership{members: map[[2]string]bool{{tgGroup.ID, tgOrganiser.ID}: true}}
	r := newRig(t, "fr", withScopes(checker))
	a, b := r.seedScoped()
	for _, where := range []*events.Group{nil, tgGroup} {
		r.q.charted = nil
		var photos []events.Reply
		for _, rep := range r.handle(r.cmd(events.Telegram, tgOrganiser, where, "stats")) {
			if len(rep.Photo) > 0 {
				photos = append(photos, rep)
			}
		}
		if len(photos) != 1 {
			t.Fatalf("in %v: %d pictures, want 1", where, len(photos))
		}
		p := photos[0]
		if !p.Private || p.Chat != tgOrganiser.ID || !bytes.HasPrefix(p.Photo, []byte("\x89PNG")) || !strings.Contains(p.Text, "30 derniers jours") {
			t.Errorf("chart reply to %s private %v caption %q", p.Chat, p.Private, p.Text)
		}
		if !slices.Equal(r.q.charted, []string{a}) || slices.Contains(r.q.charted, b) {
			t.Errorf("chart read groups %v, want only A", r.q.charted)
		}
	}
}
