package events

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// TEMPORARY until the erasure branch lands.
type ErasedMember struct {
	Token      string
	Platform   Platform
	PlatformID string
	Usernames  []string
	Names      []string
	Pseudonym  string
}

type EraseReport struct{}

func (EraseReport) String() string { return "" }

func EraseMember(ctx context.Context, js jetstream.JetStream, p *Publisher, who ErasedMember) (EraseReport, error) {
	_, err := PurgeMember(ctx, js, p.Names(), who.Token)
	return EraseReport{}, err
}
