package bridge

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// tagBits are the activity tags the member script computes.
type tagBits int

const (
	bitActive tagBits = 1 << iota
	bitLeader
	bitNew
	bitDormant
)

// Tag suffixes, after Config.TagPrefix.
const (
	TagActive  = "actif"
	TagLeader  = "leader"
	TagNew     = "nouveau"
	TagDormant = "inactif"
	TagGroup   = "groupe-"
)

// groupRef is one group a member was seen in, with the title the member last saw.
type groupRef struct{ Token, Title string }

// memberState is a member's state as read by the member script, with what the tag rules
// decided from it.
type memberState struct {
	Token               string
	Applied             int // 1 known, -1 unknown member
	Ver                 int64
	Bits                tagBits
	Msgs, Days, People  int // in the window ending on day Cur
	Cur                 int // reference day of the evaluation
	FP, PubFP           string
	CRM                 string // "1": relais may have put them in the CRM; "0": it read it has not; "": unknown
	Settled             bool
	Platform            events.Platform
	PID, Name, First    string
	Last, Username      string
	Phone               string
	FirstSeen, LastSeen time.Time
	LastMsg             time.Time
	Replies, Mentions   int
	Reactions           int
	Joins, Leaves       int
	Groups              []groupRef

	readVer                string   // version the decision was made on (storeLua's guard)
	bumps                  bool     // the reference day moved: storing moves the version
	staleDays, stalePeople []string // day buckets too old to change a tag
}

// stateReads are the reads of a member's keys, pipelined after the member script.
type stateReads struct {
	h, d, i, g *redis.MapStringStringCmd
}

func readMember(ctx context.Context, p redis.Pipeliner, k keys, m string) stateReads {
	mk := k.memberKeys(m)
	return stateReads{h: p.HGetAll(ctx, mk[0]), d: p.HGetAll(ctx, mk[1]), i: p.HGetAll(ctx, mk[2]), g: p.HGetAll(ctx, mk[3])}
}

// readState applies the tag rules to a member's state at the reference day
// max(latest event day, clock day); Applied is -1 for a member with no state.
func (b *Bridge) readState(token string, r stateReads, clockDay int) (memberState, error) {
	st := memberState{Token: token, Applied: 1}
	for _, c := range []redis.Cmder{r.h, r.d, r.i, r.g} {
		if err := c.Err(); err != nil {
			return st, fmt.Errorf("read member: %w", err)
		}
	}
	return b.decideState(token, r.h.Val(), r.d.Val(), r.i.Val(), r.g.Val(), clockDay), nil
}

// decideState is readState on a member's hashes: state hash, messages per day, interactions,
// groups.
func (b *Bridge) decideState(token string, h, dd, ih, gg map[string]string, clockDay int) memberState {
	st := memberState{Token: token, Applied: 1}
	if len(h) == 0 {
		st.Applied = -1
		return st
	}
	cur := int(asInt(h["cur"]))
	R := max(cur, clockDay)
	from := R - (b.bars.windowDays + b.bars.holdDays + b.bars.dormantDays) + 1
	a := dayBuckets{Msgs: map[int]int{}, People: map[int][]string{}}
	for f, n := range dd {
		if d, err := strconv.Atoi(f); err == nil && d >= from {
			a.Msgs[d] = int(asInt(n))
		} else {
			st.staleDays = append(st.staleDays, f)
		}
	}
	legacy := false
	eachInteraction(ih, func(f string, d int, ok bool, people map[string]int64) {
		if !ok || d < from {
			st.stalePeople = append(st.stalePeople, f)
			return
		}
		legacy = legacy || strings.Contains(f, "|")
		for p := range people {
			a.People[d] = append(a.People[d], p)
		}
	})
	if legacy { // a person may be in a day value and in a field of the format before
		for d, l := range a.People {
			slices.Sort(l)
			a.People[d] = slices.Compact(l)
		}
	}
	a.Joined = asInt(h["joins"]) > 0
	if fs := asInt(h["first_seen"]); fs != 0 {
		a.FirstSeen = int(math.Floor(float64(fs) / 86400000))
	} else {
		a.Joined = false
	}
	vd := decide(b.bars, a, R)
	st.Bits, st.Msgs, st.Days, st.People, st.Settled, st.Cur = vd.Bits, vd.Msgs, vd.Days, vd.People, vd.Settled, R
	st.readVer = h["ver"]
	st.Ver = asInt(h["ver"])
	if R > cur {
		st.Ver++ // storeLua moves the version with the reference day
		st.bumps = true
	}
	st.PubFP = settledFP(h["pubfp"])
	st.CRM = h["crm"]
	st.Platform = events.Platform(h["platform"])
	st.PID, st.Name, st.First, st.Last, st.Username, st.Phone = h["pid"], h["name"], h["first"], h["last"], h["username"], h["phone"]
	st.FirstSeen, st.LastSeen, st.LastMsg = msTime(h["first_seen"]), msTime(h["last_seen"]), msTime(h["last_msg"])
	st.Replies, st.Mentions, st.Reactions = int(asInt(h["replies"])), int(asInt(h["mentions"])), int(asInt(h["reactions"]))
	st.Joins, st.Leaves = int(asInt(h["joins"])), int(asInt(h["leaves"]))
	for tok, v := range gg {
		_, title, _ := strings.Cut(v, "\x00")
		st.Groups = append(st.Groups, groupRef{Token: tok, Title: title})
	}
	slices.SortFunc(st.Groups, func(a, b groupRef) int { return strings.Compare(a.Token, b.Token) })
	st.FP = fingerprint(st)
	return st
}

