package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/relais-bot/relais/events"
)

// Telegram's flood limits (Bot FAQ): about 20 messages a minute in one group, about one a
// second in one private chat, about 30 a second overall. relais stays a little under.
const (
	groupInterval   = 3 * time.Second
	privateInterval = time.Second
	privateBurst    = 3
	globalRate      = 25
	// globalBurst bounds what goes out at once after a quiet spell: in any one second at
	// most globalBurst + globalRate (29) messages, under Telegram's 30.
	globalBurst = 4
	// campaignRate paces campaign messages below the global rate, so answers to commands
	// still find room while a campaign goes out.
	campaignRate = 20
	// maxTrackedChats bounds the per-chat limiters kept in memory.
	maxTrackedChats = 10000
)

// ServeReplies sends the replies the bridge publishes on relais.reply.telegram until ctx
// ends. Replicas share one durable consumer.
//
// A reply can be personal (a member's /moi, an organiser's list of names), and the ack that
// removes it from the work queue leaves its bytes on disk: once sent (or dropped, or
// dead-lettered) it is securely deleted, then acked. See events.ErasingHandler for why that
// neither loses a reply nor sends it twice.
func (a *Adapter) ServeReplies(ctx context.Context) error {
	n := a.publisher.Names()
	cons, err := a.js.CreateOrUpdateConsumer(ctx, n.RepliesStream(),
		events.DurableConfig(n.ReplyConsumer(events.Telegram), n.ReplySubject(events.Telegram)))
	if err != nil {
		return fmt.Errorf("telegram replies: %w", err)
	}
	stream, err := a.js.Stream(ctx, n.RepliesStream())
	if err != nil {
		return fmt.Errorf("telegram replies: %w", err)
	}
	s := a.out
	settler := events.Settler{Pub: a.publisher, Log: a.log, BaseDelay: time.Second, MaxDelay: time.Minute}
	return events.Consume(ctx, cons, settler, events.ErasingHandler(stream, a.publisher, a.log, s.handle))
}

// sender holds the flood limits. A chat over its limit is retried later (NakWithDelay)
// rather than waited for, so one busy group never holds back the others.
type sender struct {
	a            *Adapter
	global       *rate.Limiter
	campaignPace *rate.Limiter // campaign messages, on top of global

	mu             sync.Mutex
	chats          map[int64]*chatLimit
	allPausedUntil time.Time // campaigns only: see pauseAll
}

type chatLimit struct {
	lim         *rate.Limiter
	pausedUntil time.Time
	used        time.Time
}

func newSender(a *Adapter) *sender {
	return &sender{a: a, global: rate.NewLimiter(globalRate, globalBurst), campaignPace: rate.NewLimiter(campaignRate, 1), chats: map[int64]*chatLimit{}}
}

// pauseAll holds every campaign message until d has passed: a 429 during a broadcast is
// Telegram's overall flood limit speaking, not one chat's.
func (s *sender) pauseAll(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until := time.Now().Add(d); until.After(s.allPausedUntil) {
		s.allPausedUntil = until
	}
}

// waitAll waits out a pauseAll.
func (s *sender) waitAll(ctx context.Context) error {
	s.mu.Lock()
	d := time.Until(s.allPausedUntil)
	s.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sender) handle(ctx context.Context, msg jetstream.Msg) error {
	r, err := events.DecodeReply(msg.Data())
	if err != nil {
		return err // a decode error is permanent: dead-lettered with its reason
	}
	if r.Platform != events.Telegram {
		return events.Permanent(fmt.Errorf("reply for platform %q", r.Platform))
	}
	chat, err := strconv.ParseInt(r.Chat, 10, 64)
	if err != nil || chat == 0 {
		return events.Permanent(errors.New("reply chat is not a telegram chat id"))
	}
	if r.Delete != "" {
		if err := s.a.deleteMessage(ctx, chat, r.Delete); err != nil {
			return err
		}
		if r.Text == "" {
			return nil
		}
	}
	err = s.send(ctx, chat, r)
	var api *tgbotapi.Error
	if !errors.As(err, &api) || api.Code != http.StatusForbidden {
		return err
	}
	// 403: the bot was removed from the group, or the member never started a private chat
	// with it. Nothing will change that soon: tell the fallback chat, or drop.
	if (r.Private || chat > 0) && r.FallbackChat != "" && r.FallbackText != "" {
		fb, perr := strconv.ParseInt(r.FallbackChat, 10, 64)
		if perr == nil && fb != chat {
			ferr := s.send(ctx, fb, events.Reply{Text: r.FallbackText})
			if !errors.As(ferr, &api) || api.Code != http.StatusForbidden {
				return ferr
			}
		}
	}
	s.a.log.Warn("telegram reply dropped: the bot cannot write to this chat",
		"chat", s.a.chatToken(chat), "reason", api.Message)
	return nil
}

// send sends one message to chat, following a group's migration to a supergroup.
func (s *sender) send(ctx context.Context, chat int64, r events.Reply) error {
	return s.sendGated(ctx, chat, r, nil)
}

