package campaigns

import (
	"fmt"

	"github.com/relais-bot/relais/locale"
)

// CampaignTexts are the words of campaigns, kept beside the main catalogue (one per language),
// filled from the message file group "campaigns".
type CampaignTexts struct {
	// Usage explains /mobiliser; Disabled says campaigns are not available here.
	Usage, Disabled string
	// Preview: %[1]s audience, %[2]s slug, %[3]s the message as members see it, then the counts.
	Preview                                           string
	CountNow, CountUnreachable, CountNotConsented     string
	CountObjected, CountOptedOut                      string
	CountCapped                                       locale.Plural // %[1]d the weekly cap, %[2]d members
	ConfirmHint, ConfirmWords                         string
	ButtonSend, ButtonCancel                          string
	Queued                                            locale.Plural // %[1]d messages, %[2]s slug
	NothingToSend, Cancelled, AlreadyDone             string
	NoDraft, NoCampaign, NoSuchCampaign, NoGroupMatch string
	// AlreadyConfirmed answers a press of Envoyer on a campaign another press confirmed.
	AlreadyConfirmed string
	// Incomplete refuses a confirmation on a partial audience: %[1]s slug, %[2]s the groups
	// the platform could not answer about. PreviewIncomplete warns under a preview (%[1]s).
	Incomplete, PreviewIncomplete                        string
	AudienceLeaders, AudienceActives, AudienceBoth       string
	AllGroups                                            string
	ListTitle, ListLine, Detail, DetailRelayers, NoneYet string
	// DigestTitle heads the weekly digest's campaign section.
	DigestTitle string
	// Member side: the footer under a campaign message, the three choices, the words.
	Footer, Words                           string
	ButtonRelay, ButtonNotNow, ButtonNoMore string
	ThanksRelay, ThanksNotNow, ThanksNoMore string
	// NoticeCap is added to the information notice: %[1]d campaigns a week at most.
	NoticeCap locale.Plural
	// States of a campaign.
	StateDraft, StateCancelled, StateSending string
}

// campaignTextsFor reads the campaign texts of a language from its message file.
func campaignTextsFor(lang string) (CampaignTexts, error) {
	var t CampaignTexts
	if err := locale.Fill(lang, "campaigns", &t); err != nil {
		return CampaignTexts{}, fmt.Errorf("campaigns: %w", err)
	}
	return t, nil
}
