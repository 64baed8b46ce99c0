package dashboard

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/relais-bot/relais/bridge/scope"
)

// texts are the dashboard's words in one language.
type texts struct {
	Lang, Title, Other, OtherLang                           string
	Login, LoginHelp, LinkInvalid, NeedLink, SessionExpired string
	Code, Refused                                           string
	LoggedOut, Logout, Unavailable, NotFound                string
	Admin, Organiser, ScopeAll, ScopeSome, ScopeNone        string
	Unchecked                                               string // %s: group titles
	OtherGroups                                             string // %d: unchecked groups not named
	Groups, Group, Members, Active7, Active30, ThisWeek     string
	LastWeek, Trend, Growing, Fading, Steady                string
	Leaders, LeadersWhy, Actives, ActivesWhy, Nobody        string
	NewActive, NewLeaders, Inactive, NewAndFading           string
	Sync, SyncPending, SyncLastSuccess, SyncLastError       string
	SyncNone, SyncOK, Never, Campaigns                      string
	Activity, ActivityHelp, Heatmap, HeatmapHelp, Back      string
	Days, Weekdays                                          []string
	Week, People, Messages, ActiveDays, InGroups            string
}

var textsFR = texts{
	Lang: "fr", Title: "Tableau de bord relais", Other: "en", OtherLang: "English",
	Login: "Se connecter", LoginHelp: "Ce lien ne sert qu'une fois. Appuyez pour ouvrir le tableau de bord.",
	Code: "Collez ici le lien reçu du bot :", Refused: "Connexion refusée : ouvrez le lien reçu du bot directement dans votre navigateur.",
	LinkInvalid:    "Ce lien n'est plus valable (déjà utilisé ou expiré). Envoyez /tableau au bot en privé pour en recevoir un nouveau.",
	NeedLink:       "Pour ouvrir le tableau de bord, envoyez /tableau au bot en privé : il vous enverra un lien de connexion.",
	SessionExpired: "Votre session a expiré. Envoyez /tableau au bot en privé pour un nouveau lien.",
	LoggedOut:      "Vous êtes déconnecté(e).", Logout: "Se déconnecter",
	Unavailable: "Le tableau de bord est momentanément indisponible. Réessayez dans un instant.",
	NotFound:    "Page introuvable.",
	Admin:       "administrateur", Organiser: "organisateur",
	ScopeAll: "Tous les groupes", ScopeSome: "Vos groupes (ceux dont vous êtes membre)",
	ScopeNone:   "D'après la plateforme, vous n'êtes membre d'aucun des groupes que suit relais.",
	OtherGroups: "%d autre(s) groupe(s)",
	Unchecked:   "⚠️ La plateforme n'a pas pu confirmer votre présence dans : %s. Ces groupes manquent sur cette page ; rechargez-la dans quelques minutes.",
	Groups:      "Groupes", Group: "Groupe", Members: "Membres vus", Active7: "Actifs 7 j", Active30: "Actifs 30 j",
	ThisWeek: "Cette semaine", LastWeek: "Semaine précédente", Trend: "Tendance",
	Growing: "↗ en hausse", Fading: "↘ en baisse", Steady: "→ stable",
	Leaders: "Relais", LeadersWhy: "personnes distinctes lui ont répondu ou l'ont mentionné(e)",
	Actives: "Actifs", ActivesWhy: "messages sur des jours distincts", Nobody: "Personne pour l'instant.",
	NewActive: "Nouveaux actifs", NewLeaders: "Nouveaux relais", Inactive: "Devenus inactifs",
	NewAndFading: "Nouveaux et en baisse (sur 7 jours)",
	Sync:         "Synchronisation CRM", SyncPending: "En attente", SyncLastSuccess: "Dernier succès", SyncLastError: "Dernière erreur",
	SyncNone: "Non suivie par ce relais.", SyncOK: "Aucune erreur", Never: "jamais", Campaigns: "Campagnes",
	Activity: "Messages par jour", ActivityHelp: "les %d derniers jours, aujourd'hui à droite",
	Heatmap: "Jour × heure", HeatmapHelp: "messages des 4 dernières semaines, heure locale", Back: "← Tous les groupes",
	Days:     []string{"lun", "mar", "mer", "jeu", "ven", "sam", "dim"},
	Weekdays: []string{"lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"},
	Week:     "semaine", People: "personnes", Messages: "messages", ActiveDays: "%d messages sur %d jour(s)", InGroups: "Groupes",
}

var textsEN = texts{
	Lang: "en", Title: "relais dashboard", Other: "fr", OtherLang: "Français",
	Login: "Log in", LoginHelp: "This link works once. Press to open the dashboard.",
	Code: "Paste the link the bot sent you here:", Refused: "Login refused: open the link the bot sent you directly in your browser.",
	LinkInvalid:    "This link is no longer valid (used already or expired). Send /tableau to the bot privately for a new one.",
	NeedLink:       "To open the dashboard, send /tableau to the bot privately: it will send you a login link.",
	SessionExpired: "Your session expired. Send /tableau to the bot privately for a new link.",
	LoggedOut:      "You are logged out.", Logout: "Log out",
	Unavailable: "The dashboard is unavailable for a moment. Try again shortly.",
	NotFound:    "Page not found.",
	Admin:       "administrator", Organiser: "organiser",
	ScopeAll: "Every group", ScopeSome: "Your groups (those you are a member of)",
	ScopeNone:   "As far as the platform says, you are a member of none of the groups relais follows.",
	OtherGroups: "%d other group(s)",
	Unchecked:   "⚠️ The platform could not confirm you are in: %s. Those groups are missing from this page; reload it in a few minutes.",
	Groups:      "Groups", Group: "Group", Members: "Members seen", Active7: "Active 7 d", Active30: "Active 30 d",
	ThisWeek: "This week", LastWeek: "Last week", Trend: "Trend",
	Growing: "↗ growing", Fading: "↘ fading", Steady: "→ steady",
	Leaders: "Leaders", LeadersWhy: "distinct people replied to or mentioned them",
	Actives: "Actives", ActivesWhy: "messages on distinct days", Nobody: "Nobody yet.",
	NewActive: "New actives", NewLeaders: "New leaders", Inactive: "Became inactive",
	NewAndFading: "New and fading (over 7 days)",
	Sync:         "CRM sync", SyncPending: "Waiting", SyncLastSuccess: "Last success", SyncLastError: "Last error",
	SyncNone: "Not reported by this relais.", SyncOK: "No error", Never: "never", Campaigns: "Campaigns",
	Activity: "Messages per day", ActivityHelp: "the last %d days, today on the right",
	Heatmap: "Weekday × hour", HeatmapHelp: "messages of the last 4 weeks, local time", Back: "← Every group",
	Days:     []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"},
	Weekdays: []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"},
	Week:     "week", People: "people", Messages: "messages", ActiveDays: "%d messages on %d day(s)", InGroups: "Groups",
}

// texts picks the language: ?lang= (or the form's lang), else RELAIS_LANG.
func (s *Server) texts(r *http.Request) texts {
	l := r.URL.Query().Get("lang")
	if l == "" && r.Method == http.MethodPost {
		l = r.PostFormValue("lang")
	}
	if l == "" {
		l = s.cfg.Lang
	}
	if l == "en" {
		return textsEN
	}
	return textsFR
}

// unchecked says which groups sc could not check, as the organiser may read it.
func (t texts) unchecked(sc scope.Scope) string {
	return fmt.Sprintf(t.Unchecked, strings.Join(sc.MissingNames(t.OtherGroups), ", "))
}
