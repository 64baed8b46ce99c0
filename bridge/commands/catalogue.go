package commands

import (
	"fmt"
	"strings"
	"time"
)

// NoticeVersion is the version of the information notice text. Raise it when the notice
// changes in substance: groups get the new one posted, and consent records say which one a
// member was shown. Version 2 says that members who said yes may receive calls to action
// (campaigns), at most RELAIS_CAMPAIGN_MAX_PER_WEEK a week.
const NoticeVersion = 2

// Catalogue holds every text the bot sends, in one language. Verbs are positional (%[1]s) so
// a translation may reorder them; TestCataloguesMatch checks both languages take the same
// arguments.
type Catalogue struct {
	Lang string

	// Controller is who is responsible for the data when the configuration names nobody.
	Controller string

	HelpMember    string // %[1]s controller
	HelpOrganiser string
	Unknown       string // put before the help text
	SlowDown      string
	Refused       string

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

	// Notice is the information text: %[1]s controller, %[2]d window days, %[3]d retention
	// days, %[4]s the policy sentence.
	Notice       string
	NoticeOptIn  string
	NoticeNotice string

	MyDataTitle   string
	MyDataNothing string
	MyDataFooter  string // %[1]d retention days

	LabelName       string
	LabelUsername   string
	LabelPhone      string
	LabelPlatform   string
	LabelGroups     string
	LabelMessages   string // %[1]d window days
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
	StatsGroupLine  string // %[1]s title %[2]d members %[3]d active 30 days %[4]s sparkline
	StatsMore       string // %[1]d more groups
	NoGroups        string
	GroupNotFound   string // %[1]s what was asked
	ManyGroups      string
	StatsUsageHint  string
	ActiveTitle     string // %[1]d count %[2]d window days
	ActiveLine      string // %[1]d rank %[2]s member %[3]d messages %[4]d active days
	LeadersTitle    string // %[1]d count %[2]d window days
	LeadersLine     string // %[1]d rank %[2]s member %[3]d people
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
}

