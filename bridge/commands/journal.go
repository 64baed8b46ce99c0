package commands

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/journal"
	"github.com/relais-bot/relais/locale"
)

// The access journal (package journal): every command of organisers and admins, every
// dashboard page and every weekly digest is one entry, with the members the answer named
// (features say whom with journal.Note while they build it). The entry is appended once the
// answer is built and before the command counts as done: a journal that cannot be written
// makes the command retry, and its answer, whose id derives from the event's, goes out once.

// journalTexts are /journal's words and /moi fichier's, from the message file group "journal".
type journalTexts struct {
	Off          string        // the journal is not kept here
	Title        locale.Plural // %[1]d reads, %[2]d days
	ByOrganiser  string
	OrganiserRow string // %[1]s token, %[2]s role, %[3]d reads
	Admin        string
	Organiser    string
	Operator     string
	Recent       string
	RecentRow    string        // %[1]s time, %[2]s who, %[3]s what, %[4]s members
	Members      locale.Plural // %[1]d members named
	Intact       string
	Broken       locale.Plural // %[1]d problems
	FileCaption  string
	FileTooBig   string
}

func journalTextsFor(lang string) (journalTexts, error) {
	var t journalTexts
	if err := locale.Fill(lang, "journal", &t); err != nil {
		return journalTexts{}, fmt.Errorf("commands: %w", err)
	}
	return t, nil
}

// run answers a command; an organiser's or an admin's is appended to the access journal.
func (h *Handler) run(ctx context.Context, spec command.Spec, req command.Request) error {
	if spec.Who == command.Anyone || h.cfg.Journal == nil {
		return spec.Run(ctx, req)
	}
	ctx, reads := journal.Collect(ctx)
	if err := spec.Run(ctx, req); err != nil {
		return err
	}
	return h.cfg.Journal.Append(ctx, journal.Entry{ID: req.Event.ID, Who: req.Member, Role: role(req.Admin),
		What: spec.Key, Members: reads.Members()})
}

func role(admin bool) string {
	if admin {
		return journal.RoleAdmin
	}
	return journal.RoleOrganiser
}

// JournalRead appends a read outside commands (a dashboard page) for who. Without a journal
// it does nothing.
func (h *Handler) JournalRead(ctx context.Context, who scope.Who, what string, members []string) error {
	if h.cfg.Journal == nil {
		return nil
	}
	token := h.consent.Canonical(h.hash.Member(who.Platform, who.ID))
	return h.cfg.Journal.Append(ctx, journal.Entry{Who: token, Role: role(who.Admin), What: what, Members: members})
}

// journalCommands declares /journal: the admins' look at who read what.
func (h *Handler) journalCommands() []command.Spec {
	return []command.Spec{
		{Key: "journal", Names: []string{"journal", "accesslog"}, Who: command.Admins, Rate: command.Limited,
			Arg: events.ArgNone, Listed: true, Background: true, Run: h.journalAnswer},
	}
}

// journalDays is how far back /journal looks.
const journalDays = 30

// Bounds of /journal's answer, within one message.
const (
	maxJournalOrganisers = 15
	maxJournalRecent     = 15
)

// journalAnswer tells an admin, privately, who read personal data lately (per organiser,
// then the latest reads) and whether the chain is intact.
func (h *Handler) journalAnswer(ctx context.Context, r command.Request) error {
	t := h.jtxt
	if h.cfg.Journal == nil {
		return h.sendPrivately(ctx, r.Event, h.private(r.Event, "answer", t.Off))
	}
	log, problems, err := h.cfg.Journal.Verify(ctx)
	if err != nil {
		return err
	}
	since := h.cfg.Now().Add(-journalDays * 24 * time.Hour)
	entries := log.Since(since)
	type count struct {
		who, role string
		n         int
	}
	var counts []count
	for _, e := range entries {
		i := slices.IndexFunc(counts, func(c count) bool { return c.who == e.Who && c.role == e.Role })
		if i < 0 {
			counts = append(counts, count{who: e.Who, role: e.Role})
			i = len(counts) - 1
		}
		counts[i].n++
	}
	slices.SortStableFunc(counts, func(a, b count) int { return cmp.Or(b.n-a.n, strings.Compare(a.who, b.who)) })
	var b strings.Builder
	b.WriteString(t.Title.N(len(entries), journalDays))
	if len(counts) > 0 {
		b.WriteString("\n\n" + t.ByOrganiser)
		for i, c := range counts {
			if i == maxJournalOrganisers {
				b.WriteString("\n" + h.cat.StatsMore.N(len(counts)-i))
				break
			}
			b.WriteString("\n" + fmt.Sprintf(t.OrganiserRow, shortToken(c.who), h.roleName(c.role), c.n))
		}
		b.WriteString("\n\n" + t.Recent)
		for i := len(entries) - 1; i >= 0 && i >= len(entries)-maxJournalRecent; i-- {
			e := entries[i]
			b.WriteString("\n" + fmt.Sprintf(t.RecentRow, e.At.In(time.UTC).Format("02/01 15:04"), shortToken(e.Who), e.What, t.Members.N(len(e.Members))))
		}
	}
	b.WriteString("\n\n")
	if len(problems) == 0 {
		b.WriteString(t.Intact)
	} else {
		b.WriteString(t.Broken.N(len(problems)))
	}
	return h.sendPrivately(ctx, r.Event, h.private(r.Event, "answer", clip(b.String())))
}

func (h *Handler) roleName(role string) string {
	switch role {
	case journal.RoleAdmin:
		return h.jtxt.Admin
	case journal.RoleOperator:
		return h.jtxt.Operator
	}
	return h.jtxt.Organiser
}

// shortToken is how /journal shows a token: enough to tell readers apart.
func shortToken(tok string) string {
	if tok == "" {
		return "-"
	}
	if len(tok) > 10 {
		return tok[:10]
	}
	return tok
}
