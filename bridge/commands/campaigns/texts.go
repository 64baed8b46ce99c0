package campaigns

import "strings"

// CampaignTexts are the words of campaigns, kept beside the main catalogue (one per language).
type CampaignTexts struct {
	HelpOrganiser string
	// Usage explains /mobiliser; Disabled says campaigns are not available here.
	Usage, Disabled string
	// Preview: %[1]s audience, %[2]s slug, %[3]s the message as members see it, then the counts.
	Preview                                           string
	CountNow, CountUnreachable, CountNotConsented     string
	CountObjected, CountOptedOut, CountCapped         string
	ConfirmHint, ConfirmWords                         string
	ButtonSend, ButtonCancel                          string
	Queued, NothingToSend, Cancelled, AlreadyDone     string
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
	// NoticeCap is added to the information notice: %d campaigns a week at most.
	NoticeCap string
	// States of a campaign.
	StateDraft, StateCancelled, StateSending string
}

func frenchCampaigns() CampaignTexts {
	return CampaignTexts{
		HelpOrganiser: "/mobiliser [leaders|actifs|tous] [dans <groupe>, <groupe>] puis, à la ligne, le message : un appel à l'action, en privé, aux relais qui ont dit /oui\n" +
			"/campagnes : vos campagnes et leurs réponses\n" +
			"/campagne <code> : le détail d'une campagne",
		Usage: "Pour mobiliser, écrivez en privé :\n/mobiliser leaders dans Quartier Nord\nVotre message, sur une ou plusieurs lignes.\n\n" +
			"Public : leaders, actifs ou tous ; « dans » suivi des groupes (séparés par des virgules), sinon tous les groupes. " +
			"Vous verrez un aperçu et les chiffres avant tout envoi.",
		Disabled:          "Les campagnes ne sont pas disponibles ici.",
		Preview:           "📣 Aperçu de la campagne %[2]s\nPublic : %[1]s\n\nLe message tel que les membres le verront :\n――――――――\n%[3]s\n――――――――",
		CountNow:          "✅ joignables maintenant : %d",
		CountUnreachable:  "📭 d'accord mais injoignables (jamais écrit au bot en privé) : %d",
		CountNotConsented: "🚫 n'ont pas dit /oui (non contactés) : %d",
		CountObjected:     "⛔ opposés (non contactés) : %d",
		CountOptedOut:     "🔕 ne veulent plus être sollicités : %d",
		CountCapped:       "⏸️ déjà sollicités %d fois ces 7 derniers jours : %d",
		ConfirmHint:       "Rien n'est envoyé sans votre confirmation.",
		ConfirmWords:      "Répondez ENVOYER pour confirmer, ou ANNULER.",
		ButtonSend:        "✅ Envoyer",
		ButtonCancel:      "❌ Annuler",
		Queued:            "📣 Campagne %[1]s confirmée : %[2]d message(s) en cours d'envoi, au rythme que la plateforme permet. /campagne %[1]s pour suivre.",
		NothingToSend:     "Personne n'est joignable pour la campagne %s : rien n'est envoyé.",
		Cancelled:         "Campagne %s annulée : rien n'a été envoyé.",
		AlreadyDone:       "La campagne %s est déjà %s.",
		AlreadyConfirmed:  "La campagne %[1]s est déjà confirmée : personne ne la reçoit deux fois. /campagne %[1]s pour suivre.",
		NoDraft:           "Aucune campagne en attente de confirmation.",
		NoCampaign:        "Je ne trouve pas de campagne à laquelle répondre.",
		NoSuchCampaign:    "Je ne connais pas la campagne %s.",
		NoGroupMatch:      "Aucun groupe ne correspond à « %s ».",
		Incomplete: "⚠️ La plateforme n'a pas pu me dire si vous êtes membre de : %[2]s. L'audience de la campagne %[1]s serait incomplète : " +
			"rien n'est envoyé. Réessayez dans quelques minutes.",
		PreviewIncomplete: "⚠️ La plateforme n'a pas pu me dire si vous êtes membre de : %[1]s. Ces groupes ne sont pas comptés ; " +
			"la campagne ne pourra être envoyée qu'une fois tous vos groupes vérifiés.",
		AudienceLeaders: "les relais (leaders)",
		AudienceActives: "les membres actifs",
		AudienceBoth:    "les relais et les membres actifs",
		AllGroups:       "tous les groupes",
		ListTitle:       "📣 Vos campagnes :",
		DigestTitle:     "📣 Campagnes de la semaine :",
		ListLine:        "• %s (%s, %s) : %d envoyés, %d échecs, %d bloqués ; réponses : %d relaient, %d pas cette fois, %d ne plus solliciter",
		Detail: "📣 Campagne %[1]s (%[2]s, %[3]s)\nPublic : %[4]s\n\n%[5]s\n\n" +
			"Envoyés : %[6]d · en file : %[7]d · échecs : %[8]d · bloqués : %[9]d · interrompus : %[10]d · retirés avant l'envoi : %[14]d\n" +
			"Réponses : %[11]d relaient · %[12]d pas cette fois · %[13]d ne plus solliciter",
		DetailRelayers: "Relaient :",
		NoneYet:        "Aucune campagne pour l'instant.",
		Footer:         "— message de %s, envoyé par relais parce que vous avez dit /oui (au plus %d par semaine).",
		Words:          "Répondez 1 (Je relaie), 2 (Pas cette fois) ou 3 (Ne plus me solliciter).",
		ButtonRelay:    "📣 Je relaie",
		ButtonNotNow:   "Pas cette fois",
		ButtonNoMore:   "Ne plus me solliciter",
		ThanksRelay:    "Merci ! C'est noté : vous relayez ce message.",
		ThanksNotNow:   "C'est noté, merci de votre réponse.",
		ThanksNoMore:   "C'est noté : vous ne recevrez plus d'appels à l'action. Le reste ne change pas (/stop pour vous opposer à tout).",
		NoticeCap:      "Les membres qui ont dit /oui peuvent recevoir en privé au plus %d appels à l'action par semaine, et les refuser à tout moment (« Ne plus me solliciter »).",
		StateDraft:     "en attente de confirmation",
		StateCancelled: "annulée",
		StateSending:   "envoyée",
	}
}

