package commands

// orgTexts are the texts of the organisers' view (scopes, the digest, the dashboard link),
// kept beside the main catalogue so both grow without touching each other.
type orgTexts struct {
	HelpExtra string // appended to Catalogue.HelpOrganiser
	// NoScope answers an organiser who is a member of no group relais follows.
	NoScope string
	// OtherGroups counts (%d) the unchecked groups the organiser was not known to be in:
	// their titles are not theirs to learn.
	OtherGroups string
	// Unchecked heads an answer, digest or page built on an incomplete scope: %[1]s the
	// titles of the groups the platform could not answer about.
	Unchecked string

	DashboardLink string // %[1]s link, %[2]d minutes it stays valid
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
	DigestMore        string // %[1]d
	ChartCaption      string // %[1]s title, %[2]d days
}

func orgTextsFor(lang string) orgTexts {
	if lang == "en" {
		return orgTexts{
			HelpExtra:   "\n/bilan : the weekly digest, now\n/tableau : a link to the dashboard",
			OtherGroups: "%d other group(s)",
			NoScope: "You are a member of none of the groups relais follows, as far as the platform says: " +
				"nothing to show you.",
			Unchecked: "⚠️ The platform could not tell me whether you are a member of: %[1]s. " +
				"Those groups are not counted here; try again in a few minutes.",
			DashboardLink: "Your dashboard: %[1]s\nThe link works once, within %[2]d minutes. Do not share it.",
			DashboardOff:  "The dashboard is not enabled on this relais.",

			DigestTitle:       "📬 Weekly digest, %[1]s",
			DigestGroupsTitle: "Groups (messages this week / last week):",
			DigestGroupLine:   "• %[1]s: %[2]d / %[3]d %[4]s",
			DigestGrowing:     "↗ growing",
			DigestFading:      "↘ fading",
			DigestSteady:      "→ steady",
			DigestNewActive:   "New actives (%[1]d):",
			DigestNewLeaders:  "New leaders (%[1]d):",
			DigestInactive:    "Became inactive (%[1]d):",
			DigestNobody:      "  nobody",
			DigestSync:        "CRM sync: %[1]d waiting, last success %[2]s",
			DigestSyncError:   "Last CRM error (%[1]s): %[2]s",
			DigestSyncNone:    "CRM sync: not reported by this relais.",
			DigestMore:        "  … and %[1]d more",
			ChartCaption:      "📈 %[1]s: last %[2]d days",
		}
	}
	return orgTexts{
		HelpExtra:   "\n/bilan : le bilan de la semaine, tout de suite\n/tableau : un lien vers le tableau de bord",
		OtherGroups: "%d autre(s) groupe(s)",
		NoScope: "D'après la plateforme, vous n'êtes membre d'aucun des groupes que suit relais : " +
			"rien à vous montrer.",
		Unchecked: "⚠️ La plateforme n'a pas pu me dire si vous êtes membre de : %[1]s. " +
			"Ces groupes ne sont pas comptés ici ; réessayez dans quelques minutes.",
		DashboardLink: "Votre tableau de bord : %[1]s\nLe lien ne sert qu'une fois, dans les %[2]d minutes. Ne le partagez pas.",
		DashboardOff:  "Le tableau de bord n'est pas activé sur ce relais.",

		DigestTitle:       "📬 Bilan de la semaine, %[1]s",
		DigestGroupsTitle: "Groupes (messages cette semaine / la précédente) :",
		DigestGroupLine:   "• %[1]s : %[2]d / %[3]d %[4]s",
		DigestGrowing:     "↗ en hausse",
		DigestFading:      "↘ en baisse",
		DigestSteady:      "→ stable",
		DigestNewActive:   "Nouveaux actifs (%[1]d) :",
		DigestNewLeaders:  "Nouveaux relais (%[1]d) :",
		DigestInactive:    "Devenus inactifs (%[1]d) :",
		DigestNobody:      "  personne",
		DigestSync:        "Synchro CRM : %[1]d en attente, dernier succès %[2]s",
		DigestSyncError:   "Dernière erreur CRM (%[1]s) : %[2]s",
		DigestSyncNone:    "Synchro CRM : non suivie par ce relais.",
		DigestMore:        "  … et %[1]d de plus",
		ChartCaption:      "📈 %[1]s : %[2]d derniers jours",
	}
}
