package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// tokenPattern matches anything shaped like a bot token (digits, colon, 30-odd URL-safe
// characters), so text is scrubbed even of a token this process was not given.
var tokenPattern = regexp.MustCompile(`[0-9]{3,}:[A-Za-z0-9_-]{20,}`)

const tokenMask = "<token>"

// redactor removes one bot token from text and errors. The library builds request URLs with
// the token in the path, and net/http quotes that URL in every transport error.
type redactor struct{ token string }

func (r redactor) text(s string) string {
	if r.token != "" {
		s = strings.ReplaceAll(s, r.token, tokenMask)
		if esc := url.PathEscape(r.token); esc != r.token {
			s = strings.ReplaceAll(s, esc, tokenMask)
		}
	}
	return tokenPattern.ReplaceAllString(s, tokenMask)
}

// err returns err with the token removed from its text. API errors (*tgbotapi.Error) carry
// Telegram's description only and pass through, so errors.As keeps working on them; context
// errors stay matchable with errors.Is.
func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	var api *tgbotapi.Error
	if errors.As(err, &api) {
		return err
	}
	return &redactedError{msg: r.text(err.Error()), ctx: contextCause(err)}
}

func contextCause(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}

// redactedError keeps only the scrubbed text of the original: unwrapping to the original
// would hand the token back to whoever prints the chain.
type redactedError struct {
	msg string
	ctx error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.ctx }

// libraryLogger is the tgbotapi package logger: the library logs request errors (which hold
// the token) through it.
type libraryLogger struct {
	log *slog.Logger
	r   redactor
}

func (l libraryLogger) Println(v ...any) {
	l.log.Warn("tgbotapi", "msg", l.r.text(strings.TrimSuffix(fmt.Sprintln(v...), "\n")))
}

func (l libraryLogger) Printf(format string, v ...any) {
	l.log.Warn("tgbotapi", "msg", l.r.text(fmt.Sprintf(format, v...)))
}

// installLibraryLogger sets the library's logger once per process. tgbotapi.SetLogger writes
// a package variable of the library; setting it from every adapter would race, and the
// pattern-based redaction does not depend on which adapter installed it.
var installLibraryLogger sync.Once

func setLibraryLogger(log *slog.Logger, r redactor) {
	installLibraryLogger.Do(func() {
		_ = tgbotapi.SetLogger(libraryLogger{log: log, r: r})
	})
}

// ctxClient gives the library's context-free requests a context, so a cancelled poll or
// send stops at once instead of waiting out a 50 s long poll.
type ctxClient struct {
	ctx  context.Context
	base tgbotapi.HTTPClient
}

func (c ctxClient) Do(req *http.Request) (*http.Response, error) {
	return c.base.Do(req.WithContext(c.ctx))
}
