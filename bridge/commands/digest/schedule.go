// Package digest sends each organiser the weekly digest once per week, whatever the number
// of replicas, and never loses one: it owns RELAIS_DIGEST_AT's schedule, the leases and
// "sent" records in the digest bucket, and the retries of a digest put off. What a digest
// says is built by the caller (Builder) from the organiser's scope.
package digest

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ISOWeek names the ISO week of t: 2026-W11.
func ISOWeek(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

// Schedule is RELAIS_DIGEST_AT: a weekday and a time of day in a zone, or off.
type Schedule struct {
	Off     bool
	Weekday time.Weekday
	Hour    int
	Minute  int
	Zone    *time.Location
}

var weekdays = map[string]time.Weekday{
	"MON": time.Monday, "TUE": time.Tuesday, "WED": time.Wednesday, "THU": time.Thursday,
	"FRI": time.Friday, "SAT": time.Saturday, "SUN": time.Sunday,
	"LUN": time.Monday, "MAR": time.Tuesday, "MER": time.Wednesday, "JEU": time.Thursday,
	"VEN": time.Friday, "SAM": time.Saturday, "DIM": time.Sunday,
}

// DefaultDigestAt is RELAIS_DIGEST_AT's default.
const DefaultDigestAt = "MON 09:00 Europe/Paris"

// ParseSchedule reads "MON 09:00 Europe/Paris" (English or French three-letter day; the zone
// is optional, UTC when absent) or "off".
func ParseSchedule(s string) (Schedule, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		f = strings.Fields(DefaultDigestAt)
	}
	if len(f) == 1 && strings.EqualFold(f[0], "off") {
		return Schedule{Off: true}, nil
	}
	if len(f) < 2 || len(f) > 3 {
		return Schedule{}, errors.New("digest schedule: want like MON 09:00 Europe/Paris, or off")
	}
	wd, ok := weekdays[strings.ToUpper(f[0])]
	if !ok {
		return Schedule{}, errors.New("digest schedule: unknown day, want MON..SUN")
	}
	t, err := time.Parse("15:04", f[1])
	if err != nil {
		return Schedule{}, errors.New("digest schedule: time of day must be HH:MM")
	}
	sc := Schedule{Weekday: wd, Hour: t.Hour(), Minute: t.Minute(), Zone: time.UTC}
	if len(f) == 3 {
		loc, err := time.LoadLocation(f[2])
		if err != nil {
			return Schedule{}, errors.New("digest schedule: unknown time zone")
		}
		sc.Zone = loc
	}
	return sc, nil
}

// Due returns the slot of now's week (in the schedule's zone) and whether it has come: a
// digest is due from its slot to the end of that ISO week, so a relais that was down at
// the slot still sends it once it is back.
func (s Schedule) Due(now time.Time) (slot time.Time, due bool) {
	if s.Off || s.Zone == nil {
		return time.Time{}, false
	}
	l := now.In(s.Zone)
	monday := time.Date(l.Year(), l.Month(), l.Day()-(int(l.Weekday())+6)%7, 0, 0, 0, 0, s.Zone)
	off := (int(s.Weekday) + 6) % 7
	slot = time.Date(monday.Year(), monday.Month(), monday.Day()+off, s.Hour, s.Minute, 0, 0, s.Zone)
	return slot, !now.Before(slot)
}
