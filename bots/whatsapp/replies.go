package whatsapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/relais-bot/relais/events"
)

// Sender sends one text message to a chat. id is the WhatsApp message id to use: derived
// from the reply's id, so a reply sent twice (redelivered after a crash) is one message.
type Sender interface {
	SendText(ctx context.Context, to types.JID, id types.MessageID, text string) error
}

// Recipients tells whether someone wrote first (in a group the bot is in, or to the bot).
type Recipients interface {
	WroteFirst(ctx context.Context, jid types.JID) (bool, error)
}

// Throttle bounds what relais sends: WhatsApp bans numbers that send much, to many, or the
// same text to many. Defaults (DefaultThrottle) stay far below what bridges report as risky.
type Throttle struct {
	PerChat      rate.Limit // messages per second to one chat
	PerChatBurst int
	Global       rate.Limit // messages per second in all
	GlobalBurst  int
	// MinJitter..MaxJitter is a random pause before every send, so answers never go out
	// in machine-regular bursts.
	MinJitter, MaxJitter time.Duration
	// MaxWait is the longest a reply waits in the handler for its turn; longer, it goes back
	// to the stream with that delay.
	MaxWait time.Duration
	// GroupEvery is the least time between two messages relais posts in one group (the
	// information notice): everything else is answered privately.
	GroupEvery time.Duration
	// Campaign bounds campaign messages in all, on top of Global: one call to action sent
	// to many is what WhatsApp watches most. CampaignHalt is how long campaigns stop at the
	// first sign of a ban (a rate limit or a reach-out timelock).
	Campaign     rate.Limit
	CampaignHalt time.Duration
}

// DefaultThrottle: 3 a minute per chat, 8 a minute in all, 1–4 s of jitter, one group
// message per group a day.
func DefaultThrottle() Throttle {
	return Throttle{
		PerChat: rate.Every(20 * time.Second), PerChatBurst: 3,
		Global: rate.Every(7500 * time.Millisecond), GlobalBurst: 4,
		MinJitter: time.Second, MaxJitter: 4 * time.Second,
		MaxWait:    30 * time.Second,
		GroupEvery: 24 * time.Hour,
		Campaign:   rate.Every(20 * time.Second), CampaignHalt: 6 * time.Hour,
	}
}

// Reply outcomes, the "outcome" label of relais_whatsapp_replies_total.
const (
	outcomeSent           = "sent"
	outcomeRefusedUnknown = "refused_not_written_first"
	outcomeRefusedGroup   = "refused_group"
	outcomeThrottled      = "throttled"
	outcomeFailed         = "failed"
)

// errThrottled asks the stream to redeliver a reply when its turn comes.
var errThrottled = errors.New("whatsapp: reply throttled")

// replier sends the bridge's replies, privately and slowly.
type replier struct {
	send  Sender
	known Recipients
	cfg   Throttle
	log   *slog.Logger
	// count records an outcome (metrics); nil: nothing. countCampaign is its campaign twin.
	count         func(outcome string)
	countCampaign func(outcome string)
	// now, sleep and jitter are the clock, injectable so tests do not wait for minutes.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(lo, hi time.Duration) time.Duration

	mu        sync.Mutex
	global    *rate.Limiter
	chats     map[types.JID]*rate.Limiter
	lastGroup map[types.JID]time.Time
	campaign  *rate.Limiter
	haltUntil time.Time // campaigns stopped after a sign of a ban
}

