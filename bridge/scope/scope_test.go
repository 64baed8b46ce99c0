package scope_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

var groups = []bridge.GroupStats{
	{Token: "ga", Chat: "-1001", Title: "A", Platform: events.Telegram},
	{Token: "gb", Chat: "-1002", Title: "B", Platform: events.Telegram},
	{Token: "gw", Chat: "1203@g.us", Title: "W", Platform: events.WhatsApp},
	{Token: "gold", Title: "Old, no chat id yet", Platform: events.Telegram},
}

func tokens(s scope.Scope) []string {
	var out []string
	for _, g := range s.Groups(groups) {
		out = append(out, g.Token)
	}
	return out
}

func TestRule(t *testing.T) {
	tests := []struct {
		name   string
		who    scope.Who
		member map[string]bool
		want   []string
	}{
		{"admin sees every group", scope.Who{Platform: events.Telegram, ID: "1", Admin: true}, nil, []string{"ga", "gb", "gw", "gold"}},
		{"organiser of A sees A only", scope.Who{Platform: events.Telegram, ID: "1"}, map[string]bool{"ga": true, "gb": false}, []string{"ga"}},
		{"organiser of nothing sees nothing", scope.Who{Platform: events.Telegram, ID: "1"}, map[string]bool{}, nil},
		{"membership on another platform does not count", scope.Who{Platform: events.Telegram, ID: "1"}, map[string]bool{"gw": true}, nil},
		{"a group without platform id is in no organiser's scope", scope.Who{Platform: events.Telegram, ID: "1"}, map[string]bool{"gold": true}, nil},
		{"WhatsApp organiser of W", scope.Who{Platform: events.WhatsApp, ID: "+33611111111"}, map[string]bool{"gw": true, "ga": true}, []string{"gw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tokens(scope.Rule(tt.who, groups, tt.member)); !slices.Equal(got, tt.want) {
				t.Errorf("scope %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCardTrimsOtherGroups(t *testing.T) {
	c := bridge.MemberCard{
		Token: "m1", Name: "Camille", Groups: []string{"A", "B"},
		InGroups: []bridge.GroupRef{{Token: "ga", Title: "A"}, {Token: "gb", Title: "B"}},
		Tags:     []string{"relais-actif", "relais-groupe-a", "relais-groupe-b"},
	}
	tests := []struct {
		name      string
		s         scope.Scope
		ok        bool
		groups    []string
		tags      []string
		inGroupsN int
	}{
		{"everything", scope.Everything(), true, []string{"A", "B"}, []string{"relais-actif", "relais-groupe-a", "relais-groupe-b"}, 2},
		{"A", scope.Only("ga"), true, []string{"A"}, []string{"relais-actif", "relais-groupe-a"}, 1},
		{"neither", scope.Only("gw"), false, nil, nil, 0},
		{"zero scope", scope.Scope{}, false, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.s.Card(c)
			if ok != tt.ok || !slices.Equal(got.Groups, tt.groups) || !slices.Equal(got.Tags, tt.tags) || len(got.InGroups) != tt.inGroupsN {
				t.Errorf("Card = %+v, %v; want groups %v tags %v ok %v", got, ok, tt.groups, tt.tags, tt.ok)
			}
		})
	}
}

type countingChecker struct {
	mu     sync.Mutex
	member map[string]bool // group chat id
	err    error
	asked  int
}

func (c *countingChecker) IsMember(_ context.Context, _ events.Platform, group, _ string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked++
	return c.member[group], c.err
}

func TestResolverCachesThenAsksAgain(t *testing.T) {
	now := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	c := &countingChecker{member: map[string]bool{"-1001": true}}
	r := scope.NewResolver(c, 5*time.Minute, func() time.Time { return now }, nil)
	who := scope.Who{Platform: events.Telegram, ID: "7"}
	ctx := context.Background()
	if got := tokens(r.Scope(ctx, who, groups)); !slices.Equal(got, []string{"ga"}) {
		t.Fatalf("scope %v, want [ga]", got)
	}
	asked := c.asked
	r.Scope(ctx, who, groups)
	if c.asked != asked {
		t.Errorf("asked again within the TTL: %d then %d", asked, c.asked)
	}
	// Removed from A: seen once the cached answer expires.
	c.member["-1001"] = false
	now = now.Add(5*time.Minute + time.Second)
	if got := tokens(r.Scope(ctx, who, groups)); len(got) != 0 {
		t.Errorf("after the TTL, scope %v, want none", got)
	}
}

// chatChecker answers per group chat id: an error, a wait until the question times out, or
// whether the organiser is a member.
type chatChecker struct {
	mu     sync.Mutex
	member map[string]bool
	err    map[string]error
	hang   map[string]bool
	asked  map[string]int
}

func (c *chatChecker) IsMember(ctx context.Context, _ events.Platform, group, _ string) (bool, error) {
	c.mu.Lock()
	c.asked[group]++
	member, err, hang := c.member[group], c.err[group], c.hang[group]
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return false, ctx.Err()
	}
	return member, err
}

// nineGroups are an organiser's nine Telegram groups, G1 to G9 (chats -1 to -9).
func nineGroups() []bridge.GroupStats {
	var gs []bridge.GroupStats
	for i := 1; i <= 9; i++ {
		gs = append(gs, bridge.GroupStats{Token: fmt.Sprintf("g%d", i), Chat: fmt.Sprintf("-%d", i), Title: fmt.Sprintf("G%d", i), Platform: events.Telegram})
	}
	return gs
}

// TestResolverAsksEveryGroup: one group in three whose check fails (a 500, a timeout) leaves
// the scope incomplete, naming exactly those groups, while every other group is still asked
// and counted; "the bot is not in this group" is an answer (not a member), not a failure.
func TestResolverAsksEveryGroup(t *testing.T) {
	down := errors.New("telegram: membership: getChatMember: Internal Server Error (500)")
	notIn := fmt.Errorf("telegram: membership: %w", events.ErrNotInGroup)
	tests := []struct {
		name        string
		err         map[string]error
		hang        map[string]bool
		wantScope   []string
		wantMissing []string
	}{
		{"every group answers", nil, nil, []string{"g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9"}, nil},
		{"one in three answers 500", map[string]error{"-1": down, "-4": down, "-7": down}, nil,
			[]string{"g2", "g3", "g5", "g6", "g8", "g9"}, []string{"G1", "G4", "G7"}},
		{"one in three times out", nil, map[string]bool{"-1": true, "-4": true, "-7": true},
			[]string{"g2", "g3", "g5", "g6", "g8", "g9"}, []string{"G1", "G4", "G7"}},
		{"the bot is not in one in three", map[string]error{"-1": notIn, "-4": notIn, "-7": notIn}, nil,
			[]string{"g2", "g3", "g5", "g6", "g8", "g9"}, nil},
		{"every group fails", map[string]error{"-1": down, "-2": down, "-3": down, "-4": down, "-5": down, "-6": down, "-7": down, "-8": down, "-9": down}, nil,
			nil, []string{"G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs := nineGroups()
			c := &chatChecker{member: map[string]bool{}, err: tt.err, hang: tt.hang, asked: map[string]int{}}
			for _, g := range gs {
				c.member[g.Chat] = true
			}
			r := scope.NewResolver(c, time.Minute, nil, nil).WithAskTimeout(50 * time.Millisecond)
			who := scope.Who{Platform: events.Telegram, ID: "7"}
			s := r.Scope(context.Background(), who, gs)
			var got []string
			for _, g := range s.Groups(gs) {
				got = append(got, g.Token)
			}
			if !slices.Equal(got, tt.wantScope) {
				t.Errorf("scope %v, want %v", got, tt.wantScope)
			}
			// Never answered before: counted, not named.
			var wantNames []string
			if n := len(tt.wantMissing); n > 0 {
				wantNames = []string{fmt.Sprintf("others: %d", n)}
			}
			if !slices.Equal(s.MissingNames(others), wantNames) || s.Complete() != (len(tt.wantMissing) == 0) {
				t.Errorf("missing %v (complete %v), want %v", s.MissingNames(others), s.Complete(), wantNames)
			}
			for _, g := range gs {
				if c.asked[g.Chat] != 1 {
					t.Errorf("group %s asked %d times, want once", g.Title, c.asked[g.Chat])
				}
			}
			// Answers are cached, failures are not: the next scope asks only the failed groups.
			r.Scope(context.Background(), who, gs)
			for _, g := range gs {
				want := 1
				if slices.Contains(tt.wantMissing, g.Title) {
					want = 2
				}
				if c.asked[g.Chat] != want {
					t.Errorf("after a second scope, group %s asked %d times, want %d", g.Title, c.asked[g.Chat], want)
				}
			}
		})
	}
}

func TestResolverFailsClosed(t *testing.T) {
	c := &countingChecker{member: map[string]bool{"-1001": true}, err: errors.New("telegram down")}
	r := scope.NewResolver(c, time.Minute, nil, nil)
	s := r.Scope(context.Background(), scope.Who{Platform: events.Telegram, ID: "7"}, groups)
	if !s.Empty() || s.Complete() || !slices.Equal(s.MissingNames(others), []string{"others: 2"}) {
		t.Errorf("a platform error gave scope %v, missing %v", tokens(s), s.MissingNames(others))
	}
	if s := scope.NewResolver(nil, 0, nil, nil).Scope(context.Background(), scope.Who{Platform: events.Telegram, ID: "7"}, groups); !s.Empty() || !s.Complete() {
		t.Errorf("no checker gave scope %v", tokens(s))
	}
}

// TestUncheckedGroupNamedOnlyIfOnceTheirs: a group the platform cannot answer about is
// named to the organiser only if they were a member of it when last asked, even long after
// that answer's TTL; one they were never known in is only counted, and its title never shown.
func TestUncheckedGroupNamedOnlyIfOnceTheirs(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	c := &countingChecker{member: map[string]bool{"-1001": true}}
	r := scope.NewResolver(c, time.Minute, func() time.Time { return now }, nil)
	who := scope.Who{Platform: events.Telegram, ID: "7"}
	if s := r.Scope(context.Background(), who, groups); !s.Complete() || !s.Has("ga") {
		t.Fatalf("first scope %v, complete %v", tokens(s), s.Complete())
	}
	now = now.Add(24 * time.Hour) // far past the TTL: both are asked again, and fail
	c.err = errors.New("telegram down")
	s := r.Scope(context.Background(), who, groups)
	if got, want := s.MissingNames(others), []string{"A", "others: 1"}; !slices.Equal(got, want) {
		t.Errorf("missing %v, want %v", got, want)
	}
	if !s.MayName("ga") || s.MayName("gb") || s.Has("ga") {
		t.Errorf("may name A %v, B %v; has A %v", s.MayName("ga"), s.MayName("gb"), s.Has("ga"))
	}
}

// others says the count of groups not named, as the organisers' texts do.
func others(n int) string { return fmt.Sprintf("others: %d", n) }
