package commands

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

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