// fingerprint identifies what a contact change carries: tags bits, identity and groups. A
// change is published when it differs from the last one published (pubfp). It is the first
// 64 bits of a SHA-1, in hex: every member's state hash keeps one, and the 40 digits of the
// whole sum cost 10 MiB at national scale (relais bench) to tell apart a member's own
// few states.
func fingerprint(st memberState) string {
	parts := []string{strconv.Itoa(int(st.Bits)), string(st.Platform), st.PID, st.Name, st.First, st.Last, st.Username, st.Phone}
	var ts []string
	for _, g := range st.Groups {
		ts = append(ts, g.Title)
	}
	slices.Sort(ts)
	sum := sha1.Sum([]byte(strings.Join(append(parts, ts...), "\n")))
	return hex.EncodeToString(sum[:fingerprintBytes])
}

const fingerprintBytes = 8

// settledFP is a settled fingerprint as stored: relais before kept the whole sum, whose
// start is the fingerprint of the same state now.
func settledFP(s string) string { return s[:min(len(s), 2*fingerprintBytes)] }

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// tags returns the full sorted set of relais tags for activity bits and group titles.
func tags(prefix string, bits tagBits, groups []groupRef) []string {
	var out []string
	for _, t := range []struct {
		bit  tagBits
		name string
	}{{bitActive, TagActive}, {bitLeader, TagLeader}, {bitNew, TagNew}, {bitDormant, TagDormant}} {
		if bits&t.bit != 0 {
			out = append(out, prefix+t.name)
		}
	}
	for _, g := range groups {
		if s := groupSlug(g); s != "" {
			out = append(out, prefix+TagGroup+s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// groupSlug is a group's tag suffix; a title with no letter or digit falls back to the start
// of the group token, so every group still gets a tag.
func groupSlug(g groupRef) string {
	if s := slug(g.Title); s != "" {
		return s
	}
	return g.Token[:min(len(g.Token), 8)]
}

// titles returns the distinct group titles, sorted.
func titles(groups []groupRef) []string {
	var out []string
	for _, g := range groups {
		if g.Title != "" {
			out = append(out, g.Title)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// GroupTagSuffix is the end of a group's tag, after the tag prefix: "groupe-<slug>".
func GroupTagSuffix(g GroupRef) string { return TagGroup + groupSlug(g) }

// evaluate re-evaluates members at the clock (the sweep, a resync), stores what the rules
// decide and returns their states; unknown members come back with Applied -1.
func (b *Bridge) evaluate(ctx context.Context, members []string) ([]memberState, error) {
	clockDay := dayOf(b.cfg.Now())
	var reads []stateReads
	if _, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, m := range members {
			reads = append(reads, readMember(ctx, pipe, b.keys, m))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	out := make([]memberState, len(members))
	for i, m := range members {
		var err error
		if out[i], err = b.readState(m, reads[i], clockDay); err != nil {
			return nil, err
		}
	}
	if err := b.store(ctx, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}
