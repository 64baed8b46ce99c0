// Package tgtest is an in-process fake of the Telegram Bot API, close enough to the real one
// that the real tgbotapi client talks to it unchanged through TELEGRAM_API_ENDPOINT: form
// encoded POSTs to /bot<token>/<method>, the {"ok":..,"result":..} envelope, and the 401, 409,
// 429 and 400-migration errors as Telegram sends them. getUpdates keeps every update until an
// offset confirms it, so a poller that dies before confirming sees its updates again.
//
// allowed_updates is recorded (AllowedUpdates) but does not filter what the fake returns.
//
// Tests use New(t); the demo uses NewServer() and Close().
package tgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the token the fake accepts unless WithToken says otherwise. It has the
// shape of a real token so redaction code sees what it would see in production.
const DefaultToken = "123456789:AAFakeTokenForRelaisTests_0123456789ab"

// defaultBot is the bot getMe describes unless WithBot says otherwise.
var defaultBot = User{ID: 123456789, IsBot: true, FirstName: "Relais", Username: "relais_test_bot"}

// User is a Telegram user as the Bot API serialises it.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Chat is a Telegram chat as the Bot API serialises it.
type Chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"` // private, group, supergroup, channel
	Title     string `json:"title,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Group returns a basic group chat.
func Group(id int64, title string) Chat { return Chat{ID: id, Type: "group", Title: title} }

// Supergroup returns a supergroup chat (ids start with -100).
func Supergroup(id int64, title string) Chat { return Chat{ID: id, Type: "supergroup", Title: title} }

// Channel returns a channel chat.
func Channel(id int64, title string) Chat { return Chat{ID: id, Type: "channel", Title: title} }

// Private returns the private chat between the bot and u.
func Private(u User) Chat {
	return Chat{ID: u.ID, Type: "private", FirstName: u.FirstName, Username: u.Username}
}

// Entity is a message entity. Offset and Length count UTF-16 code units, as in Telegram.
type Entity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	User   *User  `json:"user,omitempty"`
}

// EntityOf returns an entity of type typ covering the first occurrence of part in text, with
// UTF-16 offsets. It returns a zero-length entity when part is absent.
func EntityOf(text, part, typ string) Entity {
	i := strings.Index(text, part)
	if i < 0 {
		return Entity{Type: typ}
	}
	return Entity{Type: typ, Offset: utf16Len(text[:i]), Length: utf16Len(part)}
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// Message describes a message to queue. Only Chat is required.
type Message struct {
	Chat       Chat
	From       *User
	SenderChat *Chat
	Text       string
	Caption    string
	Entities   []Entity // for Text, or for Caption when Text is empty
	ReplyTo    int      // message id in the same chat
	// Photo marks a media message (with Caption, or none).
	Photo bool
	// Contact is a shared contact (phone and the user it belongs to).
	Contact *Contact
	// ThreadID and TopicMessage place the message in a forum topic.
	ThreadID     int
	TopicMessage bool
	// Extra fields merged into the message object as they are, for shapes the helpers lack.
	Extra map[string]any
}

// Contact is a shared phone contact.
type Contact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	UserID      int64  `json:"user_id,omitempty"`
}

// APIError is an error the fake answers, shaped as Telegram's.
type APIError struct {
	Code        int
	Description string
	RetryAfter  int   // seconds, for 429
	MigrateTo   int64 // for 400 on a migrated group
}

// Errors Telegram sends, for InjectError.
func TooManyRequests(retryAfter int) APIError {
	return APIError{Code: 429, Description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter), RetryAfter: retryAfter}
}
func Conflict() APIError {
	return APIError{Code: 409, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
}
func Unauthorized() APIError { return APIError{Code: 401, Description: "Unauthorized"} }
func InternalError() APIError {
	return APIError{Code: 500, Description: "Internal Server Error"}
}
func Forbidden(desc string) APIError { return APIError{Code: 403, Description: "Forbidden: " + desc} }

// Sent is a message the bot sent through sendMessage.
type Sent struct {
	At          time.Time // when the fake received it
	ChatID      int64
	Text        string
	ReplyTo     int
	ReplyMarkup json.RawMessage // nil when none
}

// Webhook is what the bot registered with setWebhook.
type Webhook struct {
	URL            string
	SecretToken    string
	AllowedUpdates []string
}

type queued struct {
	id        int
	raw       []byte
	delivered bool
}

type storedMsg struct {
	chat Chat
	from *User
	date int64
}

// Server is the fake Bot API.
type Server struct {
	srv   *httptest.Server
	token string
	bot   User

	mu            sync.Mutex
	wake          chan struct{} // closed and replaced when an update is queued
	queue         []queued
	nextUpdate    int
	nextMsg       map[int64]int
	messages      map[[2]int64]storedMsg
	clock         int64
	confirmed     int // highest offset that confirmed something
	allowed       []string
	webhook       *Webhook
	failures      map[string][]APIError
	sent          []Sent
	migrated      map[int64]int64
	forbidden     map[int64]string
	calls         map[string]int
	callTimes     map[string][]time.Time
	onConfirm     func(offset int)
	pollGen       int
	lastGetParams map[string]string
	sendDelay     time.Duration
	failTo        map[int64][]APIError
	refusals      []Refusal
	nextCallback  int
	answered      []string // callback query ids answered
	// members is each (chat, user)'s status as getChatMember reports it, learnt from what the
	// fake queued (a message, a join, a leave, a chat_member update) or set by SetMember.
	members    map[[2]int64]memberState
	memberFail map[int64]APIError // getChatMember's error per chat, until healed (members.go)
	photos     []Photo
	documents  []Document
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes the fake accept only token.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// WithBot sets the user getMe returns.
func WithBot(u User) Option { return func(s *Server) { s.bot = u } }

// WithStart dates the first update at t (default: 2023-11-14, fixed so tests are stable).
func WithStart(t time.Time) Option { return func(s *Server) { s.clock = t.Unix() } }

// New starts a fake for a test and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake outside tests. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		token:      DefaultToken,
		bot:        defaultBot,
		wake:       make(chan struct{}),
		nextUpdate: 1,
		nextMsg:    map[int64]int{},
		messages:   map[[2]int64]storedMsg{},
		clock:      1_700_000_000,
		failures:   map[string][]APIError{},
		migrated:   map[int64]int64{},
		forbidden:  map[int64]string{},
		calls:      map[string]int{},
		callTimes:  map[string][]time.Time{},
		members:    map[[2]int64]memberState{},
	}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server, ending any long poll in flight.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Endpoint is the API endpoint format (TELEGRAM_API_ENDPOINT) for tgbotapi.
func (s *Server) Endpoint() string { return s.srv.URL + "/bot%s/%s" }

// Token is the token the fake accepts.
func (s *Server) Token() string { return s.token }

// Bot is the bot's own user.
func (s *Server) Bot() User { return s.bot }

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// InjectError makes the next call of method fail with e (queued: inject twice to fail twice).
func (s *Server) InjectError(method string, e APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], e)
}

// Forbid makes sendMessage to chat fail with 403 and desc (e.g. "bot was blocked by the user").
func (s *Server) Forbid(chat int64, desc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden[chat] = desc
}

// OnConfirm calls f, under no lock, each time a getUpdates offset confirms updates.
func (s *Server) OnConfirm(f func(offset int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onConfirm = f
}

// SetNextUpdateID makes the next update take id n, as Telegram does after a quiet week.
func (s *Server) SetNextUpdateID(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextUpdate = n
}

// Sent returns what the bot sent, in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Pending is how many updates wait for confirmation.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Confirmed is the highest offset that confirmed updates so far (0 when none).
func (s *Server) Confirmed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.confirmed
}

// Calls is how many times method was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// CallTimes is when method was called, in order.
func (s *Server) CallTimes(method string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.callTimes[method]...)
}

// AllowedUpdates is the allowed_updates list of the last getUpdates or setWebhook.
func (s *Server) AllowedUpdates() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.allowed...)
}

// LastGetUpdates returns the form of the last getUpdates call.
func (s *Server) LastGetUpdates() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.lastGetParams {
		out[k] = v
	}
	return out
}

// Webhook returns the registered webhook, or nil.
func (s *Server) Webhook() *Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webhook == nil {
		return nil
	}
	w := *s.webhook
	return &w
}

// ---- queueing updates ----

// Push queues a raw update object (without update_id, which the fake assigns) and returns
// its update id.
func (s *Server) Push(update map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushLocked(update)
}

// PushRaw queues raw bytes as they are, for malformed updates. It returns the id it counted.
func (s *Server) PushRaw(raw []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextUpdate
	s.nextUpdate++
	s.queue = append(s.queue, queued{id: id, raw: append([]byte(nil), raw...)})
	s.wakeLocked()
	return id
}

func (s *Server) pushLocked(update map[string]any) int {
	id := s.nextUpdate
	s.nextUpdate++
	update["update_id"] = id
	raw, err := json.Marshal(update)
	if err != nil {
		// Only a value JSON cannot represent (a func, a channel) gets here: a bug in the
		// calling test, not input from outside.
		panic(fmt.Sprintf("tgtest: update does not marshal: %v", err))
	}
	s.queue = append(s.queue, queued{id: id, raw: raw})
	s.wakeLocked()
	return id
}

func (s *Server) wakeLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// SetTime sets the date of the next update: a conversation can span weeks in a moment.
// Dates never go backwards, since Telegram's don't.
func (s *Server) SetTime(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = max(s.clock, t.Unix())
}

func (s *Server) tickLocked() int64 {
	s.clock += 7
	return s.clock
}

// UpdateJSON returns the raw JSON of a queued update, or nil.
func (s *Server) UpdateJSON(id int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queue {
		if q.id == id {
			return append([]byte(nil), q.raw...)
		}
	}
	return nil
}

// LastUpdate returns the raw JSON of the most recently queued update still held, or nil.
func (s *Server) LastUpdate() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil
	}
	return append([]byte(nil), s.queue[len(s.queue)-1].raw...)
}

// Send queues a new message and returns its message id.
func (s *Server) Send(m Message) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, obj := s.messageLocked(m)
	s.pushLocked(map[string]any{"message": obj})
	return id
}

// Text queues a plain text message from a user and returns its message id.
func (s *Server) Text(chat Chat, from User, text string) int {
	return s.Send(Message{Chat: chat, From: &from, Text: text})
}

// Reply queues a text reply to message to and returns its message id.
func (s *Server) Reply(chat Chat, from User, to int, text string) int {
	return s.Send(Message{Chat: chat, From: &from, Text: text, ReplyTo: to})
}

// Edit queues an edited_message for an earlier message, with new text.
func (s *Server) Edit(chat Chat, messageID int, text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.messages[[2]int64{chat.ID, int64(messageID)}]
	obj := map[string]any{
		"message_id": messageID, "chat": chat, "date": st.date, "edit_date": s.tickLocked(), "text": text,
	}
	if st.from != nil {
		obj["from"] = st.from
	}
	return s.pushLocked(map[string]any{"edited_message": obj})
}

// Join queues a new_chat_members service message: users joined, added by from (or by
// themselves when from is nil).
func (s *Server) Join(chat Chat, from *User, users ...User) int {
	if from == nil && len(users) > 0 {
		from = &users[0]
	}
	return s.Send(Message{Chat: chat, From: from, Extra: map[string]any{"new_chat_members": users}})
}

// Leave queues a left_chat_member service message.
func (s *Server) Leave(chat Chat, user User) int {
	return s.Send(Message{Chat: chat, From: &user, Extra: map[string]any{"left_chat_member": user}})
}

// ChatMember queues a chat_member update: user's status went from old to new (member, left,
// kicked, administrator, creator, restricted).
func (s *Server) ChatMember(chat Chat, user User, oldStatus, newStatus string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[[2]int64{chat.ID, user.ID}] = memberState{user: user, status: newStatus}
	return s.pushLocked(map[string]any{"chat_member": s.memberUpdateLocked(chat, user, user, oldStatus, newStatus)})
}

// MyChatMember queues a my_chat_member update about the bot itself, changed by from.
func (s *Server) MyChatMember(chat Chat, from User, oldStatus, newStatus string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushLocked(map[string]any{"my_chat_member": s.memberUpdateLocked(chat, from, s.bot, oldStatus, newStatus)})
}

func (s *Server) memberUpdateLocked(chat Chat, from, user User, oldStatus, newStatus string) map[string]any {
	return map[string]any{
		"chat": chat, "from": from, "date": s.tickLocked(),
		"old_chat_member": map[string]any{"user": user, "status": oldStatus},
		"new_chat_member": map[string]any{"user": user, "status": newStatus},
	}
}

// Reaction queues a message_reaction update: user now reacts with emoji (none: removed).
func (s *Server) Reaction(chat Chat, user User, messageID int, emoji ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	newR := []map[string]any{}
	for _, e := range emoji {
		newR = append(newR, map[string]any{"type": "emoji", "emoji": e})
	}
	return s.pushLocked(map[string]any{"message_reaction": map[string]any{
		"chat": chat, "message_id": messageID, "user": user, "date": s.tickLocked(),
		"old_reaction": []any{}, "new_reaction": newR,
	}})
}

// Migrate upgrades a basic group to a supergroup as Telegram does: a migrate_to_chat_id
// message in the old chat, a migrate_from_chat_id message in the new one, and sends to the
// old id fail with 400 from now on. It returns the new chat.
func (s *Server) Migrate(old Chat, newID int64, by User) Chat {
	nc := Supergroup(newID, old.Title)
	s.Send(Message{Chat: old, From: &by, Extra: map[string]any{"migrate_to_chat_id": newID}})
	s.Send(Message{Chat: nc, From: &by, Extra: map[string]any{"migrate_from_chat_id": old.ID}})
	s.mu.Lock()
	s.migrated[old.ID] = newID
	s.mu.Unlock()
	return nc
}

// ShareContact queues a private message in which from shares a contact.
func (s *Server) ShareContact(from User, phone string, contactUserID int64) int {
	return s.Send(Message{Chat: Private(from), From: &from, Contact: &Contact{PhoneNumber: phone, FirstName: from.FirstName, UserID: contactUserID}})
}

func (s *Server) messageLocked(m Message) (int, map[string]any) {
	s.nextMsg[m.Chat.ID]++
	id := s.nextMsg[m.Chat.ID]
	date := s.tickLocked()
	obj := map[string]any{"message_id": id, "chat": m.Chat, "date": date}
	if m.From != nil {
		obj["from"] = m.From
	}
	if m.SenderChat != nil {
		obj["sender_chat"] = m.SenderChat
	}
	if m.Text != "" {
		obj["text"] = m.Text
		if len(m.Entities) > 0 {
			obj["entities"] = m.Entities
		}
	}
	if m.Caption != "" {
		obj["caption"] = m.Caption
		if len(m.Entities) > 0 && m.Text == "" {
			obj["caption_entities"] = m.Entities
		}
	}
	if m.Photo {
		obj["photo"] = []map[string]any{{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}}
	}
	if m.Contact != nil {
		obj["contact"] = m.Contact
	}
	if m.ThreadID != 0 {
		obj["message_thread_id"] = m.ThreadID
	}
	if m.TopicMessage {
		obj["is_topic_message"] = true
	}
	if m.ReplyTo != 0 {
		if st, ok := s.messages[[2]int64{m.Chat.ID, int64(m.ReplyTo)}]; ok {
			r := map[string]any{"message_id": m.ReplyTo, "chat": st.chat, "date": st.date}
			if st.from != nil {
				r["from"] = st.from
			}
			obj["reply_to_message"] = r
		} else {
			obj["reply_to_message"] = map[string]any{"message_id": m.ReplyTo, "chat": m.Chat, "date": date}
		}
	}
	for k, v := range m.Extra {
		obj[k] = v
	}
	s.messages[[2]int64{m.Chat.ID, int64(id)}] = storedMsg{chat: m.Chat, from: m.From, date: date}
	s.learnLocked(m)
	return id, obj
}

// ---- HTTP ----

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" {
		writeError(w, APIError{Code: 404, Description: "Not Found"})
		return
	}
	if token != s.token {
		writeError(w, Unauthorized())
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse multipart form"})
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse form"})
		return
	}
	form := map[string]string{}
	for k, v := range r.PostForm {
		if len(v) > 0 {
			form[k] = v[0]
		}
	}
	s.mu.Lock()
	s.calls[method]++
	s.callTimes[method] = append(s.callTimes[method], time.Now())
	if q := s.failures[method]; len(q) > 0 {
		e := q[0]
		s.failures[method] = q[1:]
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	s.mu.Unlock()
	switch method {
	case "getMe":
		writeResult(w, s.bot)
	case "getUpdates":
		s.getUpdates(w, r, form)
	case "setWebhook":
		s.setWebhook(w, form)
	case "deleteWebhook":
		s.mu.Lock()
		s.webhook = nil
		s.mu.Unlock()
		writeResult(w, true)
	case "getWebhookInfo":
		s.mu.Lock()
		info := map[string]any{"url": "", "has_custom_certificate": false, "pending_update_count": len(s.queue)}
		if s.webhook != nil {
			info["url"] = s.webhook.URL
		}
		s.mu.Unlock()
		writeResult(w, info)
	case "sendMessage":
		s.sendMessage(w, form)
	case "answerCallbackQuery":
		s.mu.Lock()
		if form["callback_query_id"] == "" {
			s.mu.Unlock()
			writeError(w, APIError{Code: 400, Description: "Bad Request: query is too old and response timeout expired or query ID is invalid"})
			return
		}
		s.answered = append(s.answered, form["callback_query_id"])
		s.mu.Unlock()
		writeResult(w, true)
	case "getChatMember":
		s.getChatMember(w, form)
	case "sendPhoto":
		s.sendPhoto(w, r, form)
	case "sendDocument":
		s.sendDocument(w, r, form)
	default:
		writeError(w, APIError{Code: 404, Description: "Not Found: method not found"})
	}
}

func (s *Server) setWebhook(w http.ResponseWriter, form map[string]string) {
	wh := &Webhook{URL: form["url"], SecretToken: form["secret_token"]}
	if a := form["allowed_updates"]; a != "" {
		if err := json.Unmarshal([]byte(a), &wh.AllowedUpdates); err != nil {
			writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse allowed updates"})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if wh.URL == "" {
		s.webhook = nil
	} else {
		s.webhook = wh
		s.allowed = wh.AllowedUpdates
	}
	writeResult(w, true)
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, form map[string]string) {
	offset, _ := strconv.Atoi(form["offset"])
	limit, _ := strconv.Atoi(form["limit"])
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, _ := strconv.Atoi(form["timeout"])
	var allowed []string
	if a, ok := form["allowed_updates"]; ok {
		if err := json.Unmarshal([]byte(a), &allowed); err != nil {
			writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse allowed updates"})
			return
		}
	}

	s.mu.Lock()
	s.lastGetParams = form
	if s.webhook != nil {
		s.mu.Unlock()
		writeError(w, APIError{Code: 409, Description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"})
		return
	}
	if allowed != nil {
		s.allowed = allowed
	}
	s.pollGen++
	gen := s.pollGen
	s.wakeLocked() // an older long poll ends with 409, as on Telegram
	confirmed, hook := s.confirmLocked(offset)
	s.mu.Unlock()
	if confirmed && hook != nil {
		hook(offset)
	}

	deadline := time.After(time.Duration(timeout) * time.Second)
	for {
		s.mu.Lock()
		if s.pollGen != gen {
			s.mu.Unlock()
			writeError(w, Conflict())
			return
		}
		batch := s.batchLocked(offset, limit)
		wake := s.wake
		s.mu.Unlock()
		if len(batch) > 0 || timeout <= 0 {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":true,"result":[%s]}`, strings.Join(batch, ","))
			return
		}
		select {
		case <-wake:
		case <-deadline:
			writeResult(w, []any{})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// confirmLocked applies an offset. Telegram confirms by its own order of updates, not by
// comparing numbers (ids are random after a quiet week), so the fake drops the queue up to
// the update whose id is offset-1; failing that, every delivered update below offset. A
// negative offset keeps only the last -offset updates.
func (s *Server) confirmLocked(offset int) (bool, func(int)) {
	if offset == 0 || len(s.queue) == 0 {
		return false, nil
	}
	before := len(s.queue)
	if offset < 0 {
		if keep := -offset; keep < len(s.queue) {
			s.queue = append([]queued(nil), s.queue[len(s.queue)-keep:]...)
		}
		return len(s.queue) != before, s.onConfirm
	}
	cut := -1
	for i, q := range s.queue {
		if q.id == offset-1 {
			cut = i
		}
	}
	if cut >= 0 {
		s.queue = append([]queued(nil), s.queue[cut+1:]...)
	} else {
		kept := s.queue[:0:0]
		for _, q := range s.queue {
			if !(q.delivered && q.id < offset) {
				kept = append(kept, q)
			}
		}
		s.queue = kept
	}
	if len(s.queue) == before {
		return false, nil
	}
	s.confirmed = max(s.confirmed, offset)
	return true, s.onConfirm
}

// batchLocked returns up to limit updates, in queue order. With a positive offset an update
// is returned if it was never delivered or its id is at least offset.
func (s *Server) batchLocked(offset, limit int) []string {
	var out []string
	for i := range s.queue {
		if len(out) == limit {
			break
		}
		q := &s.queue[i]
		if offset > 0 && q.delivered && q.id < offset {
			continue
		}
		q.delivered = true
		out = append(out, string(q.raw))
	}
	return out
}

func (s *Server) sendMessage(w http.ResponseWriter, form map[string]string) {
	chatID, err := strconv.ParseInt(form["chat_id"], 10, 64)
	if err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: chat not found"})
		return
	}
	if form["text"] == "" {
		writeError(w, APIError{Code: 400, Description: "Bad Request: message text is empty"})
		return
	}
	replyTo, _ := strconv.Atoi(form["reply_to_message_id"])
	s.mu.Lock()
	defer s.mu.Unlock()
	if to, ok := s.migrated[chatID]; ok {
		writeError(w, APIError{Code: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateTo: to})
		return
	}
	if desc, ok := s.forbidden[chatID]; ok {
		writeError(w, Forbidden(desc))
		return
	}
	if q := s.failTo[chatID]; len(q) > 0 {
		s.failTo[chatID] = q[1:]
		s.refusals = append(s.refusals, Refusal{At: time.Now(), ChatID: chatID, Error: q[0]})
		writeError(w, q[0])
		return
	}
	sent := Sent{At: time.Now(), ChatID: chatID, Text: form["text"], ReplyTo: replyTo}
	if rm := form["reply_markup"]; rm != "" {
		if !json.Valid([]byte(rm)) {
			writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse reply keyboard markup JSON object"})
			return
		}
		sent.ReplyMarkup = json.RawMessage(rm)
	}
	s.sent = append(s.sent, sent)
	s.nextMsg[chatID]++
	if d := s.sendDelay; d > 0 {
		// The message is delivered; only the answer is late (a slow network).
		s.mu.Unlock()
		time.Sleep(d)
		s.mu.Lock()
	}
	writeResult(w, map[string]any{
		"message_id": s.nextMsg[chatID], "date": s.tickLocked(), "text": sent.Text,
		"from": s.bot, "chat": map[string]any{"id": chatID, "type": chatType(chatID)},
	})
}

