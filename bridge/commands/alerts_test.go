package commands

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/health"
)

// alertReplies records replies and refuses those of the platforms told to fail.
type alertReplies struct {
	mu      sync.Mutex
	fail    map[events.Platform]bool
	replies []events.Reply
}

func (p *alertReplies) Reply(_ context.Context, r events.Reply) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail[r.Platform] {
		return errors.New("stream unavailable")
	}
	p.replies = append(p.replies, r)
	return nil
}

func TestAdminAlertsTellEachAdminPrivately(t *testing.T) {
	admins, err := ParseOrganisers("telegram:1001,whatsapp:+33612345678,telegram:1002")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	start := health.Announcement{Incident: health.Incident{Kind: health.TelegramGroupRemoved, Subject: "g-token", Started: started}}
	end := start
	end.Ended = started.Add(4 * time.Minute)

	tests := []struct {
		name      string
		platforms []events.Platform
		fail      map[events.Platform]bool
		wantChats []string
		wantErr   bool
	}{
		{"every admin on every platform", nil, nil, []string{"1001", "1002", "33612345678@s.whatsapp.net"}, false},
		{"only the platforms the deployment runs", []events.Platform{events.Telegram}, nil, []string{"1001", "1002"}, false},
		{"a failing platform does not block the other", nil, map[events.Platform]bool{events.Telegram: true},
			[]string{"33612345678@s.whatsapp.net"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &alertReplies{fail: tt.fail}
			n := NewAdminAlerts(AdminAlertsConfig{Admins: admins, Lang: "fr", Platforms: tt.platforms}, pub)
			err := n.Notify(context.Background(), start)
			if (err != nil) != tt.wantErr {
				t.Fatalf("notify: %v, want error %v", err, tt.wantErr)
			}
			var chats []string
			for _, r := range pub.replies {
				chats = append(chats, r.Chat)
				if !r.Private || r.Text != start.Text("fr") || !strings.HasSuffix(r.ID, "-start") {
					t.Errorf("reply %+v: want a private start announcement", r)
				}
				for _, personal := range []string{"1001", "33612345678", "g-token"} {
					if strings.Contains(r.ID, personal) {
						t.Errorf("reply id %q holds %q", r.ID, personal)
					}
				}
			}
			if !sameSet(chats, tt.wantChats) {
				t.Errorf("sent to %v, want %v", chats, tt.wantChats)
			}
		})
	}

	// Ids: the same for a replica announcing the same start, distinct per admin, platform,
	// start and end, and incident.
	other := start
	other.Started = started.Add(time.Hour)
	ids := map[string]string{
		"start 1001":      AlertReplyID(start, events.Telegram, "1001"),
		"start 1002":      AlertReplyID(start, events.Telegram, "1002"),
		"end 1001":        AlertReplyID(end, events.Telegram, "1001"),
		"start whatsapp":  AlertReplyID(start, events.WhatsApp, "1001"),
		"another stretch": AlertReplyID(other, events.Telegram, "1001"),
	}
	seen := map[string]string{}
	for name, id := range ids {
		if prev, dup := seen[id]; dup {
			t.Errorf("%s and %s share the reply id %s", name, prev, id)
		}
		seen[id] = name
	}
	again := start
	again.Detail = "seen by another replica"
	if AlertReplyID(again, events.Telegram, "1001") != ids["start 1001"] {
		t.Error("the same start announced again gets another id: a replica would tell it twice")
	}
	if !strings.HasSuffix(ids["end 1001"], "-end") {
		t.Errorf("end id %q", ids["end 1001"])
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}
