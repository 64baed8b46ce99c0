package whatsapp

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	waevents "go.mau.fi/whatsmeow/types/events"

	"github.com/relais-bot/relais/events/eventstest"
	"github.com/relais-bot/relais/health"
)

func TestConditionsFollowTheSession(t *testing.T) {
	env := eventstest.New(t)
	a := newTestAdapter(t, env, prometheus.NewRegistry())
	//lint:ignore SA1019 dispatching a constructed event through the real client is only possible this way, in tests
	dispatch := a.cli.DangerousInternals().DispatchEvent
	ctx := context.Background()
	tests := []struct {
		evt  any
		want health.Kind
	}{
		{&waevents.LoggedOut{Reason: waevents.ConnectFailureLoggedOut}, health.WhatsAppLoggedOut},
		{&waevents.Connected{}, ""},
		{&waevents.TemporaryBan{Code: waevents.TempBanSentToTooManyPeople, Expire: 2 * time.Hour}, health.WhatsAppBanned},
		{&waevents.ClientOutdated{}, health.WhatsAppClientOutdated},
		{&waevents.StreamReplaced{}, health.WhatsAppStreamReplaced},
		{&waevents.Connected{}, ""},
	}
	for i, tt := range tests {
		before := time.Now()
		dispatch(tt.evt)
		got := a.Conditions(ctx)
		if tt.want == "" {
			if len(got) != 0 {
				t.Errorf("step %d: connected, conditions %+v", i, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Kind != tt.want {
			t.Fatalf("step %d: conditions %+v, want one %s", i, got, tt.want)
		}
		if tt.want == health.WhatsAppBanned {
			if until := got[0].Until; until.Before(before.Add(2*time.Hour)) || until.After(time.Now().Add(2*time.Hour)) {
				t.Errorf("ban until %v, want two hours from now", until)
			}
		} else if !got[0].Until.IsZero() {
			t.Errorf("step %d: until %v on a state without an end", i, got[0].Until)
		}
	}
}
