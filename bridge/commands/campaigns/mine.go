package campaigns

import (
	"context"
	"strings"
	"time"

	"github.com/relais-bot/relais/events"
)

// Mine is what campaigns hold about one member, for their own file (/moi fichier): the
// delivery outcome and answer per campaign, the campaigns queued to them this week, whether
// they can be written to privately, and a do-not-contact marker. Nothing of anyone else.
type Mine struct {
	Deliveries   map[string]string `json:"deliveries,omitempty"` // campaign code → outcome
	Answers      map[string]string `json:"answers,omitempty"`    // campaign code → answer
	QueuedLately []QueuedAt        `json:"queued_last_7_days,omitempty"`
	Reachable    bool              `json:"reachable_privately"`
	DoNotContact string            `json:"do_not_contact,omitempty"` // why: stop, erased, no more calls
}

// QueuedAt is one campaign queued to the member, and when.
type QueuedAt struct {
	Campaign string    `json:"campaign"`
	At       time.Time `json:"at"`
}

// Mine reads what campaigns hold about member (every token of theirs).
func (f *Feature) Mine(ctx context.Context, member string) (Mine, error) {
	m := Mine{Deliveries: map[string]string{}, Answers: map[string]string{}}
	if f.st == nil {
		return m, nil
	}
	for _, tok := range f.allTokens(member) {
		_, outcomes, err := f.memberDeliveries(ctx, tok)
		if err != nil {
			return m, err
		}
		for slug, o := range outcomes {
			m.Deliveries[slug] = o
		}
		answers, err := f.st.scan(ctx, "a.*."+tok)
		if err != nil {
			return m, err
		}
		for k, v := range answers {
			if parts := strings.Split(k, "."); len(parts) == 3 {
				m.Answers[parts[1]] = v
			}
		}
		w, _, err := f.st.week(ctx, tok)
		if err != nil {
			return m, err
		}
		for _, q := range w.Queued {
			m.QueuedLately = append(m.QueuedLately, QueuedAt{Campaign: q.Slug, At: q.At})
		}
		reach, _, err := f.st.get(ctx, events.ReachKey(tok))
		if err != nil {
			return m, err
		}
		m.Reachable = m.Reachable || reach == events.ReachOpen
		dnc, _, err := f.st.get(ctx, events.DoNotContactKey(tok))
		if err != nil {
			return m, err
		}
		if dnc != "" && m.DoNotContact == "" {
			m.DoNotContact = dnc
		}
	}
	return m, nil
}
