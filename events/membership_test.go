package events_test

import (
	"testing"

	"github.com/relais-bot/relais/events"
)

func TestDecodeMembershipQuestion(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{"v":1,"group":"-100","user":"7"}`, true},
		{`{"v":2,"group":"-100","user":"7"}`, false},
		{`{"v":1,"group":"","user":"7"}`, false},
		{`{"v":1,"group":"-100"}`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		if _, err := events.DecodeMembershipQuestion([]byte(tt.in)); (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

func FuzzDecodeMembershipQuestion(f *testing.F) {
	f.Add([]byte(`{"v":1,"group":"-100","user":"7"}`))
	f.Add([]byte(`{"v":1,"group":"1203@g.us","user":"+33611111111"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := events.DecodeMembershipQuestion(b)
		if err == nil && (q.Group == "" || q.User == "" || q.V != events.Version) {
			t.Errorf("accepted an incomplete question %+v", q)
		}
	})
}