// French is the default catalogue. The bot says "vous" to everyone.
func French() Catalogue {
	return Catalogue{
		Lang:       "fr",
		Controller: "l'équipe",

		HelpMember: "Bonjour ! Je suis relais, le bot de %[1]s. Je compte l'activité dans les groupes " +
			"(nombre de messages et de réponses, jamais leur contenu).\n" +
			"/oui : accepter d'être recontacté(e) comme relais local\n" +
			"/stop : vous opposer, plus aucun traitement\n" +
			"/moi : voir ce que je sais de vous (en privé)\n" +
			"/oubli : effacer toutes vos données\n" +
			"/confidentialite : comment vos données sont utilisées",
		HelpOrganiser: "Organisateurs :\n" +
			"/stats [groupe] : membres, actifs, messages par jour\n" +
			"/actifs [n] : les membres les plus actifs\n" +
			"/relais [n] : les relais, ceux à qui les autres répondent\n" +
			"/fiche <nom ou @pseudo> : la fiche d'un membre\n" +
			"/sync : état de la synchronisation avec le CRM",
		Unknown:  "Je ne connais pas cette commande.",
		SlowDown: "Doucement 🙂 Trop de commandes d'un coup : réessayez dans une minute.",
		Refused:  "Désolé, cette commande est réservée aux organisateurs.",

		AnsweredPrivately: "Je vous ai répondu en privé.",
		StartMeFirst: "Je n'ai pas pu vous écrire en privé. Ouvrez une conversation avec moi%[1]s, " +
			"appuyez sur Démarrer, puis renvoyez la commande.",

		Yes: "Merci ! C'est noté : vous acceptez que %[1]s vous recontacte comme relais local, " +
			"à partir de votre activité dans les groupes (jamais le contenu des messages). " +
			"Vous pouvez changer d'avis à tout moment avec /stop.",
		YesAskPhone: "Si vous le souhaitez, partagez votre numéro avec le bouton ci-dessous pour être rappelé(e).",
		PhoneSaved:  "Merci, votre numéro est enregistré. /stop pour retirer votre accord.",
		Stopped: "C'est noté : vos données ne seront plus traitées et vous ne serez pas recontacté(e). " +
			"/oubli pour tout effacer.",
		Forgotten: "Effacement terminé : vos données ont été effacées, du CRM compris. Je garde seulement " +
			"une trace anonyme pour ne plus jamais vous compter.",
		Rebuilding: "Les chiffres sont en cours de reconstruction après un redémarrage (%[1]d %%) : " +
			"réessayez dans un instant.",
		ForgetRequested: "Demande d'effacement enregistrée : plus rien de vous n'est traité. " +
			"Je vous écris ici dès que l'effacement est terminé, CRM compris.",
		ForgetFailed: "L'effacement dans le CRM a échoué (%[1]s). Vos données ne sont plus traitées par relais ; " +
			"l'équipe doit terminer l'effacement dans le CRM. Vous pouvez renvoyer /oubli.",

		Notice: "ℹ️ Vos données dans ce groupe\n" +
			"Qui : %[1]s, avec le bot relais.\n" +
			"Quoi : pour chaque membre, le nombre de messages, de réponses et de mentions, les jours " +
			"d'activité et les groupes. Jamais le contenu des messages.\n" +
			"Pourquoi : repérer les bénévoles actifs et ceux à qui les autres répondent souvent, " +
			"pour leur proposer de devenir relais locaux. %[4]s\n" +
			"Durée : l'activité compte sur %[2]d jours ; tout est effacé après %[3]d jours au plus.\n" +
			"Vos droits : /moi pour voir vos données, /stop pour vous opposer, /oubli pour tout " +
			"effacer. Vous pouvez aussi saisir la CNIL (cnil.fr).",
		NoticeOptIn:  "Personne n'est ajouté au fichier des bénévoles sans avoir dit /oui.",
		NoticeNotice: "Les membres les plus actifs sont ajoutés au fichier des bénévoles, sauf s'ils s'y opposent avec /stop.",

		MyDataTitle:   "Ce que relais sait de vous :",
		MyDataNothing: "relais ne détient aucune donnée d'activité sur vous.",
		MyDataFooter:  "Aucun contenu de message n'est conservé. Tout est effacé après %[1]d jours au plus. /oubli pour tout effacer maintenant.",

		LabelName:       "Nom",
		LabelUsername:   "Pseudo",
		LabelPhone:      "Téléphone",
		LabelPlatform:   "Messagerie",
		LabelGroups:     "Groupes",
		LabelMessages:   "Messages (%[1]d derniers jours)",
		LabelActiveDays: "Jours actifs",
		LabelPeople:     "Personnes qui ont répondu ou mentionné",
		LabelReplies:    "Réponses et mentions reçues (%[1]d j)",
		LabelFirstSeen:  "Vu(e) la première fois",
		LabelLastSeen:   "Vu(e) la dernière fois",
		LabelTags:       "Étiquettes",
		LabelConsent:    "Consentement",

		ConsentYes:    "oui, depuis le %[1]s",
		ConsentStop:   "opposition depuis le %[1]s",
		ConsentErased: "effacement demandé",
		ConsentNone:   "pas de réponse",

		StatsAll:        "📊 Tous les groupes",
		StatsMembers:    "Membres vus : %[1]d · actifs 7 j : %[2]d · actifs 30 j : %[3]d",
		StatsMessages:   "Messages par jour (14 j) : %[1]s total %[2]d, record %[3]d",
		StatsGroupLine:  "• %[1]s : %[2]d membres, %[3]d actifs (30 j) %[4]s",
		StatsMore:       "… et %[1]d autres groupes.",
		NoGroups:        "Aucun groupe pour l'instant.",
		GroupNotFound:   "Aucun groupe ne correspond à « %[1]s ».",
		ManyGroups:      "Plusieurs groupes correspondent, précisez :",
		StatsUsageHint:  "/stats <groupe> pour le détail d'un groupe.",
		ActiveTitle:     "Les %[1]d membres les plus actifs (%[2]d derniers jours) :",
		ActiveLine:      "%[1]d. %[2]s · messages : %[3]d · jours actifs : %[4]d",
		LeadersTitle:    "Les %[1]d relais (%[2]d derniers jours), par nombre de personnes qui leur ont répondu ou les ont mentionnés :",
		LeadersLine:     "%[1]d. %[2]s · personnes : %[3]d",
		NobodyYet:       "Personne pour l'instant.",
		CardUsage:       "Utilisation : /fiche <nom ou @pseudo>",
		CardNotFound:    "Personne ne correspond à « %[1]s ».",
		ManyMembers:     "Plusieurs personnes correspondent, précisez :",
		SyncTitle:       "🔄 Synchronisation CRM",
		SyncPending:     "En attente : %[1]d",
		SyncLastSuccess: "Dernier succès : %[1]s",
		SyncLastError:   "Dernière erreur (%[1]s) : %[2]s",
		SyncNoError:     "Aucune erreur.",
		SyncUnavailable: "L'état de la synchronisation n'est pas disponible ici.",
		Never:           "jamais",

		DateLayout: "02/01/2006",
		Colon:      " : ",
	}
}

