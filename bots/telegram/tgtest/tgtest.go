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
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the token the fake accepts unless WithToken says otherwise. It has the
// shape of a real token so redaction code sees what it would see in production.
const DefaultToken = "123456789:AAFakeTokenForRelaisTests_0123456789ab"

// defaultBot is the bot getMe describes unless WithBot says otherwise.
var defaultBot = User{ID: 123456789, IsBot: true, FirstName: "Relais", Username: "relais_test_bot"}

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
	files      map[string]storedFile // by file id (files.go)
	deleted    [][2]int64            // (chat, message) deleted
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
