package commands_test

import (
	"strings"
	"testing"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
)

func TestParseOrganisers(t *testing.T) {
	tests := []struct {
		in      string
		wantLen int
		wantErr string
	}{
		{"", 0, ""},
		{" , ,", 0, ""},
		{"telegram:123", 1, ""},
		{"Telegram:123, whatsapp:+33612345678", 2, ""},
		{"whatsapp:+33 6 12 34 56 78,telegram: 42 ,", 2, ""},
		{"telegram:123,telegram:123", 1, ""},
		{"telegram:@odile", 0, "entry 1: telegram needs a numeric user id"},
		{"telegram:123,whatsapp:0699887766", 0, "entry 2: whatsapp needs a phone in E.164"},
		{"signal:+33612345678", 0, "entry 1: unknown platform"},
		{"+33612345678", 0, "entry 1: want telegram:<user id> or whatsapp:<phone>"},
	}
	for _, tt := range tests {
		o, err := commands.ParseOrganisers(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseOrganisers(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseOrganisers(%q) error %v, want %q", tt.in, err, tt.wantErr)
		case err == nil && o.Len() != tt.wantLen:
			t.Errorf("ParseOrganisers(%q) has %d organisers, want %d", tt.in, o.Len(), tt.wantLen)
		}
		if err != nil && strings.Contains(err.Error(), "699887766") {
			t.Errorf("error repeats the phone: %v", err)
		}
	}
}

func TestOrganisersContains(t *testing.T) {
	o, err := commands.ParseOrganisers("telegram:123, whatsapp:+33612345678")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		p    events.Platform
		m    events.Member
		want bool
	}{
		{events.Telegram, events.Member{ID: "123"}, true},
		{events.Telegram, events.Member{ID: "1234"}, false},
		{events.Telegram, events.Member{ID: "33612345678"}, false},
		{events.WhatsApp, events.Member{ID: "123"}, false},
		{events.WhatsApp, events.Member{ID: "33612345678@s.whatsapp.net"}, true},
		{events.WhatsApp, events.Member{ID: "33612345678:12@s.whatsapp.net"}, true},
		{events.WhatsApp, events.Member{ID: "33612345678@lid"}, false},
		{events.WhatsApp, events.Member{ID: "777@lid", Phone: "+33612345678"}, true},
		{events.WhatsApp, events.Member{ID: "777@lid", Phone: "+33699999999"}, false},
		{events.WhatsApp, events.Member{ID: "33699999999@s.whatsapp.net"}, false},
		{events.WhatsApp, events.Member{ID: "33612345678@g.us"}, false},
	}
	for _, tt := range tests {
		if got := o.Contains(tt.p, tt.m); got != tt.want {
			t.Errorf("Contains(%s, %+v) = %v, want %v", tt.p, tt.m, got, tt.want)
		}
	}
	if (commands.Organisers{}).Contains(events.Telegram, events.Member{ID: "123"}) {
		t.Error("zero Organisers allows someone")
	}
}

func FuzzParseOrganisers(f *testing.F) {
	for _, s := range []string{"", "telegram:1", "whatsapp:+33612345678", "telegram:1,whatsapp:+1 555 0100 200",
		"telegram::", ":,:", "WHATSAPP:+(33)6.12.34.56.78", "telegram:١٢٣", "whatsapp:+0000000"} {
		f.Add(s, "123", "33612345678@s.whatsapp.net")
	}
	f.Fuzz(func(t *testing.T, s, tgID, waID string) {
		o, err := commands.ParseOrganisers(s)
		if err != nil {
			if o.Len() != 0 {
				t.Fatal("error with organisers")
			}
			return
		}
		if o.Len() > strings.Count(s, ",")+1 {
			t.Fatalf("%d organisers from %d entries", o.Len(), strings.Count(s, ",")+1)
		}
		// Matching never panics, and nobody matches an empty id.
		o.Contains(events.Telegram, events.Member{ID: tgID})
		o.Contains(events.WhatsApp, events.Member{ID: waID, Phone: tgID})
		if o.Contains(events.Telegram, events.Member{}) || o.Contains(events.WhatsApp, events.Member{}) {
			t.Fatal("empty member matched")
		}
		// A first entry telegram:<digits> is an organiser.
		listed := tgID != "" && len(tgID) <= 20 && strings.Trim(tgID, "0123456789") == "" &&
			strings.HasPrefix(s, "telegram:"+tgID+",")
		if listed && !o.Contains(events.Telegram, events.Member{ID: tgID}) {
			t.Fatalf("listed telegram organiser %q not matched", tgID)
		}
	})
}

// The bridge provides what the handler depends on.
var (
	_ commands.Query        = (*bridge.Query)(nil)
	_ commands.MemberOps    = (*bridge.Bridge)(nil)
	_ bridge.CommandHandler = (*commands.Handler)(nil)
)