func newReplier(send Sender, known Recipients, cfg Throttle, log *slog.Logger) *replier {
	def := DefaultThrottle()
	if cfg.Campaign <= 0 {
		cfg.Campaign = def.Campaign
	}
	if cfg.CampaignHalt <= 0 {
		cfg.CampaignHalt = def.CampaignHalt
	}
	return &replier{
		send: send, known: known, cfg: cfg, log: log,
		now:       time.Now,
		sleep:     sleepCtx,
		jitter:    randomBetween,
		global:    rate.NewLimiter(cfg.Global, max(cfg.GlobalBurst, 1)),
		chats:     map[types.JID]*rate.Limiter{},
		lastGroup: map[types.JID]time.Time{},
		campaign:  rate.NewLimiter(cfg.Campaign, 1),
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func randomBetween(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}

// Handle sends one reply, or refuses it. Its error follows events.Settler: nil acks (sent,
// or refused by policy: retrying would not change the answer), Permanent dead-letters a reply
// that cannot mean anything on WhatsApp, RetryAfter puts it back until its turn.
//
// ServeReplies runs it inside events.ErasingHandler: a reply may be personal (a member's
// /moi, an organiser's list), and the work-queue ack would leave its bytes on disk, so once
// settled it is securely deleted, then acked. A redelivery after a failed delete skips the
// send; one after a crash sends again under the same message id (replyMessageID), which
// WhatsApp shows once.
func (r *replier) Handle(ctx context.Context, rep events.Reply) error {
	if rep.Platform != events.WhatsApp {
		return events.Permanent(fmt.Errorf("reply for platform %q", rep.Platform))
	}
	to, err := parseChat(rep.Chat)
	if err != nil {
		return events.Permanent(err)
	}
	text := rep.Text
	if to.Server == types.GroupServer {
		if rep.Private {
			return events.Permanent(errors.New("private reply addressed to a group"))
		}
	} else {
		ok, err := r.known.WroteFirst(ctx, to)
		if err != nil {
			return fmt.Errorf("reply recipient: %w", err)
		}
		if !ok {
			// Messaging someone who never wrote is what gets numbers banned. The fallback,
			// when the bridge gave one, is a message in the group they wrote from.
			fallback, ferr := parseChat(rep.FallbackChat)
			if rep.FallbackText == "" || ferr != nil || fallback.Server != types.GroupServer {
				r.refuse(outcomeRefusedUnknown, "whatsapp: reply refused: recipient never wrote first")
				return nil
			}
			to, text = fallback, rep.FallbackText
		}
	}
	if to.Server == types.GroupServer && !r.groupTurn(to) {
		r.refuse(outcomeRefusedGroup, "whatsapp: group message refused: relais already posted in this group recently")
		return nil
	}
	wait, release := r.reserve(to)
	if err := r.awaitTurn(ctx, wait, release); err != nil {
		return err
	}
	if err := r.deliver(ctx, to, rep, text); err != nil {
		r.record(outcomeFailed)
		return classifySendError(err)
	}
	if to.Server == types.GroupServer {
		r.mu.Lock()
		r.lastGroup[to] = r.now()
		r.mu.Unlock()
	}
	r.record(outcomeSent)
	return nil
}

// awaitTurn waits out a reserved turn and its jitter. A turn further off than MaxWait, or a
// wait cut short, gives the turn back; the first goes back to the stream for that long.
func (r *replier) awaitTurn(ctx context.Context, wait time.Duration, release func()) error {
	if wait > r.cfg.MaxWait {
		release()
		r.record(outcomeThrottled)
		return events.RetryAfter(errThrottled, wait)
	}
	if err := r.sleep(ctx, wait+r.jitter(r.cfg.MinJitter, r.cfg.MaxJitter)); err != nil {
		release()
		return err
	}
	return nil
}

// ImageSender sends a picture with a caption; a Sender without it sends the caption alone.
type ImageSender interface {
	SendImage(ctx context.Context, to types.JID, id types.MessageID, png []byte, caption string) error
}

// DocumentSender sends a file with a caption; a Sender without it sends the caption alone.
type DocumentSender interface {
	SendDocument(ctx context.Context, to types.JID, id types.MessageID, doc events.Attachment, caption string) error
}

// deliver sends a reply's text, or its picture or file with the text as caption when it has
// one and is going where it was addressed (a fallback gets the text only).
func (r *replier) deliver(ctx context.Context, to types.JID, rep events.Reply, text string) error {
	if ds, ok := r.send.(DocumentSender); ok && rep.Attachment != nil && text == rep.Text {
		return ds.SendDocument(ctx, to, replyMessageID(rep.ID), *rep.Attachment, text)
	}
	if img, ok := r.send.(ImageSender); ok && len(rep.Photo) > 0 && text == rep.Text {
		return img.SendImage(ctx, to, replyMessageID(rep.ID), rep.Photo, text)
	}
	return r.send.SendText(ctx, to, replyMessageID(rep.ID), text)
}

// groupTurn reports whether relais may post in group now.
func (r *replier) groupTurn(group types.JID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.lastGroup[group]
	return !ok || r.now().Sub(last) >= r.cfg.GroupEvery
}

// reserve takes a turn from the chat's and the global limiters; wait is how long until it
// comes, release gives it back when the reply will not be sent now.
func (r *replier) reserve(to types.JID) (wait time.Duration, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lim := r.chats[to]
	if lim == nil {
		lim = rate.NewLimiter(r.cfg.PerChat, max(r.cfg.PerChatBurst, 1))
		r.chats[to] = lim
	}
	now := r.now()
	rc, rg := lim.ReserveN(now, 1), r.global.ReserveN(now, 1)
	wait = max(rc.DelayFrom(now), rg.DelayFrom(now))
	return wait, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		rc.CancelAt(r.now())
		rg.CancelAt(r.now())
	}
}

func (r *replier) refuse(outcome, msg string) {
	r.log.Warn(msg)
	r.record(outcome)
}

func (r *replier) record(outcome string) {
	if r.count != nil {
		r.count(outcome)
	}
}

// parseChat reads a reply's chat: a member (LID or phone JID) or a group.
func parseChat(s string) (types.JID, error) {
	if s == "" {
		return types.EmptyJID, errors.New("empty chat")
	}
	j, err := types.ParseJID(s)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("chat is not a WhatsApp JID: %w", err)
	}
	j = j.ToNonAD()
	switch j.Server {
	case types.HiddenUserServer, types.DefaultUserServer, types.GroupServer:
		if j.User == "" {
			return types.EmptyJID, errors.New("chat JID without user")
		}
		return j, nil
	}
	return types.EmptyJID, fmt.Errorf("chat server %q is not a person or a group", j.Server)
}

