package commands

import (
	"fmt"

	"github.com/relais-bot/relais/locale"
)

// orgTexts are the texts of the organisers' view (scopes, the digest, the dashboard link),
// kept beside the main catalogue so both grow without touching each other; filled from the
// message file group "organisers".
type orgTexts struct {
	// NoScope answers an organiser who is a member of no group relais follows.
	NoScope string
	// OtherGroups counts (%[1]d) the unchecked groups the organiser was not known to be in:
	// their titles are not theirs to learn.
	OtherGroups locale.Plural
	// Unchecked heads an answer, digest or page built on an incomplete scope: %[1]s the
	// titles of the groups the platform could not answer about.
	Unchecked string

	DashboardLink locale.Plural // %[1]d minutes it stays valid, %[2]s link
	// DashboardOff answers /tableau when this relais serves no dashboard.
	DashboardOff string

	DigestTitle       string // %[1]s week (2026-W10)
	DigestGroupsTitle string
	DigestGroupLine   string // %[1]s title, %[2]d messages this week, %[3]d last week, %[4]s trend
	DigestGrowing     string
	DigestFading      string
	DigestSteady      string
	DigestNewActive   string // %[1]d
	DigestNewLeaders  string // %[1]d
	DigestInactive    string // %[1]d
	DigestNobody      string
	DigestSync        string // %[1]d pending, %[2]s last success
	DigestSyncError   string // %[1]s when, %[2]s error
	DigestSyncNone    string
	DigestMore        string        // %[1]d
	ChartCaption      locale.Plural // %[1]d days, %[2]s title
}

// orgTextsFor reads the organisers' texts of a language from its message file.
func orgTextsFor(lang string) (orgTexts, error) {
	var t orgTexts
	if err := locale.Fill(lang, "organisers", &t); err != nil {
		return orgTexts{}, fmt.Errorf("commands: %w", err)
	}
	return t, nil
}
