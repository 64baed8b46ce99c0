package events

import (
	"fmt"
	"regexp"
	"strings"
)

// Names holds every stream, bucket and subject name of one relais deployment. Production uses
// the zero prefix; tests give each run its own prefix so they never see each other's data on a
// shared server.
type Names struct {
	prefix string // "" or an uppercase alphanumeric prefix
	root   string // subject root: "relais" or "<prefix>.relais"
}

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9]*$`)

// NewNames returns the names for a prefix ("" in production). A prefix holds only ASCII
// letters and digits, so it is valid in both stream and subject names.
func NewNames(prefix string) (Names, error) {
	if !prefixPattern.MatchString(prefix) {
		return Names{}, fmt.Errorf("names: prefix %q: only letters and digits", prefix)
	}
	if prefix == "" {
		return Names{root: "relais"}, nil
	}
	return Names{prefix: strings.ToUpper(prefix) + "_", root: strings.ToLower(prefix) + ".relais"}, nil
}

// DefaultNames are the production names.
func DefaultNames() Names { return Names{root: "relais"} }

// Stream and bucket names.
func (n Names) EventsStream() string  { return n.prefix + "RELAIS_EVENTS" }
func (n Names) CRMStream() string     { return n.prefix + "RELAIS_CRM" }
func (n Names) DLQStream() string     { return n.prefix + "RELAIS_DLQ" }
func (n Names) RepliesStream() string { return n.prefix + "RELAIS_REPLIES" }
func (n Names) ConsentBucket() string { return n.prefix + "RELAIS_CONSENT" }
func (n Names) LocksBucket() string   { return n.prefix + "RELAIS_LOCKS" }
func (n Names) CRMRefsBucket() string { return n.prefix + "RELAIS_CRM_REFS" }

// JournalStream and JournalSubject hold the access journal (package journal).
func (n Names) JournalStream() string  { return n.prefix + "RELAIS_JOURNAL" }
func (n Names) JournalSubject() string { return n.root + ".journal" }

// Durable consumer names, shared by every replica of a role.
func (n Names) BridgeConsumer() string { return "bridge" }
func (n Names) CRMConsumer() string    { return "crm" }
func (n Names) ReplyConsumer(p Platform) string {
	return "reply-" + string(p)
}

// DirectGroup is the group token of a private chat with the bot.
const DirectGroup = "dm"

// EventSubject is relais.ev.<platform>.<group token>.<member token>.
func (n Names) EventSubject(p Platform, group, member string) string {
	return n.root + ".ev." + string(p) + "." + group + "." + member
}

// EventsFilter matches every event subject.
func (n Names) EventsFilter() string { return n.root + ".ev.>" }

// MemberEventsFilter matches every event a member sent, on any platform and in any group.
func (n Names) MemberEventsFilter(member string) string { return n.root + ".ev.*.*." + member }

// ReplySubject is relais.reply.<platform>.
func (n Names) ReplySubject(p Platform) string { return n.root + ".reply." + string(p) }

// RepliesFilter matches every reply subject.
func (n Names) RepliesFilter() string { return n.root + ".reply.>" }

// CRMSubject is relais.crm.<member token>: the stream keeps one message per subject.
func (n Names) CRMSubject(member string) string { return n.root + ".crm." + member }

// CRMFilter matches every contact change.
func (n Names) CRMFilter() string { return n.root + ".crm.>" }

// DLQSubject mirrors the original subject under relais.dlq, so a member's dead letters are
// found (and erased) by the same member token.
func (n Names) DLQSubject(original string) string {
	return n.root + ".dlq." + strings.TrimPrefix(original, n.root+".")
}

// DLQFilter matches every dead letter.
func (n Names) DLQFilter() string { return n.root + ".dlq.>" }

// MemberDLQFilters match every dead letter that concerns a member.
func (n Names) MemberDLQFilters(member string) []string {
	return []string{n.root + ".dlq.ev.*.*." + member, n.root + ".dlq.crm." + member}
}

// MemberFromSubject returns the member token of an event or contact change subject.
func (n Names) MemberFromSubject(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, n.root+".")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, ".")
	switch {
	case len(parts) == 4 && parts[0] == "ev":
		return parts[3], true
	case len(parts) == 2 && parts[0] == "crm":
		return parts[1], true
	}
	return "", false
}
