package scope_test

import (
	"context"
	"errors"
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

func TestResolverFailsClosed(t *testing.T) {
	c := &countingChecker{member: map[string]bool{"-1001": true}, err: errors.New("telegram down")}
	r := scope.NewResolver(c, time.Minute, nil, nil)
	if s := r.Scope(context.Background(), scope.Who{Platform: events.Telegram, ID: "7"}, groups); !s.Empty() {
		t.Errorf("a platform error gave scope %v", tokens(s))
	}
	if c.asked > 4 {
		t.Errorf("a failing platform was asked %d times in one scope, want at most the questions in flight (4)", c.asked)
	}
	if s := scope.NewResolver(nil, 0, nil, nil).Scope(context.Background(), scope.Who{Platform: events.Telegram, ID: "7"}, groups); !s.Empty() {
		t.Errorf("no checker gave scope %v", tokens(s))
	}
}
