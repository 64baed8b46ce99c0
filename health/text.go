package health

import (
	"fmt"
	"strings"
	"time"
)

// Text is the chat message for a, in lang ("fr" unless "en"): what happened, since when, and
// on its end how long it lasted.
func (a Announcement) Text(lang string) string {
	en := lang == "en"
	var b strings.Builder
	switch {
	case a.Ending() && en:
		fmt.Fprintf(&b, "✅ Restored after %s: ", Duration(a.Ended.Sub(a.Started), lang))
	case a.Ending():
		fmt.Fprintf(&b, "✅ Rétabli après %s : ", Duration(a.Ended.Sub(a.Started), lang))
	default:
		b.WriteString("⚠️ ")
	}
	b.WriteString(a.Kind.Text(lang))
	if a.Detail != "" {
		fmt.Fprintf(&b, " (%s)", a.Detail)
	}
	if !a.Until.IsZero() && !a.Ending() {
		if en {
			fmt.Fprintf(&b, " Until %s.", stamp(a.Until))
		} else {
			fmt.Fprintf(&b, " Jusqu'au %s.", stamp(a.Until))
		}
	}
	if a.Late {
		if en {
			fmt.Fprintf(&b, "\nSent late: NATS was unreachable. Started %s", stamp(a.Started))
		} else {
			fmt.Fprintf(&b, "\nMessage tardif : NATS était injoignable. Début %s", stamp(a.Started))
		}
		if a.Ending() {
			if en {
				fmt.Fprintf(&b, ", ended %s", stamp(a.Ended))
			} else {
				fmt.Fprintf(&b, ", fin %s", stamp(a.Ended))
			}
		}
		b.WriteString(".")
	}
	return b.String()
}

// stamp writes t in UTC, to the minute: admins read it in chat.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// Duration writes d for people: "3 h 05 min", "12 min", "40 s".
func Duration(d time.Duration, lang string) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %02d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		if lang == "en" {
			return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
		}
		return fmt.Sprintf("%d jours", int(d/(24*time.Hour)))
	}
}