func chatType(id int64) string {
	if id > 0 {
		return "private"
	}
	if id < -1_000_000_000_000 {
		return "supergroup"
	}
	return "group"
}

// DeliverWebhook posts queued updates to the registered webhook with its secret, as
// Telegram does, one at a time, and removes each one the webhook accepts (2xx). It stops at
// the first refusal and returns how many were delivered.
func (s *Server) DeliverWebhook(ctx context.Context, client *http.Client) (int, error) {
	n := 0
	for {
		s.mu.Lock()
		wh := s.webhook
		if wh == nil {
			s.mu.Unlock()
			return n, fmt.Errorf("tgtest: no webhook set")
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return n, nil
		}
		q := s.queue[0]
		url, secret := wh.URL, wh.SecretToken
		s.mu.Unlock()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(q.raw)))
		if err != nil {
			return n, fmt.Errorf("tgtest: webhook request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		resp, err := client.Do(req)
		if err != nil {
			return n, fmt.Errorf("tgtest: webhook: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return n, fmt.Errorf("tgtest: webhook answered %d", resp.StatusCode)
		}
		s.mu.Lock()
		if len(s.queue) > 0 && s.queue[0].id == q.id {
			s.queue = s.queue[1:]
		}
		s.mu.Unlock()
		n++
	}
}

func writeResult(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": v})
}

func writeError(w http.ResponseWriter, e APIError) {
	body := map[string]any{"ok": false, "error_code": e.Code, "description": e.Description}
	params := map[string]any{}
	if e.RetryAfter > 0 {
		params["retry_after"] = e.RetryAfter
	}
	if e.MigrateTo != 0 {
		params["migrate_to_chat_id"] = e.MigrateTo
	}
	if len(params) > 0 {
		body["parameters"] = params
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code)
	_ = json.NewEncoder(w).Encode(body)
}

// SetSendDelay makes every sendMessage answer d late, after the message was delivered: a
// bot killed meanwhile sent it without knowing.
func (s *Server) SetSendDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendDelay = d
}

