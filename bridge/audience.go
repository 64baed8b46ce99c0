package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// AudienceTags says which members of the chosen groups a campaign is for.
type AudienceTags struct{ Leaders, Actives bool }

// ContactLedger is what the campaign store knows of a member, for the gate.
type ContactLedger interface {
	// Reachable: the platform lets relais write to them privately (they opened a private
	// chat with the bot, or wrote to it privately, and did not block it since).
	Reachable(ctx context.Context, member string) (bool, error)
	// ThisWeek is how many campaigns were queued to the member in the last 7 days.
	ThisWeek(ctx context.Context, member string) (int, error)
	// Objectors is how many members with the wanted tags objected while in one of groups
	// (tokens): an objection deletes the member's state, so they are counted where the
	// campaign store kept them, anonymously.
	Objectors(ctx context.Context, groups []string, want AudienceTags) (int, error)
}

// Candidate is one member of a campaign's audience, sorted by the consent gate.
type Candidate struct {
	// Token is empty for an objector counted anonymously (see ContactLedger.Objectors).
	Token      string
	Platform   events.Platform
	PlatformID string // the private chat to write to
	Reach      Reach
}

// Audience lists the members of groups (tokens; a migrated group's old token counts as the
// group) who carry the wanted tags, each with how the gate lets a campaign reach them. The
// groups are the ones the caller may address: scoping is the caller's.
func (q *Query) Audience(ctx context.Context, groups []string, want AudienceTags, ledger ContactLedger, perWeek int) ([]Candidate, error) {
	alias, err := q.rdb.HGetAll(ctx, q.keys.groupAlias()).Result()
	if err != nil {
		return nil, fmt.Errorf("audience: %w", err)
	}
	var tokens []string
	for _, g := range groups {
		tokens = append(tokens, g)
		for old, cur := range alias {
			if cur == g {
				tokens = append(tokens, old)
			}
		}
	}
	members, err := q.membersOf(ctx, tokens)
	if err != nil {
		return nil, fmt.Errorf("audience: %w", err)
	}
	hs := make([]*redis.SliceCmd, len(members))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			hs[i] = p.HMGet(ctx, q.keys.memberKeys(m)[0], "tags", "pid", "platform")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audience: %w", err)
	}
	g := newGate(q.consent)
	var out []Candidate
	for i, m := range members {
		v := hs[i].Val()
		str := func(j int) string { s, _ := v[j].(string); return s }
		bits := tagBits(asInt(str(0)))
		if !(want.Leaders && bits&bitLeader != 0) && !(want.Actives && bits&bitActive != 0) {
			continue
		}
		d, err := g.decide(ctx, m, "")
		if err != nil {
			return nil, err
		}
		c := Candidate{Token: m, Platform: events.Platform(str(2)), PlatformID: str(1)}
		reachable, week := false, 0
		if mayContact(d, 0, 1) { // the ledger is read only for members who may be contacted
			if reachable, err = ledger.Reachable(ctx, m); err != nil {
				return nil, err
			}
			if week, err = ledger.ThisWeek(ctx, m); err != nil {
				return nil, err
			}
		}
		c.Reach = contactClass(d, reachable && c.PlatformID != "" && c.Platform.Valid(), week, perWeek)
		out = append(out, c)
	}
	objectors, err := ledger.Objectors(ctx, tokens, want)
	if err != nil {
		return nil, fmt.Errorf("audience: %w", err)
	}
	for range objectors {
		out = append(out, Candidate{Reach: ReachObjected})
	}
	return out, nil
}

// Seat is where a member stands for campaigns: the groups they were seen in and the
// campaign tags they carry.
type Seat struct {
	Groups []string
	Tags   AudienceTags
}

// Seat reads a member's seat whatever their consent: an objection counts it, without the
// member, before their state is deleted.
func (q *Query) Seat(ctx context.Context, member string) (Seat, error) {
	k := q.keys.memberKeys(member)
	tags, err := q.rdb.HGet(ctx, k[0], "tags").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Seat{}, fmt.Errorf("seat: %w", err)
	}
	groups, err := q.rdb.HKeys(ctx, k[3]).Result()
	if err != nil {
		return Seat{}, fmt.Errorf("seat: %w", err)
	}
	slices.Sort(groups)
	bits := tagBits(asInt(tags))
	return Seat{Groups: groups, Tags: AudienceTags{Leaders: bits&bitLeader != 0, Actives: bits&bitActive != 0}}, nil
}

// GroupTokens lists every group's token (a migrated group once, under its new token).
func (q *Query) GroupTokens(ctx context.Context) ([]string, error) {
	gs, err := q.Groups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Token
	}
	return out, nil
}
