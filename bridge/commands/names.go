package commands

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

// command is what a command name means, whatever its language.
type command int

const (
	cmdHelp command = iota + 1
	cmdPrivacy
	cmdYes
	cmdStop
	cmdForget
	cmdMe
	cmdStats
	cmdActive
	cmdLeaders
	cmdCard
	cmdSync
	cmdMobilise
	cmdCampaigns
	cmdCampaign
	cmdSend
	cmdCancel
	cmdRelay
	cmdNotNow
	cmdNoMore
	cmdDigest
	cmdDashboard
)

// commandNames maps each command name to its meaning: French first, English aliases. Telegram
// sends /start when someone opens a private chat with the bot: it gets the help text.
// It must agree with the table of known names in package events, which decides what is a
// command at all and what argument it keeps (TestNamesMatchEvents). Names events knows for
// commands not built yet are absent here, so they get the unknown-command answer until they
// are.
var commandNames = map[string]command{
	"aide": cmdHelp, "help": cmdHelp, "start": cmdHelp, "commandes": cmdHelp,
	"confidentialite": cmdPrivacy, "vieprivee": cmdPrivacy, "vie_privee": cmdPrivacy, "privacy": cmdPrivacy,
	"oui": cmdYes, "consent": cmdYes, "consentement": cmdYes, "yes": cmdYes,
	"stop": cmdStop, "arret": cmdStop,
	"oubli": cmdForget, "oublier": cmdForget, "forget": cmdForget, "erase": cmdForget,
	"moi": cmdMe, "mesdonnees": cmdMe, "mydata": cmdMe, "me": cmdMe,
	"stats": cmdStats, "statistiques": cmdStats,
	"actifs": cmdActive, "active": cmdActive,
	"relais": cmdLeaders, "leaders": cmdLeaders,
	"fiche": cmdCard, "card": cmdCard,
	"sync":      cmdSync,
	"mobiliser": cmdMobilise, "mobilise": cmdMobilise,
	"campagnes": cmdCampaigns, "campaigns": cmdCampaigns,
	"campagne": cmdCampaign, "campaign": cmdCampaign,
	"envoyer": cmdSend, "send": cmdSend,
	"annuler": cmdCancel, "cancel": cmdCancel,
	"jerelaie": cmdRelay, "relay": cmdRelay,
	"pascettefois": cmdNotNow, "notthistime": cmdNotNow,
	"neplusmesolliciter": cmdNoMore, "nomorecalls": cmdNoMore,
	"bilan": cmdDigest, "digest": cmdDigest,
	"tableau": cmdDashboard, "dashboard": cmdDashboard,
}

// lookup maps a command name (already lowercased by events.ParseCommand) to its meaning.
func lookup(name string) (command, bool) {
	c, ok := commandNames[name]
	return c, ok
}

// right reports whether a command exercises a member's rights over their data: never rate
// limited.
func (c command) right() bool {
	switch c {
	case cmdYes, cmdStop, cmdForget, cmdMe:
		return true
	}
	return false
}

// organiserOnly reports whether a command reveals other people's data.
func (c command) organiserOnly() bool {
	switch c {
	case cmdStats, cmdActive, cmdLeaders, cmdCard, cmdSync, cmdDigest, cmdDashboard,
		cmdMobilise, cmdCampaigns, cmdCampaign, cmdSend, cmdCancel:
		return true
	}
	return false
}

// campaignOrganiser reports whether a command is an organiser's campaign command.
func (c command) campaignOrganiser() bool {
	switch c {
	case cmdMobilise, cmdCampaigns, cmdCampaign, cmdSend, cmdCancel:
		return true
	}
	return false
}

// Limits of list answers.
const (
	defaultListSize = 10
	maxListSize     = 50
	maxQueryRunes   = events.MaxQueryRunes // what an event's group or member query keeps
)

// listSize reads the optional [n] of /actifs and /relais: a missing or unreadable n gives
// the default, and n is capped so an answer stays one message. events.ParseCommand already
// keeps only a small positive integer; this stays strict for any event that reaches here.
func listSize(args []string) int {
	if len(args) == 0 {
		return defaultListSize
	}
	n, err := strconv.Atoi(strings.TrimSpace(args[0]))
	if err != nil || n < 1 {
		return defaultListSize
	}
	return min(n, maxListSize)
}

// searchText joins the arguments of /fiche and /stats into what to search for: "Jean
// Dupont" need not be quoted. It is bounded, and empty when there is nothing to search.
func searchText(args []string) string {
	s := strings.Join(strings.Fields(strings.Join(args, " ")), " ")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	if utf8.RuneCountInString(s) > maxQueryRunes {
		s = string([]rune(s)[:maxQueryRunes])
	}
	return strings.TrimSpace(s)
}