// Press queues the press of an inline button: a callback_query from user on the bot's
// message messageID in their private chat, carrying data. It returns the query's id.
func (s *Server) Press(from User, messageID int, data string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextCallback++
	id := fmt.Sprintf("cb%d%06d", from.ID, s.nextCallback)
	s.pushLocked(map[string]any{"callback_query": map[string]any{
		"id": id, "from": from, "chat_instance": fmt.Sprint(from.ID), "data": data,
		"message": map[string]any{"message_id": messageID, "date": s.tickLocked(), "from": s.bot,
			"chat": Private(from), "text": "…"},
	}})
	return id
}

// AnsweredCallbacks are the callback query ids the bot answered, in order.
func (s *Server) AnsweredCallbacks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.answered...)
}

// InlineButtons reads the inline keyboard of a sent message: each button's text and
// callback data, in order.
func (m Sent) InlineButtons() (texts, data []string) {
	var markup struct {
		InlineKeyboard [][]struct {
			Text         string `json:"text"`
			CallbackData string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	if len(m.ReplyMarkup) == 0 || json.Unmarshal(m.ReplyMarkup, &markup) != nil {
		return nil, nil
	}
	for _, row := range markup.InlineKeyboard {
		for _, b := range row {
			texts = append(texts, b.Text)
			data = append(data, b.CallbackData)
		}
	}
	return texts, data
}

// Refusal is a sendMessage the fake refused on purpose (FailNextTo).
type Refusal struct {
	At     time.Time
	ChatID int64
	Error  APIError
}

// FailNextTo makes the next sendMessage to chat fail with e (queued, like InjectError).
func (s *Server) FailNextTo(chat int64, e APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failTo == nil {
		s.failTo = map[int64][]APIError{}
	}
	s.failTo[chat] = append(s.failTo[chat], e)
}

// Refusals are the sendMessage calls FailNextTo refused, in order.
func (s *Server) Refusals() []Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Refusal(nil), s.refusals...)
}