func englishCampaigns() CampaignTexts {
	return CampaignTexts{
		HelpOrganiser: "/mobilise [leaders|actives|all] [in <group>, <group>] then, on the next line, the message: a private call to action to the relays who said /consent\n" +
			"/campaigns: your campaigns and their answers\n" +
			"/campaign <code>: one campaign in detail",
		Usage: "To mobilise, write privately:\n/mobilise leaders in North District\nYour message, on one or more lines.\n\n" +
			"Audience: leaders, actives or all; \"in\" then the groups (comma separated), else every group. " +
			"You will see a preview and the figures before anything is sent.",
		Disabled:          "Campaigns are not available here.",
		Preview:           "📣 Preview of campaign %[2]s\nAudience: %[1]s\n\nThe message as members will see it:\n――――――――\n%[3]s\n――――――――",
		CountNow:          "✅ reachable now: %d",
		CountUnreachable:  "📭 consented but unreachable (never wrote to the bot privately): %d",
		CountNotConsented: "🚫 never said /consent (not contacted): %d",
		CountObjected:     "⛔ objected (not contacted): %d",
		CountOptedOut:     "🔕 asked not to be called on again: %d",
		CountCapped:       "⏸️ already called on %d times in the last 7 days: %d",
		ConfirmHint:       "Nothing is sent without your confirmation.",
		ConfirmWords:      "Reply SEND to confirm, or CANCEL.",
		ButtonSend:        "✅ Send",
		ButtonCancel:      "❌ Cancel",
		Queued:            "📣 Campaign %[1]s confirmed: %[2]d message(s) being sent, as fast as the platform allows. /campaign %[1]s to follow it.",
		NothingToSend:     "Nobody is reachable for campaign %s: nothing is sent.",
		Cancelled:         "Campaign %s cancelled: nothing was sent.",
		AlreadyDone:       "Campaign %s is already %s.",
		AlreadyConfirmed:  "Campaign %[1]s is already confirmed: nobody gets it twice. /campaign %[1]s to follow it.",
		NoDraft:           "No campaign is waiting for confirmation.",
		NoCampaign:        "I cannot find a campaign to answer.",
		NoSuchCampaign:    "I do not know campaign %s.",
		NoGroupMatch:      "No group matches \"%s\".",
		Incomplete: "⚠️ The platform could not tell me whether you are a member of: %[2]s. Campaign %[1]s's audience would be incomplete: " +
			"nothing is sent. Try again in a few minutes.",
		PreviewIncomplete: "⚠️ The platform could not tell me whether you are a member of: %[1]s. Those groups are not counted; " +
			"the campaign can be sent only once all your groups are checked.",
		AudienceLeaders: "the relays (leaders)",
		AudienceActives: "the active members",
		AudienceBoth:    "the relays and the active members",
		AllGroups:       "every group",
		ListTitle:       "📣 Your campaigns:",
		DigestTitle:     "📣 This week's campaigns:",
		ListLine:        "• %s (%s, %s): %d sent, %d failed, %d blocked; answers: %d relay, %d not this time, %d no more calls",
		Detail: "📣 Campaign %[1]s (%[2]s, %[3]s)\nAudience: %[4]s\n\n%[5]s\n\n" +
			"Sent: %[6]d · queued: %[7]d · failed: %[8]d · blocked: %[9]d · interrupted: %[10]d · withdrawn before sending: %[14]d\n" +
			"Answers: %[11]d relay · %[12]d not this time · %[13]d no more calls",
		DetailRelayers: "Relaying:",
		NoneYet:        "No campaign yet.",
		Footer:         "— a message from %s, sent by relais because you said /consent (at most %d a week).",
		Words:          "Reply 1 (I relay), 2 (Not this time) or 3 (No more calls).",
		ButtonRelay:    "📣 I relay",
		ButtonNotNow:   "Not this time",
		ButtonNoMore:   "No more calls",
		ThanksRelay:    "Thank you! Noted: you relay this message.",
		ThanksNotNow:   "Noted, thank you for answering.",
		ThanksNoMore:   "Noted: you will receive no more calls to action. Nothing else changes (/stop to object to everything).",
		NoticeCap:      "Members who said /consent may receive privately at most %d calls to action a week, and refuse them at any time (\"No more calls\").",
		StateDraft:     "waiting for confirmation",
		StateCancelled: "cancelled",
		StateSending:   "sent",
	}
}

func campaignTextsFor(lang string) CampaignTexts {
	if strings.EqualFold(strings.TrimSpace(lang), "en") {
		return englishCampaigns()
	}
	return frenchCampaigns()
}
