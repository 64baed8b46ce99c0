package bridge

import (
	"slices"
	"strconv"
	"strings"
)

// A member's interactions hash (memberKeys[2]) has one field per day: the people who replied
// to, mentioned or reacted to the member that day and how many times, packed in one value
// "person:count,person:count" sorted by person (peopleLua, packPeople). The tag rules only
// need the distinct people per day, the member card the counts. One field per day rather
// than per (day, person) keeps a busy member's hash a few dozen fields: at 1M events a
// field per pair was the largest part of the state after the author maps, growing with
// events.
//
// Fields "day|person" holding a count are the format before; they are read alike and age out
// with their day (storeLua drops them as it drops stale days).

// eachInteraction calls fn with every day field of an interactions hash, its day (ok false
// when the field is not a day) and the people in it with their counts.
func eachInteraction(ih map[string]string, fn func(field string, day int, ok bool, people map[string]int64)) {
	for f, v := range ih {
		if ds, person, legacy := strings.Cut(f, "|"); legacy {
			d, err := strconv.Atoi(ds)
			fn(f, d, err == nil, map[string]int64{person: asInt(v)})
			continue
		}
		d, err := strconv.Atoi(f)
		fn(f, d, err == nil, unpackPeople(v))
	}
}

// interactionPeople is every person in an interactions hash.
func interactionPeople(ih map[string]string) map[string]bool {
	out := map[string]bool{}
	eachInteraction(ih, func(_ string, _ int, _ bool, people map[string]int64) {
		for p := range people {
			out[p] = true
		}
	})
	return out
}

// unpackPeople reads a packed day value.
func unpackPeople(v string) map[string]int64 {
	out := map[string]int64{}
	for e := range strings.SplitSeq(v, ",") {
		if p, n, ok := strings.Cut(e, ":"); ok && p != "" {
			out[p] += asInt(n)
		}
	}
	return out
}

// packPeople writes a day value: sorted by person, as peopleLua does.
func packPeople(people map[string]int64) string {
	ps := make([]string, 0, len(people))
	for p := range people {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(people[p], 10))
	}
	return b.String()
}
