package commands

import (
	"context"

	"github.com/relais-bot/relais/events"
)

// erasedPlatformID is the platform id to erase a token of the sender by: the sender's id or
// the event's alias when it is that token's, else the id the member's state or the event
// log holds for it. "" when nothing names the token any more: then only what the token
// itself selects is erased.
func (h *Handler) erasedPlatformID(ctx context.Context, ev events.Event, tok string, stored string) (string, error) {
	// Each candidate must hash to the token: erasing by another person's id would strip
	// their references from everyone's events, and erasing a token by the wrong id of the
	// same person would leave the right one's references behind.
	for _, id := range []string{ev.Sender.ID, ev.Sender.Alias, stored} {
		if id != "" && h.hash.Member(ev.Platform, id) == tok {
			return id, nil
		}
	}
	id, err := events.LoggedPlatformID(ctx, h.js, h.names, tok)
	if err != nil || id == "" || h.hash.Member(ev.Platform, id) != tok {
		return "", err
	}
	return id, nil
}
