package dashboard

import (
	"context"
	"net/http"

	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/journal"
)

// journaler is a Source that keeps the access journal (*commands.Handler): a page naming
// members is one entry, appended before the page is written, so a page the journal could not
// record is not shown.
type journaler interface {
	JournalRead(ctx context.Context, who scope.Who, what string, members []string) error
}

// collect makes r note the members the page names while it is built.
func collect(r *http.Request) (*http.Request, *journal.Reads) {
	ctx, reads := journal.Collect(r.Context())
	return r.WithContext(ctx), reads
}

// journalPage appends the page read by who to the access journal.
func (s *Server) journalPage(r *http.Request, who scope.Who, page string, reads *journal.Reads) error {
	src := s.src.Load()
	if src == nil {
		return nil
	}
	j, ok := src.src.(journaler)
	if !ok {
		return nil
	}
	return j.JournalRead(r.Context(), who, page, reads.Members())
}
