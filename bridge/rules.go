package bridge

// dayBuckets is what the tag rules read of a member: their day buckets and whether they joined.
type dayBuckets struct {
	Msgs      map[int]int      // day → messages sent that day
	People    map[int][]string // day → distinct people who replied to, mentioned or reacted to the member
	Joined    bool             // a join was seen
	FirstSeen int              // day first seen (only read when Joined)
}

// verdict is what the tag rules decide at a reference day.
type verdict struct {
	Bits               tagBits
	Msgs, Days, People int  // in the window ending on the reference day
	Settled            bool // nothing can change with time alone
}

// decide evaluates the tags at reference day R, from the day buckets in (R-span, R] (older
// ones can no longer change a tag; the caller drops them).
//
// Tags are a pure function of the day buckets and R (never of the order events arrived in),
// which is what makes replay, redelivery and concurrent replicas agree:
//
//	window(D)  = the Window days ending with day D
//	full(D)    = window(D) meets the full bar; keep(D) = window(D) meets the lower bar
//	active(D)  = there is a day U in [D-Hold, D] with full(U) and keep on every day of [U, D]
//	actif      = active(R); inactif = not active(R) and active(D) for some D in [R-Dormant, R]
//	leader     = the same with distinct people instead of messages and days
//	nouveau    = a join was seen and the member was first seen less than NewFor days before R
//
// Hysteresis is the keep bar: a member who met the full bar keeps the tag while above the
// lower bar, up to Hold days after they last met the full bar, and must meet the full bar
// again once they fell under the lower one.
func decide(b bars, a dayBuckets, R int) verdict {
	span := b.windowDays + b.holdDays + b.dormantDays
	from := R - span + 1
	var v verdict
	any := false
	for d := range a.Msgs {
		if d >= from && d <= R {
			any = true
			break
		}
	}
	if !any {
		for d, l := range a.People {
			if d >= from && d <= R && len(l) > 0 {
				any = true
				break
			}
		}
	}
	actA, actL, wasA := false, false, false
	if any {
		pc := map[string]int{}
		wm, wd, wp := 0, 0, 0
		start := R - b.dormantDays - b.holdDays
		failA, upA, failL, upL := start-1, start-2, start-1, start-2
		for D := from; D <= R; D++ {
			if m, ok := a.Msgs[D]; ok {
				wm += m
				wd++
			}
			for _, p := range a.People[D] {
				if pc[p] == 0 {
					wp++
				}
				pc[p]++
			}
			if old := D - b.windowDays; old >= from {
				if om, ok := a.Msgs[old]; ok {
					wm -= om
					wd--
				}
				for _, p := range a.People[old] {
					pc[p]--
					if pc[p] == 0 {
						wp--
					}
				}
			}
			if D >= start {
				if wm < b.keepMsgs || wd < b.keepDays {
					failA = D
				}
				if wm >= b.activeMsgs && wd >= b.activeDays {
					upA = D
				}
				actA = upA > failA && upA >= D-b.holdDays
				if actA && D >= R-b.dormantDays {
					wasA = true
				}
				if wp < b.keepPeople {
					failL = D
				}
				if wp >= b.leaderPeople {
					upL = D
				}
				actL = upL > failL && upL >= D-b.holdDays
			}
		}
		v.Msgs, v.Days, v.People = wm, wd, wp
	}
	nouveau := a.Joined && a.FirstSeen > R-b.newDays
	if actA {
		v.Bits |= bitActive
	}
	if actL {
		v.Bits |= bitLeader
	}
	if nouveau {
		v.Bits |= bitNew
	}
	if wasA && !actA {
		v.Bits |= bitDormant
	}
	v.Settled = !any && !nouveau
	return v
}
