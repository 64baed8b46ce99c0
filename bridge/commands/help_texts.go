package commands

// helpTexts are /aide's words: an intro, a heading per audience, and per command key its
// argument's usage and one line of what it does.
type helpTexts struct {
	Intro      string // %[1]s controller
	Organisers string
	Admins     string
	Usage      map[string]string
	Line       map[string]string
}

func helpTextsFor(lang string) helpTexts {
	if lang == "en" {
		return helpTexts{
			Intro:      "Hello! I am relais, the bot of %[1]s. I count activity in the groups (number of messages and replies, never what they say).",
			Organisers: "Organisers:",
			Admins:     "Admins:",
			Usage: map[string]string{
				"stats": "[group]", "actifs": "[n]", "relais": "[n]", "fiche": "<name or @username>",
				"mobiliser": "[leaders|actives|all] [in <group>, <group>]", "campagne": "<code>",
			},
			Line: map[string]string{
				"oui":             "agree to be contacted again as a local relay",
				"stop":            "object, no further processing",
				"moi":             "see what I know about you (privately)",
				"oubli":           "erase all your data",
				"confidentialite": "how your data is used",
				"stats":           "members, active members, messages per day",
				"actifs":          "the most active members",
				"relais":          "the relays, people others answer",
				"fiche":           "one member's card",
				"sync":            "state of the CRM sync",
				"bilan":           "the weekly digest, now",
				"tableau":         "a link to the dashboard",
				"mobiliser":       "then, on the next line, the message: a private call to action to the relays who said /consent",
				"campagnes":       "your campaigns and their answers",
				"campagne":        "one campaign in detail",
			},
		}
	}
	return helpTexts{
		Intro:      "Bonjour ! Je suis relais, le bot de %[1]s. Je compte l'activité dans les groupes (nombre de messages et de réponses, jamais leur contenu).",
		Organisers: "Organisateurs :",
		Admins:     "Administrateurs :",
		Usage: map[string]string{
			"stats": "[groupe]", "actifs": "[n]", "relais": "[n]", "fiche": "<nom ou @pseudo>",
			"mobiliser": "[leaders|actifs|tous] [dans <groupe>, <groupe>]", "campagne": "<code>",
		},
		Line: map[string]string{
			"oui":             "accepter d'être recontacté comme relais local",
			"stop":            "vous opposer, plus aucun traitement",
			"moi":             "voir ce que je sais de vous (en privé)",
			"oubli":           "effacer toutes vos données",
			"confidentialite": "comment vos données sont utilisées",
			"stats":           "membres, actifs, messages par jour",
			"actifs":          "les membres les plus actifs",
			"relais":          "les relais, ceux à qui les autres répondent",
			"fiche":           "la fiche d'un membre",
			"sync":            "état de la synchronisation avec le CRM",
			"bilan":           "le bilan de la semaine, tout de suite",
			"tableau":         "un lien vers le tableau de bord",
			"mobiliser":       "puis, à la ligne, le message : un appel à l'action, en privé, aux relais qui ont dit /oui",
			"campagnes":       "vos campagnes et leurs réponses",
			"campagne":        "le détail d'une campagne",
		},
	}
}
