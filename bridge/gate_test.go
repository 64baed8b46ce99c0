package bridge

import (
	"testing"
	"time"
)

func TestSenderActivity(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	before, after := t0.Add(-time.Second), t0.Add(time.Second)
	stop := ConsentDecision{Suppressed: true, ObjectedAt: t0}
	yesAgain := ConsentDecision{OptedIn: true, ObjectedAt: t0}
	erased := ConsentDecision{Suppressed: true, Erased: true}
	tests := []struct {
		name      string
		d         ConsentDecision
		pseudonym bool
		at        time.Time
		want      activity
	}{
		{"nobody said anything", ConsentDecision{}, false, after, actFull},
		{"yes", ConsentDecision{OptedIn: true}, false, after, actFull},
		{"objector, event from before", stop, false, before, actCreditsOnly},
		{"objector, event at the objection", stop, false, t0, actNothing},
		{"objector, event after", stop, false, after, actNothing},
		{"yes again after an objection, event from before it", yesAgain, false, before, actCreditsOnly},
		{"yes again after an objection, event after it", yesAgain, false, after, actFull},
		{"erased, event from before", erased, false, before, actNothing},
		{"erased, event after", erased, false, after, actNothing},
		{"erasure pseudonym", ConsentDecision{}, true, before, actAnonymous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := senderActivity(tt.d, tt.pseudonym, tt.at); got != tt.want {
				t.Errorf("senderActivity = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestMayCreditAndShow(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		d      ConsentDecision
		at     time.Time
		credit bool
		show   bool
	}{
		{"member", ConsentDecision{}, t0, true, true},
		{"objector", ConsentDecision{Suppressed: true, ObjectedAt: t0}, t0.Add(time.Hour), false, false},
		{"erased", ConsentDecision{Suppressed: true, Erased: true}, t0, false, false},
		{"yes again, credit from before the objection", ConsentDecision{OptedIn: true, ObjectedAt: t0}, t0.Add(-time.Hour), false, true},
		{"yes again, credit after", ConsentDecision{OptedIn: true, ObjectedAt: t0}, t0.Add(time.Hour), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayCredit(tt.d, tt.at); got != tt.credit {
				t.Errorf("mayCredit = %v, want %v", got, tt.credit)
			}
			if got := mayShow(tt.d); got != tt.show {
				t.Errorf("mayShow = %v, want %v", got, tt.show)
			}
		})
	}
}

func TestMaySync(t *testing.T) {
	optIn := ConsentDecision{Policy: PolicyOptIn}
	notice := ConsentDecision{Policy: PolicyNotice}
	yes := func(d ConsentDecision) ConsentDecision { d.OptedIn = true; return d }
	stop := func(d ConsentDecision) ConsentDecision { d.Suppressed = true; return d }
	tests := []struct {
		name string
		ds   []ConsentDecision
		bits tagBits
		want bool
	}{
		{"no decision", nil, bitActive, false},
		{"opt-in, active, no yes", []ConsentDecision{optIn}, bitActive | bitLeader, false},
		{"opt-in, yes, not active", []ConsentDecision{yes(optIn)}, 0, true},
		{"notice, active", []ConsentDecision{notice}, bitActive, true},
		{"notice, leader", []ConsentDecision{notice}, bitLeader, true},
		{"notice, only new", []ConsentDecision{notice}, bitNew, false},
		{"notice, objected", []ConsentDecision{stop(notice)}, bitActive, false},
		{"opt-in, yes then objected", []ConsentDecision{stop(yes(optIn))}, bitActive, false},
		// Data from an opt-in group never reaches the CRM without a yes, whatever the
		// member's other groups say.
		{"notice and opt-in groups, active, no yes", []ConsentDecision{notice, optIn}, bitActive, false},
		{"opt-in and notice groups, active, no yes", []ConsentDecision{optIn, notice}, bitActive, false},
		{"notice and opt-in groups, yes", []ConsentDecision{yes(notice), yes(optIn)}, 0, true},
		{"two notice groups, active", []ConsentDecision{notice, notice}, bitActive, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maySync(tt.ds, tt.bits); got != tt.want {
				t.Errorf("maySync = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzGate checks the gate's invariants over any decision: a suppressed member is never
// shown, credited or synced; an erased member's events never count for anyone; only a
// pseudonym is anonymous; a member in full standing is never refused processing.
func FuzzGate(f *testing.F) {
	f.Add(false, false, false, false, int64(0), int64(1), false, uint8(1), uint8(0))
	f.Add(true, true, false, true, int64(10), int64(5), false, uint8(3), uint8(1))
	f.Add(false, true, true, false, int64(10), int64(20), true, uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, optedIn, suppressed, erased, notice bool, objected, at int64, pseudonym bool, bits, extra uint8) {
		d := ConsentDecision{OptedIn: optedIn, Suppressed: suppressed || erased, Erased: erased, Policy: PolicyOptIn}
		if notice {
			d.Policy = PolicyNotice
		}
		if objected != 0 {
			d.ObjectedAt = time.Unix(objected, 0)
		}
		when := time.Unix(at, 0)
		act := senderActivity(d, pseudonym, when)
		switch {
		case pseudonym && act != actAnonymous:
			t.Fatalf("pseudonym got %d", act)
		case !pseudonym && act == actAnonymous:
			t.Fatal("a member treated as a pseudonym")
		case !pseudonym && d.Erased && act != actNothing:
			t.Fatalf("erased member's event does %d", act)
		case !pseudonym && d.Suppressed && act == actFull:
			t.Fatal("an objector's event counts for them")
		case !pseudonym && !d.Suppressed && d.ObjectedAt.IsZero() && act != actFull:
			t.Fatalf("a member in full standing got %d", act)
		}
		if d.Suppressed && (mayShow(d) || mayCredit(d, when)) {
			t.Fatal("a suppressed member is shown or credited")
		}
		ds := []ConsentDecision{d}
		for i := range int(extra % 4) {
			o := d
			if i%2 == 0 {
				o.Policy = PolicyOptIn
			}
			ds = append(ds, o)
		}
		if maySync(ds, tagBits(bits)) && (d.Suppressed || (!d.OptedIn && d.Policy != PolicyNotice)) {
			t.Fatal("synced without consent")
		}
	})
}

func TestMayContact(t *testing.T) {
	yes := ConsentDecision{OptedIn: true}
	tests := []struct {
		name              string
		d                 ConsentDecision
		reachable         bool
		thisWeek, perWeek int
		want              bool
		class             Reach
	}{
		{"yes, reachable, first of the week", yes, true, 0, 2, true, ReachNow},
		{"yes, not reachable", yes, false, 0, 2, true, ReachUnreachable},
		{"yes, second of the week", yes, true, 1, 2, true, ReachNow},
		{"yes, cap reached", yes, true, 2, 2, false, ReachCapped},
		{"yes, cap zero", yes, true, 0, 0, false, ReachCapped},
		{"never said yes", ConsentDecision{}, true, 0, 2, false, ReachNotConsented},
		{"never said yes, notice policy", ConsentDecision{Policy: PolicyNotice}, true, 0, 2, false, ReachNotConsented},
		{"objected", ConsentDecision{Suppressed: true}, true, 0, 2, false, ReachObjected},
		{"erased", ConsentDecision{Suppressed: true, Erased: true}, true, 0, 2, false, ReachObjected},
		{"opted out of campaigns", ConsentDecision{OptedIn: true, NoCampaigns: true}, true, 0, 2, false, ReachOptedOut},
		{"yes again after an objection", ConsentDecision{OptedIn: true, ObjectedAt: time.Unix(5, 0)}, true, 0, 2, true, ReachNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayContact(tt.d, tt.thisWeek, tt.perWeek); got != tt.want {
				t.Errorf("mayContact = %v, want %v", got, tt.want)
			}
			if got := contactClass(tt.d, tt.reachable, tt.thisWeek, tt.perWeek); got != tt.class {
				t.Errorf("contactClass = %d, want %d", got, tt.class)
			}
		})
	}
}

// FuzzMayContact: nobody is contacted without a yes, after an objection or erasure, after
// opting out of campaigns, or at the weekly cap; only ReachNow members are sent anything,
// and every ReachNow member may be contacted.
func FuzzMayContact(f *testing.F) {
	f.Add(true, false, false, false, true, 0, 2)
	f.Add(true, true, false, false, true, 1, 2)
	f.Add(false, false, true, true, false, 3, 2)
	f.Fuzz(func(t *testing.T, optedIn, suppressed, erased, noCampaigns, reachable bool, thisWeek, perWeek int) {
		d := ConsentDecision{OptedIn: optedIn, Suppressed: suppressed || erased, Erased: erased, NoCampaigns: noCampaigns}
		ok := mayContact(d, thisWeek, perWeek)
		if ok && (!optedIn || d.Suppressed || erased || noCampaigns || thisWeek >= perWeek) {
			t.Fatalf("contacted %+v at %d/%d", d, thisWeek, perWeek)
		}
		c := contactClass(d, reachable, thisWeek, perWeek)
		if (c == ReachNow) != (ok && reachable) {
			t.Fatalf("class %d for %+v reachable=%v may=%v", c, d, reachable, ok)
		}
		if d.Suppressed && c != ReachObjected {
			t.Fatalf("objector classed %d", c)
		}
	})
}