// English is the RELAIS_LANG=en catalogue.
func English() Catalogue {
	return Catalogue{
		Lang:       "en",
		Controller: "the team",

		HelpMember: "Hello! I am relais, the bot of %[1]s. I count activity in the groups " +
			"(number of messages and replies, never what they say).\n" +
			"/consent: agree to be contacted again as a local relay\n" +
			"/stop: object, no further processing\n" +
			"/mydata: see what I know about you (privately)\n" +
			"/forget: erase all your data\n" +
			"/privacy: how your data is used",
		HelpOrganiser: "Organisers:\n" +
			"/stats [group]: members, active members, messages per day\n" +
			"/active [n]: the most active members\n" +
			"/leaders [n]: the relays, people others answer\n" +
			"/card <name or @username>: one member's card\n" +
			"/sync: state of the CRM sync",
		Unknown:  "I do not know that command.",
		SlowDown: "Easy 🙂 Too many commands at once: try again in a minute.",
		Refused:  "Sorry, this command is for organisers only.",

		AnsweredPrivately: "I answered you privately.",
		StartMeFirst: "I could not write to you privately. Open a chat with me%[1]s, press Start, " +
			"then send the command again.",

		Yes: "Thank you! Noted: you agree that %[1]s may contact you again as a local relay, " +
			"based on your activity in the groups (never what your messages say). " +
			"You can change your mind at any time with /stop.",
		YesAskPhone: "If you wish, share your number with the button below so we can call you.",
		PhoneSaved:  "Thank you, your number is saved. /stop to withdraw your consent.",
		Stopped: "Noted: your data will no longer be processed and you will not be contacted. " +
			"/forget to erase everything.",
		Forgotten: "Erasure complete: your data has been erased, in the CRM too. I only keep an anonymous " +
			"trace so that I never count you again.",
		Rebuilding: "The figures are being rebuilt after a restart (%[1]d%%): try again in a moment.",
		ForgetRequested: "Erasure request recorded: nothing of yours is processed any more. " +
			"I will write to you here as soon as the erasure is complete, CRM included.",
		ForgetFailed: "The erasure in the CRM failed (%[1]s). relais no longer processes your data; " +
			"the team must finish the erasure in the CRM. You can send /forget again.",

		Notice: "ℹ️ Your data in this group\n" +
			"Who: %[1]s, with the relais bot.\n" +
			"What: for each member, the number of messages, replies and mentions, the days active " +
			"and the groups. Never what messages say.\n" +
			"Why: to find active volunteers and the people others often answer, to offer them " +
			"to become local relays. %[4]s\n" +
			"How long: activity counts over %[2]d days; everything is erased after %[3]d days at most.\n" +
			"Your rights: /mydata to see your data, /stop to object, /forget to erase everything. " +
			"You may also complain to the CNIL (cnil.fr).",
		NoticeOptIn:  "Nobody is added to the volunteer file without saying /consent.",
		NoticeNotice: "The most active members are added to the volunteer file unless they object with /stop.",

		MyDataTitle:   "What relais knows about you:",
		MyDataNothing: "relais holds no activity data about you.",
		MyDataFooter:  "No message content is kept. Everything is erased after %[1]d days at most. /forget to erase everything now.",

		LabelName:       "Name",
		LabelUsername:   "Username",
		LabelPhone:      "Phone",
		LabelPlatform:   "Platform",
		LabelGroups:     "Groups",
		LabelMessages:   "Messages (last %[1]d days)",
		LabelActiveDays: "Active days",
		LabelPeople:     "People who replied or mentioned",
		LabelReplies:    "Replies and mentions received (%[1]d d)",
		LabelFirstSeen:  "First seen",
		LabelLastSeen:   "Last seen",
		LabelTags:       "Tags",
		LabelConsent:    "Consent",

		ConsentYes:    "yes, since %[1]s",
		ConsentStop:   "objected on %[1]s",
		ConsentErased: "erasure requested",
		ConsentNone:   "no answer",

		StatsAll:        "📊 All groups",
		StatsMembers:    "Members seen: %[1]d · active 7 d: %[2]d · active 30 d: %[3]d",
		StatsMessages:   "Messages per day (14 d): %[1]s total %[2]d, busiest %[3]d",
		StatsGroupLine:  "• %[1]s: %[2]d members, %[3]d active (30 d) %[4]s",
		StatsMore:       "… and %[1]d more groups.",
		NoGroups:        "No groups yet.",
		GroupNotFound:   "No group matches “%[1]s”.",
		ManyGroups:      "Several groups match, please be more precise:",
		StatsUsageHint:  "/stats <group> for one group's details.",
		ActiveTitle:     "The %[1]d most active members (last %[2]d days):",
		ActiveLine:      "%[1]d. %[2]s · messages: %[3]d · active days: %[4]d",
		LeadersTitle:    "The %[1]d relays (last %[2]d days), by how many people replied to or mentioned them:",
		LeadersLine:     "%[1]d. %[2]s · people: %[3]d",
		NobodyYet:       "Nobody yet.",
		CardUsage:       "Usage: /card <name or @username>",
		CardNotFound:    "Nobody matches “%[1]s”.",
		ManyMembers:     "Several people match, please be more precise:",
		SyncTitle:       "🔄 CRM sync",
		SyncPending:     "Pending: %[1]d",
		SyncLastSuccess: "Last success: %[1]s",
		SyncLastError:   "Last error (%[1]s): %[2]s",
		SyncNoError:     "No errors.",
		SyncUnavailable: "The sync state is not available here.",
		Never:           "never",

		DateLayout: "2006-01-02",
		Colon:      ": ",
	}
}

// CatalogueFor returns the catalogue of a language (RELAIS_LANG); "" is French.
func CatalogueFor(lang string) (Catalogue, error) {
	switch strings.ToLower(strings.TrimSpace(lang)) {
	case "", "fr":
		return French(), nil
	case "en":
		return English(), nil
	}
	return Catalogue{}, fmt.Errorf("commands: language %q: want fr or en", lang)
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