// sendGated is send with a gate asked after every wait, right before each request: its
// error stops the send.
func (s *sender) sendGated(ctx context.Context, chat int64, r events.Reply, gate func(context.Context) error) error {
	chat = s.a.mapper.Migrated(chat)
	for range 2 { // a chat migrates once; the second try goes to the new id
		if d := s.reserve(chat); d > 0 {
			return events.RetryAfter(errors.New("chat flood limit"), d)
		}
		if err := s.global.Wait(ctx); err != nil {
			return err
		}
		if gate != nil {
			if err := gate(ctx); err != nil {
				return err
			}
		}
		err := s.a.sendMessage(ctx, chat, r)
		var api *tgbotapi.Error
		if !errors.As(err, &api) {
			return err // nil, or a transport error worth retrying
		}
		switch {
		case api.Code == http.StatusTooManyRequests:
			d := time.Duration(max(api.RetryAfter, 1)) * time.Second
			s.pause(chat, d)
			return events.RetryAfter(err, d)
		case api.Code == http.StatusBadRequest && api.MigrateToChatID != 0:
			s.a.mapper.rememberMigration(chat, api.MigrateToChatID, false)
			s.a.log.Info("telegram group migrated, resending", "chat", s.a.chatToken(chat), "to", s.a.chatToken(api.MigrateToChatID))
			chat = api.MigrateToChatID
			continue
		case api.Code == http.StatusForbidden:
			return err
		case api.Code >= 400 && api.Code < 500:
			return events.Permanent(err)
		}
		return err // 5xx: retry
	}
	return events.Permanent(errors.New("chat migrated more than once"))
}

// reserve takes a slot in chat's flood limit, or says how long until one is free.
func (s *sender) reserve(chat int64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	c, ok := s.chats[chat]
	if !ok {
		if len(s.chats) >= maxTrackedChats {
			s.pruneLocked(now)
		}
		c = &chatLimit{lim: rate.NewLimiter(rate.Every(groupInterval), 1)}
		if chat > 0 {
			c.lim = rate.NewLimiter(rate.Every(privateInterval), privateBurst)
		}
		s.chats[chat] = c
	}
	c.used = now
	if now.Before(c.pausedUntil) {
		return c.pausedUntil.Sub(now)
	}
	res := c.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

func (s *sender) pause(chat int64, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.chats[chat]; ok {
		c.pausedUntil = time.Now().Add(d)
	}
}

// pruneLocked forgets chats quiet for longer than any limit remembers.
func (s *sender) pruneLocked(now time.Time) {
	for id, c := range s.chats {
		if now.Sub(c.used) > time.Minute && now.After(c.pausedUntil) {
			delete(s.chats, id)
		}
	}
}

// sendMessage calls sendMessage. Parameters are built here rather than with the library's
// MessageConfig, which sends "entities=null" for a message without entities.
func (a *Adapter) sendMessage(ctx context.Context, chat int64, r events.Reply) error {
	if len(r.Photo) > 0 {
		return a.sendPhoto(ctx, chat, r)
	}
	if r.Attachment != nil {
		return a.sendDocument(ctx, chat, r)
	}
	params := tgbotapi.Params{"chat_id": strconv.FormatInt(chat, 10), "text": r.Text}
	if id, err := strconv.Atoi(r.InReplyTo); err == nil && id > 0 {
		params.AddNonZero("reply_to_message_id", id)
		params.AddBool("allow_sending_without_reply", true)
	}
	if r.AskPhone {
		if chat > 0 {
			markup := tgbotapi.ReplyKeyboardMarkup{
				Keyboard:        [][]tgbotapi.KeyboardButton{{tgbotapi.NewKeyboardButtonContact(a.phoneButton)}},
				ResizeKeyboard:  true,
				OneTimeKeyboard: true,
			}
			if err := params.AddInterface("reply_markup", markup); err != nil {
				return events.Permanent(fmt.Errorf("reply markup: %w", err))
			}
		} else {
			// Telegram only lets a private chat share a contact.
			a.log.Warn("telegram share-phone button asked for a group: sent without it", "chat", a.chatToken(chat))
		}
	}
	if len(r.Buttons) > 0 && !r.AskPhone {
		row := make([]tgbotapi.InlineKeyboardButton, len(r.Buttons))
		rows := make([][]tgbotapi.InlineKeyboardButton, len(r.Buttons))
		for i, b := range r.Buttons {
			row[i] = tgbotapi.NewInlineKeyboardButtonData(b.Text, b.Data)
			rows[i] = row[i : i+1] // one choice a line: the labels stay whole on a phone
		}
		if err := params.AddInterface("reply_markup", tgbotapi.InlineKeyboardMarkup{InlineKeyboard: rows}); err != nil {
			return events.Permanent(fmt.Errorf("reply markup: %w", err))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := a.request(ctx, "sendMessage", params)
	return err
}

// sendDocument uploads a reply's file (a member's own data) with its text as the caption.
func (a *Adapter) sendDocument(ctx context.Context, chat int64, r events.Reply) error {
	params := tgbotapi.Params{"chat_id": strconv.FormatInt(chat, 10), "caption": r.Text}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	files := []tgbotapi.RequestFile{{Name: "document", Data: tgbotapi.FileBytes{Name: r.Attachment.Name, Bytes: r.Attachment.Data}}}
	if _, err := a.api(ctx).UploadFiles("sendDocument", params, files); err != nil {
		return fmt.Errorf("sendDocument: %w", a.redact.err(err))
	}
	return nil
}

// sendPhoto uploads a reply's picture (a chart) with its text as the caption.
func (a *Adapter) sendPhoto(ctx context.Context, chat int64, r events.Reply) error {
	params := tgbotapi.Params{"chat_id": strconv.FormatInt(chat, 10), "caption": r.Text}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	files := []tgbotapi.RequestFile{{Name: "photo", Data: tgbotapi.FileBytes{Name: "chart.png", Bytes: r.Photo}}}
	if _, err := a.api(ctx).UploadFiles("sendPhoto", params, files); err != nil {
		return fmt.Errorf("sendPhoto: %w", a.redact.err(err))
	}
	return nil
}