// replyMessageID derives a WhatsApp message id (whatsmeow's "3EB0" + 18 hex form) from a
// reply id, so redelivering a reply resends the same message, which WhatsApp shows once.
func replyMessageID(replyID string) types.MessageID {
	sum := sha256.Sum256([]byte("relais-reply\x00" + replyID))
	return types.MessageID(whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(sum[:9])))
}

// classifySendError sorts a failed send: WhatsApp's rate limits (429, and 463 "reach-out
// timelock" for new contacts) wait long; a lost connection retries soon; the rest back off.
func classifySendError(err error) error {
	switch {
	case errors.Is(err, whatsmeow.ErrIQRateOverLimit),
		errors.Is(err, whatsmeow.ErrServerReturnedError) && (strings.HasSuffix(err.Error(), " 429") || strings.HasSuffix(err.Error(), " 463")):
		return events.RetryAfter(fmt.Errorf("whatsapp send rate-limited: %w", err), 5*time.Minute)
	case errors.Is(err, whatsmeow.ErrNotConnected), errors.Is(err, whatsmeow.ErrNotLoggedIn), errors.Is(err, whatsmeow.ErrMessageTimedOut):
		return events.RetryAfter(fmt.Errorf("whatsapp send: %w", err), 30*time.Second)
	case errors.Is(err, whatsmeow.ErrRecipientADJID), errors.Is(err, whatsmeow.ErrUnknownServer):
		return events.Permanent(fmt.Errorf("whatsapp send: %w", err))
	}
	return fmt.Errorf("whatsapp send: %w", err)
}

// clientSender sends through a whatsmeow client.
type clientSender struct{ cli *whatsmeow.Client }

func (s clientSender) SendText(ctx context.Context, to types.JID, id types.MessageID, text string) error {
	_, err := s.cli.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String(text)}, whatsmeow.SendRequestExtra{ID: id})
	return err
}

// SendDocument uploads a file (encrypted, as WhatsApp media are) and sends it as a document.
func (s clientSender) SendDocument(ctx context.Context, to types.JID, id types.MessageID, doc events.Attachment, caption string) error {
	up, err := s.cli.Upload(ctx, doc.Data, whatsmeow.MediaDocument)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	msg := &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
		URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
		Mimetype: proto.String(doc.Mime), FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256,
		FileLength: proto.Uint64(up.FileLength), FileName: proto.String(doc.Name), Title: proto.String(doc.Name),
		Caption: proto.String(caption),
	}}
	_, err = s.cli.SendMessage(ctx, to, msg, whatsmeow.SendRequestExtra{ID: id})
	return err
}

// SendImage uploads a PNG (encrypted, as WhatsApp media are) and sends it as an image.
func (s clientSender) SendImage(ctx context.Context, to types.JID, id types.MessageID, png []byte, caption string) error {
	up, err := s.cli.Upload(ctx, png, whatsmeow.MediaImage)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	msg := &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
		URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
		Mimetype: proto.String("image/png"), FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256,
		FileLength: proto.Uint64(up.FileLength), Caption: proto.String(caption),
	}}
	_, err = s.cli.SendMessage(ctx, to, msg, whatsmeow.SendRequestExtra{ID: id})
	return err
}
