package whatsapp

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	waLog "go.mau.fi/whatsmeow/util/log"
)

// waLogger hands whatsmeow's logs to slog. whatsmeow formats JIDs (phone numbers), push names
// and message ids into its lines, so only the format string survives as is: numbers,
// durations and errors are kept (errors with long digit runs masked), every other argument
// is replaced by "[…]". Nothing personal reaches the logs, and the line still says what
// happened.
type waLogger struct {
	log    *slog.Logger
	module string
}

func newWALogger(l *slog.Logger, module string) waLog.Logger {
	if l == nil {
		return waLog.Noop
	}
	return &waLogger{log: l, module: module}
}

func (w *waLogger) Errorf(msg string, args ...any) { w.emit(slog.LevelError, msg, args) }
func (w *waLogger) Warnf(msg string, args ...any)  { w.emit(slog.LevelWarn, msg, args) }

// whatsmeow's Info lines are routine (reconnects, syncs): debug for relais.
func (w *waLogger) Infof(msg string, args ...any)  { w.emit(slog.LevelDebug, msg, args) }
func (w *waLogger) Debugf(msg string, args ...any) { w.emit(slog.LevelDebug, msg, args) }

func (w *waLogger) Sub(module string) waLog.Logger {
	return &waLogger{log: w.log, module: w.module + "/" + module}
}

func (w *waLogger) emit(level slog.Level, msg string, args []any) {
	if !w.log.Enabled(context.Background(), level) {
		return
	}
	safe := make([]any, len(args))
	for i, a := range args {
		safe[i] = redacted{a}
	}
	w.log.Log(context.Background(), level, fmt.Sprintf(msg, safe...), "module", w.module)
}

// redacted formats one log argument without personal data.
type redacted struct{ v any }

// digitRuns are phone numbers, LIDs and group ids inside error texts.
var digitRuns = regexp.MustCompile(`\d{6,}`)

func (r redacted) Format(f fmt.State, verb rune) {
	switch v := r.v.(type) {
	case error:
		_, _ = f.Write([]byte(maskDigits(v.Error())))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, bool, time.Duration:
		_, _ = f.Write([]byte(maskDigits(fmt.Sprintf(fmt.FormatString(f, verb), v))))
	default:
		_, _ = f.Write([]byte("[…]"))
	}
}

func maskDigits(s string) string {
	return digitRuns.ReplaceAllStringFunc(s, func(string) string { return strings.Repeat("∙", 3) })
}
