package commands

import (
	"strconv"
	"strings"
	"unicode/utf8"
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
)

// lookup maps a command name (already lowercased by events.ParseCommand) to its meaning:
// French first, English aliases. Telegram sends /start when someone opens a private chat
// with the bot: it gets the help text.
func lookup(name string) (command, bool) {
	switch name {
	case "aide", "help", "start", "commandes":
		return cmdHelp, true
	case "confidentialite", "vieprivee", "vie_privee", "privacy":
		return cmdPrivacy, true
	case "oui", "consent", "consentement", "yes":
		return cmdYes, true
	case "stop", "arret":
		return cmdStop, true
	case "oubli", "oublier", "forget", "erase":
		return cmdForget, true
	case "moi", "mesdonnees", "mydata", "me":
		return cmdMe, true
	case "stats", "statistiques":
		return cmdStats, true
	case "actifs", "active":
		return cmdActive, true
	case "relais", "leaders":
		return cmdLeaders, true
	case "fiche", "card":
		return cmdCard, true
	case "sync":
		return cmdSync, true
	}
	return 0, false
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
	case cmdStats, cmdActive, cmdLeaders, cmdCard, cmdSync:
		return true
	}
	return false
}

// Limits of list answers.
const (
	defaultListSize = 10
	maxListSize     = 50
	maxQueryRunes   = 64
)

// listSize reads the optional [n] of /actifs and /relais: a missing or unreadable n gives
// the default, and n is capped so an answer stays one message.
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
