package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/relais-bot/relais/locale"
)

// NoticeVersion is the version of the information notice text. Raise it when the notice
// changes in substance: groups get the new one posted, and consent records say which one a
// member was shown. Version 2 says that members who said yes may receive calls to action
// (campaigns), at most RELAIS_CAMPAIGN_MAX_PER_WEEK a week.
const NoticeVersion = 2

// Catalogue holds every text the bot sends, in one language, filled from the message file
// group "commands" (package locale). Verbs are positional (%[1]s) so a translation may
// reorder them; in a locale.Plural %[1]d is the count that picks the form.
type Catalogue struct {
	Lang string `locale:"-"`

	// Controller is who is responsible for the data when the configuration names nobody.
	Controller string

	Unknown  string // put before the help text
	SlowDown string
	Refused  string

	AnsweredPrivately string
	StartMeFirst      string // %[1]s " (@bot)" or ""

	Yes         string // %[1]s controller
	YesAskPhone string
	PhoneSaved  string
	Stopped     string
	Forgotten   string
	// ForgetRequested is the first step of an erasure: the request is recorded, and nothing
	// of the member is processed any more; Forgotten (or ForgetFailed) follows when done.
	ForgetRequested string
	// ForgetFailed is sent when the CRM refused the erasure for good; %s is its reason.
	ForgetFailed string
	// Rebuilding answers an organiser while the state is rebuilt after a start; %[1]d is the
	// progress in percent.
	Rebuilding string

	// Notice is the information text: %[1]s controller, %[2]s window and %[3]s retention
	// (Days), %[4]s the policy sentence.
	Notice       string
	NoticeOptIn  string
	NoticeNotice string

	MyDataTitle   string
	MyDataNothing string
	MyDataFooter  locale.Plural // %[1]d retention days

	LabelName       string
	LabelUsername   string
	LabelPhone      string
	LabelPlatform   string
	LabelGroups     string
	LabelMessages   locale.Plural // %[1]d window days
	LabelActiveDays string
	LabelPeople     string
	LabelReplies    string
	LabelFirstSeen  string
	LabelLastSeen   string
	LabelTags       string
	LabelConsent    string

	ConsentYes    string // %[1]s date
	ConsentStop   string // %[1]s date
	ConsentErased string
	ConsentNone   string

	StatsAll        string // title of the overview
	StatsMembers    string // %[1]d seen %[2]d active 7 days %[3]d active 30 days
	StatsMessages   string // %[1]s sparkline %[2]d total %[3]d busiest day
	StatsGroupLine  string // %[1]s title %[2]s MemberCount %[3]s ActiveCount (30 days) %[4]s sparkline
	MemberCount     locale.Plural
	ActiveCount     locale.Plural
	StatsMore       locale.Plural // %[1]d more groups
	NoGroups        string
	GroupNotFound   string // %[1]s what was asked
	ManyGroups      string
	StatsUsageHint  string
	ActiveTitle     locale.Plural // %[1]d count %[2]s window (Days)
	ActiveLine      string        // %[1]d rank %[2]s member %[3]d messages %[4]d active days
	LeadersTitle    locale.Plural // %[1]d count %[2]s window (Days)
	LeadersLine     string        // %[1]d rank %[2]s member %[3]d people
	NobodyYet       string
	CardUsage       string
	CardNotFound    string // %[1]s what was asked
	ManyMembers     string
	SyncTitle       string
	SyncPending     string // %[1]d
	SyncLastSuccess string // %[1]s date or never
	SyncLastError   string // %[1]s date %[2]s error
	SyncNoError     string
	SyncUnavailable string
	Never           string

	// DateLayout formats days for this language; Colon separates a label from its value
	// (French puts a space before the colon).
	DateLayout string
	Colon      string
	// Days says a number of days ("30 jours"), for texts with another count.
	Days locale.Plural
}

// CatalogueFor returns the catalogue of a language (RELAIS_LANG), read from its message
// file (package locale); "" is French.
func CatalogueFor(lang string) (Catalogue, error) {
	l, err := locale.Lang(lang)
	if err != nil {
		return Catalogue{}, fmt.Errorf("commands: %w", err)
	}
	c := Catalogue{Lang: l}
	if err := locale.Fill(l, "commands", &c); err != nil {
		return Catalogue{}, fmt.Errorf("commands: %w", err)
	}
	return c, nil
}

// date formats a day, or says never for the zero time.
func (c Catalogue) date(t time.Time) string {
	if t.IsZero() {
		return c.Never
	}
	return t.UTC().Format(c.DateLayout)
}

// dateTime formats an instant to the minute (UTC), for sync times.
func (c Catalogue) dateTime(t time.Time) string {
	if t.IsZero() {
		return c.Never
	}
	return t.UTC().Format(c.DateLayout + " 15:04 UTC")
}

// sparkBars are the eight heights of a sparkline, lowest first.
const sparkBars = "▁▂▃▄▅▆▇█"

// Sparkline draws one bar per value, scaled to the largest; negatives count as zero.
func Sparkline(values []int) string {
	bars := []rune(sparkBars)
	peak := 0
	for _, v := range values {
		peak = max(peak, v)
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if peak > 0 && v > 0 {
			// Any activity shows above the floor; the peak gets the full bar.
			i = 1 + (v*(len(bars)-1)-1)/peak
			i = min(i, len(bars)-1)
		}
		b.WriteRune(bars[i])
	}
	return b.String()
}
