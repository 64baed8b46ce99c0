package bridge

import (
	"fmt"
	"slices"
	"strconv"
	"time"

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

// memberState is what the member script returns.
type memberState struct {
	Token               string
	Applied             int // 1 applied, 0 duplicate, -1 unknown member
	Ver                 int64
	Bits                tagBits
	Msgs, Days, People  int // in the window ending on day Cur
	Cur                 int // reference day of the evaluation
	FP, PubFP           string
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
}

func parseState(token string, v any) (memberState, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return memberState{}, fmt.Errorf("member script: unexpected reply %T", v)
	}
	st := memberState{Token: token, Applied: int(asInt(arr[0]))}
	if st.Applied < 0 {
		return st, nil
	}
	if len(arr) < 25 || (len(arr)-25)%2 != 0 {
		return memberState{}, fmt.Errorf("member script: reply of %d values", len(arr))
	}
	st.Ver = asInt(arr[1])
	st.Bits = tagBits(asInt(arr[2]))
	st.Msgs, st.Days, st.People = int(asInt(arr[3])), int(asInt(arr[4])), int(asInt(arr[5]))
	st.Cur = int(asInt(arr[6]))
	st.FP, st.PubFP = asString(arr[7]), asString(arr[8])
	st.Settled = asInt(arr[9]) == 1
	s := func(i int) string { return asString(arr[10+i]) }
	st.Platform = events.Platform(s(0))
	st.PID, st.Name, st.First, st.Last, st.Username, st.Phone = s(1), s(2), s(3), s(4), s(5), s(6)
	st.FirstSeen, st.LastSeen, st.LastMsg = msTime(s(7)), msTime(s(8)), msTime(s(9))
	st.Replies, st.Mentions, st.Reactions = int(asInt(arr[20])), int(asInt(arr[21])), int(asInt(arr[22]))
	st.Joins, st.Leaves = int(asInt(arr[23])), int(asInt(arr[24]))
	for i := 25; i+1 < len(arr); i += 2 {
		st.Groups = append(st.Groups, groupRef{Token: asString(arr[i]), Title: asString(arr[i+1])})
	}
	return st, nil
}

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
