package commands

import (
	"context"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events"
)

// GroupStats and MemberCard are the bridge's read models.
type (
	GroupStats = bridge.GroupStats
	MemberCard = bridge.MemberCard
)

// Query answers organiser and member questions from the bridge's state. Group and member
// arguments are tokens; FindGroup and FindMembers search titles, names and usernames.
type Query interface {
	Groups(ctx context.Context) ([]GroupStats, error)
	Group(ctx context.Context, group string) (GroupStats, bool, error)
	FindGroup(ctx context.Context, title string) ([]GroupStats, error)
	TopActive(ctx context.Context, n int) ([]MemberCard, error)
	Leaders(ctx context.Context, n int) ([]MemberCard, error)
	Member(ctx context.Context, member string) (MemberCard, bool, error)
	// FindMembers keeps, before its bound, only the members keep keeps (nil: all).
	FindMembers(ctx context.Context, nameOrUsername string, keep func(MemberCard) bool) ([]MemberCard, error)
}

// MemberOps are the bridge's writes on one member.
type MemberOps interface {
	// Object deletes the member's activity state after an objection.
	Object(ctx context.Context, member string) error
	// Erase deletes everything the bridge's Redis holds about the member.
	Erase(ctx context.Context, member string) error
	// EraseContact asks the CRM worker to erase the contact (inCRM: the CRM held it when the
	// erasure was asked), telling the member through notify once the CRM confirmed.
	EraseContact(ctx context.Context, member string, inCRM bool, notify *events.Notify) error
	// Identity is what identifies the member on their platform, whatever their consent.
	Identity(ctx context.Context, member string) (bridge.MemberIdentity, error)
	// Resync re-evaluates the member's consent and tags and publishes their CRM state.
	Resync(ctx context.Context, member string) error
}

// SyncInfo is the state of the CRM sync, for /sync.
type SyncInfo struct {
	Pending                    int
	LastError                  string
	LastErrorAt, LastSuccessAt time.Time
}

// SyncReporter reports the CRM sync state.
type SyncReporter interface {
	SyncInfo(ctx context.Context) (SyncInfo, error)
}
