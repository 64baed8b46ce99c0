package crm

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Error is a failed CRM call, classified. Message is the CRM's own text (the worker redacts
// the contact's name and phone from it before it reaches a log or a dead letter); it never
// holds the token.
type Error struct {
	Op         string // what relais was doing: "push signup", "Contact.save"
	Status     int    // HTTP status, 0 when no answer came
	Code       string // the CRM's error code, when it gives one
	Message    string
	Retryable  bool
	RetryAfter time.Duration // the CRM's Retry-After, 0 when it gave none
	Err        error         // the transport error, when no answer came
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsRetryable reports whether err is worth retrying. Anything that is not a classified
// permanent *Error is: an unknown failure must never lose a change.
func IsRetryable(err error) bool {
	if e, ok := AsError(err); ok {
		return e.Retryable
	}
	return true
}

// NetworkError classifies a call that got no answer: always retryable.
func NetworkError(op string, err error) *Error {
	return &Error{Op: op, Retryable: true, Err: err}
}

// Classify turns a non-2xx answer into an *Error; it returns nil for 2xx. code and message
// are what the caller parsed out of the CRM's error body ("" when none). Retryable: 408,
// 429, 5xx, and 401/403 (a revoked or mistyped credential is an outage the operator fixes,
// not a reason to drop the contact); everything else is the CRM rejecting what we sent.
func Classify(op string, resp *http.Response, code, message string) *Error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &Error{Op: op, Status: resp.StatusCode, Code: Clip(code, 64), Message: Clip(message, 300)}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500,
		s == http.StatusUnauthorized, s == http.StatusForbidden:
		e.Retryable = true
		e.RetryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if e.RetryAfter == 0 && (s == http.StatusUnauthorized || s == http.StatusForbidden) {
			e.RetryAfter = time.Minute // nothing changes until someone fixes the credential
		}
	}
	return e
}

// MaxRetryAfter caps what a CRM may ask: a broken header must not park a change for days.
const MaxRetryAfter = 10 * time.Minute

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date. ok is false when
// the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs != secs || secs < 0 { // NaN or negative
			return 0, false
		}
		if secs > MaxRetryAfter.Seconds() {
			return MaxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}

// Clip shortens s to at most n bytes without splitting a character, and flattens newlines,
// so a CRM's message fits a header and a log line.
func Clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
