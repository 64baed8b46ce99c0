package bridge

import (
	"strconv"
	"time"
)

// keys names every Redis key. A member's keys share the hash tag {<member>}, a group's keys
// {<group>}, the indexes {i}: each Lua call touches one slot, so everything runs on Redis
// Cluster.
type keys struct{ prefix string }

func (k keys) member(m string) string { return k.prefix + "m:{" + m + "}:" }

// memberKeys are a member's state hash, messages per day, interactions per day|person and
// groups.
func (k keys) memberKeys(m string) []string {
	b := k.member(m)
	return []string{b + "h", b + "d", b + "i", b + "g"}
}

// memberScriptKeys are the keys of the member script: memberKeys, applied sequences, credited.
func (k keys) memberScriptKeys(m string) []string {
	return append(k.memberKeys(m), k.applied(m), k.credited(m))
}

// applied is the set of stream sequences recently applied to a member (see memberLua).
func (k keys) applied(m string) string { return k.member(m) + "x" }

// credited holds the members a member replied to, mentioned or reacted to: a hash of
// token → "1". A hash rather than a set: Redis 7.0 keeps a small set of strings as a hash
// table, about 340 bytes for one or two members, and a small hash as a listpack; most
// members credit a few people (relais bench, national scale).
func (k keys) credited(m string) string { return k.member(m) + "c" }

// creditedBefore is the set credited was before it became a hash: still read and cleaned
// until it expires (DedupTTL after its member's last event).
func (k keys) creditedBefore(m string) string { return k.member(m) + "o" }

func (k keys) group(g string) string { return k.prefix + "g:{" + g + "}:" }

// groupKeys are the keys of the group script: hash, day counts, members seen, last message
// day per member, applied sequences, day and weekday × hour counts, the current and the
// previous message→author map.
func (k keys) groupKeys(g string) []string {
	b := k.group(g)
	return []string{b + "h", b + "d", b + "m", b + "a", b + "x", b + "w", k.authorMap(g), k.authorMapPrev(g)}
}

func (k keys) groupHash(g string) string    { return k.group(g) + "h" }
func (k keys) groupDays(g string) string    { return k.group(g) + "d" }
func (k keys) groupMembers(g string) string { return k.group(g) + "m" }
func (k keys) groupLast(g string) string    { return k.group(g) + "a" }

// groupHours counts a group's messages per day and local weekday × hour: fields
// "<day>|<weekday*24+hour>", kept as long as the day counts.
func (k keys) groupHours(g string) string { return k.group(g) + "w" }

// authorMap maps the platform message ids of a group's latest messages to their author's
// token: the messages since the group's message count last reached a multiple of
// Config.AuthorMapSize. Reaching the next multiple renames it over authorMapPrev, so a lookup
// reading both sees the group's last AuthorMapSize to twice that messages (see groupLua).
// A map expires two windows and a day after it was started, whatever is written to it later,
// so in a quiet group no message id stays mapped past the retention period.
func (k keys) authorMap(g string) string { return k.group(g) + "t:c" }

// authorMapPrev is the author map of the generation before authorMap's.
func (k keys) authorMapPrev(g string) string { return k.group(g) + "t:p" }

// legacyAuthorMap is an author map of one activity window, as written before the maps were
// bounded by a count of messages. Erasures and alias merges still clean them until they
// expire (two windows and a day after the upgrade).
func (k keys) legacyAuthorMap(g string, gen int) string {
	return k.group(g) + "t:" + strconv.Itoa(gen)
}

func (k keys) idx(name string) string { return k.prefix + "idx:{i}:" + name }

// indexKeys are the keys of the index script.
func (k keys) indexKeys() []string {
	return []string{k.idx("ver"), k.idx("due"), k.idx("msgs"), k.idx("people"), k.idx("uname"), k.idx("unameof"), k.idx("names")}
}

func (k keys) groups() string     { return k.idx("groups") }
func (k keys) groupAlias() string { return k.idx("galias") }
func (k keys) due() string        { return k.idx("due") }

// owed holds the members whose contact change a backlog batch left for later (defer.go):
// token → version.
func (k keys) owed() string       { return k.idx("owed") }
func (k keys) version() string    { return k.idx("ver") }
func (k keys) usernames() string  { return k.idx("uname") }
func (k keys) usernameOf() string { return k.idx("unameof") }
func (k keys) names() string      { return k.idx("names") }
func (k keys) rankMsgs() string   { return k.idx("msgs") }
func (k keys) rankPeople() string { return k.idx("people") }

// importing is when an imported event was last applied (Unix ms): while it is recent, routine
// sweeps wait for the import's end (history.go).
func (k keys) importing() string { return k.idx("himp") }

// importOwed holds the members imported events changed and no import's end settled since:
// token → version, as owed.
func (k keys) importOwed() string { return k.idx("howed") }

// hourField is the weekday × hour field of an event at t on UTC day day: the day keeps the
// field's age (trimmed with the day counts), the hour of week (0 = Monday 00h) is local.
func hourField(day int, t time.Time, zone *time.Location) string {
	l := t.In(zone)
	how := (int(l.Weekday())+6)%7*24 + l.Hour()
	return strconv.Itoa(day) + "|" + strconv.Itoa(how)
}

// hoursOfWeek is how many weekday × hour fields a day can have.
const hoursOfWeek = 7 * 24
