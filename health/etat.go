package health

import (
	"fmt"
	"strings"
	"time"
)

// Snapshot is what /etat shows: gathered by the chat side from the adapters, the bridge's
// state, the CRM worker and Monitor.Open.
type Snapshot struct {
	At        time.Time
	Platforms []PlatformState
	Groups    []GroupState
	CRM       CRMState
	Incidents []Incident
}

// PlatformState is one platform's connection.
type PlatformState struct {
	Name  string // "WhatsApp", "Telegram"
	OK    bool
	State string // the adapter's own word: "connected", "logged_out", "polling"...
	Since time.Time
}

// GroupState is one group as relais sees it.
type GroupState struct {
	Label     string // what admins call the group (its title); shown to admins only
	Platform  string
	LastEvent time.Time // zero: none yet
	// What relais receives there.
	Messages, Reactions, Members bool
}

// CRMState is the CRM queue and its last outcome.
type CRMState struct {
	Configured  bool
	Pending     uint64
	LastError   string // redacted by the worker
	LastErrorAt time.Time
	LastSuccess time.Time
}

// RenderEtat writes the /etat screen in lang ("fr" unless "en").
func RenderEtat(s Snapshot, lang string) string {
	en := lang == "en"
	w := func(fr, eng string) string {
		if en {
			return eng
		}
		return fr
	}
	colon := w(" : ", ": ")
	ago := func(t time.Time) string {
		if t.IsZero() {
			return w("jamais", "never")
		}
		d := s.At.Sub(t)
		if d < time.Minute {
			return w("à l'instant", "just now")
		}
		return fmt.Sprintf(w("il y a %s", "%s ago"), Duration(d, lang))
	}
	mark := func(ok bool) string {
		if ok {
			return "✅"
		}
		return "❌"
	}
	var b strings.Builder
	b.WriteString(w("📋 État de relais\n", "📋 relais status\n"))

	b.WriteString(w("\nPlateformes\n", "\nPlatforms\n"))
	if len(s.Platforms) == 0 {
		b.WriteString(w("• aucune\n", "• none\n"))
	}
	for _, p := range s.Platforms {
		fmt.Fprintf(&b, "%s %s%s%s", mark(p.OK), p.Name, colon, p.State)
		if !p.Since.IsZero() {
			fmt.Fprintf(&b, w(" (depuis %s)", " (since %s)"), stamp(p.Since))
		}
		b.WriteString("\n")
	}

	b.WriteString(w("\nGroupes\n", "\nGroups\n"))
	if len(s.Groups) == 0 {
		b.WriteString(w("• aucun\n", "• none\n"))
	}
	for _, g := range s.Groups {
		var sees []string
		for _, x := range []struct {
			on     bool
			fr, en string
		}{{g.Messages, "messages", "messages"}, {g.Reactions, "réactions", "reactions"}, {g.Members, "membres", "members"}} {
			if x.on {
				sees = append(sees, w(x.fr, x.en))
			}
		}
		seen := strings.Join(sees, ", ")
		if seen == "" {
			seen = w("rien", "nothing")
		}
		fmt.Fprintf(&b, "• %s (%s)%s%s %s%s%s %s\n", g.Label, g.Platform, colon,
			w("dernier événement", "last event"), ago(g.LastEvent), w(" ; ", "; "), w("voit", "sees"), seen)
	}

	b.WriteString("\nCRM\n")
	switch c := s.CRM; {
	case !c.Configured:
		b.WriteString(w("• non configuré\n", "• not configured\n"))
	default:
		fmt.Fprintf(&b, w("• en attente%s%d\n", "• waiting%s%d\n"), colon, c.Pending)
		if c.LastError != "" && !c.LastErrorAt.Before(c.LastSuccess) {
			fmt.Fprintf(&b, "❌ %s%s%s (%s)\n", w("dernière erreur", "last error"), colon, c.LastError, ago(c.LastErrorAt))
		} else {
			fmt.Fprintf(&b, "✅ %s %s\n", w("dernier envoi réussi", "last successful call"), ago(c.LastSuccess))
		}
	}

	b.WriteString(w("\nIncidents ouverts\n", "\nOpen incidents\n"))
	if len(s.Incidents) == 0 {
		b.WriteString(w("• aucun\n", "• none\n"))
	}
	for _, in := range s.Incidents {
		fmt.Fprintf(&b, "⚠️ %s", in.Kind.Text(lang))
		if in.Detail != "" {
			fmt.Fprintf(&b, " (%s)", in.Detail)
		}
		fmt.Fprintf(&b, " — %s %s\n", w("depuis", "since"), stamp(in.Started))
	}
	return strings.TrimRight(b.String(), "\n")
}
