package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/relais-bot/relais/bridge"
)

// The organiser's upload (an export sent to the bot in private) is imported by the same
// path as relais import, with three differences this file owns: the file is held in memory
// only, the import is limited to the organiser's groups (Options.Scope), and the answer
// names the leaders found, so it waits for the bridge to have applied the import.

// ErrUploadTooLarge says an uploaded export is over the limit given to ReadUpload.
var ErrUploadTooLarge = errors.New("export too large to be sent to the bot")

// ReadUpload reads an uploaded export into memory, never onto disk, refusing one over max
// bytes (Telegram's Bot API gives bots files up to 20 MB).
func ReadUpload(r io.Reader, name string, max int64) (File, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, max+1))
	if err != nil {
		return File{}, fmt.Errorf("read upload: %w", err)
	}
	if n > max {
		return File{}, fmt.Errorf("%w: over %d bytes", ErrUploadTooLarge, max)
	}
	return File{Name: name, Data: bytes.NewReader(buf.Bytes()), Size: n}, nil
}

// Cards reads members' cards: bridge.Query does, with the consent gate applied (an objector
// is never named).
type Cards interface {
	GroupMembers(ctx context.Context, group string) ([]string, error)
	Cards(ctx context.Context, tokens []string) ([]bridge.MemberCard, error)
}

// UploadSummary is the answer to an organiser's upload.
type UploadSummary struct {
	Report
	// Applied says the bridge applied the import before the wait ran out; Leaders is only
	// complete when it did.
	Applied bool
	// Leaders are the cards of each imported group's leaders (by group token), most people
	// first.
	Leaders map[string][]bridge.MemberCard
}

// Upload imports one uploaded export within opt.Scope, waits up to wait for the bridge to
// apply it, and names the leaders of each group it imported into (those with leaderTag, the
// deployment's prefix + bridge.TagLeader).
func (im *Importer) Upload(ctx context.Context, f File, opt Options, cards Cards, leaderTag string, wait time.Duration) (UploadSummary, error) {
	rep, err := im.Import(ctx, []File{f}, opt)
	sum := UploadSummary{Report: rep}
	if err != nil {
		return sum, err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	sum.Applied = im.WaitApplied(wctx, rep) == nil
	sum.Leaders = map[string][]bridge.MemberCard{}
	for _, g := range rep.Groups {
		tokens, err := cards.GroupMembers(ctx, g.Token)
		if err != nil {
			return sum, fmt.Errorf("leaders: %w", err)
		}
		cs, err := cards.Cards(ctx, tokens)
		if err != nil {
			return sum, fmt.Errorf("leaders: %w", err)
		}
		var leaders []bridge.MemberCard
		for _, c := range cs {
			if slices.Contains(c.Tags, leaderTag) {
				leaders = append(leaders, c)
			}
		}
		slices.SortStableFunc(leaders, func(a, b bridge.MemberCard) int { return b.People - a.People })
		sum.Leaders[g.Token] = leaders
	}
	return sum, nil
}

// WaitApplied waits until the bridge has applied an import and settled its members: the
// bridge consumer acked its end marker, or recorded the import as applied in every group it
// imported into (an upload answered off the bridge's batch loop holds its own command
// unacked meanwhile, so the ack floor cannot pass the end marker before it answers). An
// import that published nothing is applied.
func (im *Importer) WaitApplied(ctx context.Context, rep Report) error {
	if rep.EndSeq == 0 {
		return nil
	}
	n := im.Pub.Names()
	rec := Records{JS: im.JS, Names: n}
	for {
		cons, err := im.JS.Consumer(ctx, n.EventsStream(), n.BridgeConsumer())
		if err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.AckFloor.Stream >= rep.EndSeq {
				return nil
			}
		}
		if im.recorded(ctx, rec, rep) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the bridge: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// recorded says whether every group the import brought events into records it as applied.
func (im *Importer) recorded(ctx context.Context, rec Records, rep Report) bool {
	found := false
	for _, g := range rep.Groups {
		if g.Published == 0 {
			continue
		}
		ok, err := rec.applied(ctx, g.Platform, g.Token, rep.ID)
		if err != nil || !ok {
			return false
		}
		found = true
	}
	return found
}
