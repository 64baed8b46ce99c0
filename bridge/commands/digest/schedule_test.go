package digest

import (
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	tests := []struct {
		in      string
		want    Schedule
		wantErr bool
	}{
		{"MON 09:00 Europe/Paris", Schedule{Weekday: time.Monday, Hour: 9, Zone: paris}, false},
		{"", Schedule{Weekday: time.Monday, Hour: 9, Zone: paris}, false},
		{"ven 17:30", Schedule{Weekday: time.Friday, Hour: 17, Minute: 30, Zone: time.UTC}, false},
		{"off", Schedule{Off: true}, false},
		{"OFF", Schedule{Off: true}, false},
		{"MON 9h", Schedule{}, true},
		{"XYZ 09:00", Schedule{}, true},
		{"MON 09:00 Mars/Olympus", Schedule{}, true},
		{"MON 25:00", Schedule{}, true},
	}
	for _, tt := range tests {
		got, err := ParseSchedule(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (got.Off != tt.want.Off || got.Weekday != tt.want.Weekday || got.Hour != tt.want.Hour ||
			got.Minute != tt.want.Minute || got.Zone.String() != tt.want.Zone.String()) {
			t.Errorf("%q: %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"MON 09:00 Europe/Paris", "off", "dim 23:59 UTC", "MON 24:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseSchedule(s)
		if err == nil && !sc.Off && (sc.Zone == nil || sc.Hour > 23 || sc.Minute > 59) {
			t.Errorf("%q accepted as %+v", s, sc)
		}
	})
}

func TestScheduleDue(t *testing.T) {
	sc, err := ParseSchedule("MON 09:00 Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	// Monday 9 March 2026, 09:00 in Paris is 08:00 UTC.
	slot := time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		due  bool
	}{
		{"a minute before", slot.Add(-time.Minute), false},
		{"at the slot", slot, true},
		{"on Sunday night, still that week", time.Date(2026, 3, 15, 22, 0, 0, 0, time.UTC), true},
		{"Sunday before the slot", time.Date(2026, 3, 8, 20, 0, 0, 0, time.UTC), true}, // the previous week's digest is due
		{"off never", slot, false},
	}
	for _, tt := range tests {
		s := sc
		if tt.name == "off never" {
			s = Schedule{Off: true}
		}
		got, due := s.Due(tt.now)
		if due != tt.due {
			t.Errorf("%s: due %v (slot %v), want %v", tt.name, due, got, tt.due)
		}
	}
	if got, _ := sc.Due(slot.Add(time.Hour)); !got.Equal(slot) {
		t.Errorf("slot %v, want %v", got, slot)
	}
}

// TestWeeklyDigestOncePerOrganiserAcrossReplicas: two replicas tick at the same moments with a
// fake clock; each organiser gets one digest a week, with their scope's content only.
