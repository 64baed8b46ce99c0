package events

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A group's past (issue #25: relais import, WhatsApp's history sync) enters the event log as
// events like live ones, with two differences the bridge reads:
//
//   - each carries HeaderHistory (the import's id): the bridge applies it like a live event
//     but decides no contact change from it, so the CRM never sees history's intermediate
//     states; the import ends with one message carrying HeaderHistoryDone, on which the
//     bridge settles every member once, in their final state;
//   - it is stored under relais.ev.h<yyyymmdd>.<group>.<member>, the day being the event's
//     (UTC): MaxAge counts from storage, so an 80-day-old message imported today would
//     outlive the retention by 80 days; the bridge purges each day's subjects once that day
//     is past the retention instead. The member token stays last, so erasure's
//     MemberEventsFilter finds imported events as it finds live ones.
const (
	HeaderHistory     = "Relais-History"
	HeaderHistoryDone = "Relais-History-Done"
)

// historyDay is the layout of the day in a history subject.
const historyDay = "20060102"

// HistorySubject is relais.ev.h<yyyymmdd>.<group token>.<member token>, for an imported event
// of that day.
func (n Names) HistorySubject(at time.Time, group, member string) string {
	return n.root + ".ev.h" + at.UTC().Format(historyDay) + "." + group + "." + member
}

// HistoryDayFilter matches every imported event of one day (UTC).
func (n Names) HistoryDayFilter(day time.Time) string {
	return n.root + ".ev.h" + day.UTC().Format(historyDay) + ".>"
}

// HistoryDoneSubject is where the end of an import is marked. It names no member.
func (n Names) HistoryDoneSubject(importID string) string {
	return n.root + ".ev.hdone." + importID + ".end"
}

// GroupLiveFilter matches the live events of one group (not its imported ones).
func (n Names) GroupLiveFilter(p Platform, group string) string {
	return n.root + ".ev." + string(p) + "." + group + ".*"
}

// PlatformLiveFilter matches the live events of one platform.
func (n Names) PlatformLiveFilter(p Platform) string { return n.root + ".ev." + string(p) + ".>" }

// HistoryBucket is the KV bucket of imports per group: how far back each group's history
// was imported. Keys are group tokens; values hold dates and counts, no personal data.
func (n Names) HistoryBucket() string { return n.prefix + "RELAIS_HISTORY" }

// GroupFromSubject returns the group token of an event subject, live or imported.
func (n Names) GroupFromSubject(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, n.root+".ev.")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return "", false
	}
	return parts[1], true
}

// HistoryMsg encodes an imported event for the log: its day's history subject,
// HeaderHistory set to the import's id, and its own id as Nats-Msg-Id, so that an imported
// message the live adapter published too (same id) is dropped within the duplicate window.
func (p *Publisher) HistoryMsg(e Event, importID string) (*nats.Msg, error) {
	data, err := Encode(e)
	if err != nil {
		return nil, err
	}
	group := DirectGroup
	if e.Group != nil {
		group = p.hash.Group(e.Platform, e.Group.ID)
	}
	m := nats.NewMsg(p.names.HistorySubject(e.At, group, p.hash.Member(e.Platform, e.Sender.ID)))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	m.Header.Set(HeaderHistory, importID)
	return m, nil
}

// HistoryDoneMsg marks the end of an import: the bridge settles its members on it.
func (p *Publisher) HistoryDoneMsg(importID string) *nats.Msg {
	m := nats.NewMsg(p.names.HistoryDoneSubject(importID))
	m.Data = []byte("{}")
	m.Header.Set(jetstream.MsgIDHeader, "history-done:"+importID)
	m.Header.Set(HeaderHistoryDone, importID)
	return m
}
