package commands

import (
	"fmt"
	"strings"

	"github.com/relais-bot/relais/bridge/commands/command"
)

// helpText is /aide, written from the declarations: the commands anyone may run, then, for an
// organiser, the organisers' (and an admin's own). A command whose feature is off is left out.
func (h *Handler) helpText(organiser, admin bool) string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf(h.help.Intro, h.cfg.Controller))
	h.helpLines(&b, command.Anyone)
	if organiser {
		b.WriteString("\n\n" + h.help.Organisers)
		h.helpLines(&b, command.Organisers)
	}
	if admin && h.hasListed(command.Admins) {
		b.WriteString("\n\n" + h.help.Admins)
		h.helpLines(&b, command.Admins)
	}
	return b.String()
}

func (h *Handler) helpLines(b *strings.Builder, who command.Who) {
	for _, s := range h.listed(who) {
		b.WriteString("\n/" + s.Name(h.cat.Lang))
		if usage := h.help.Usage(s.Key); usage != "" {
			b.WriteString(" " + usage)
		}
		b.WriteString(h.cat.Colon + h.help.Line(s.Key))
	}
}

func (h *Handler) listed(who command.Who) []command.Spec {
	var out []command.Spec
	for _, s := range h.commands.All() {
		if s.Who == who && s.Listed && (s.Off == nil || !s.Off()) {
			out = append(out, s)
		}
	}
	return out
}

func (h *Handler) hasListed(who command.Who) bool { return len(h.listed(who)) > 0 }
