package commands

import (
	"slices"
	"testing"

	"github.com/relais-bot/relais/events"
)

// notYet are names the events table knows for commands this handler does not implement yet.
// When one is built, add its names to commandNames and remove them from here.
var notYet = []string{}

// argOf is the argument kind each command reads.
func argOf(c command) events.ArgKind {
	switch c {
	case cmdStats:
		return events.ArgGroup
	case cmdActive, cmdLeaders:
		return events.ArgCount
	case cmdCard:
		return events.ArgMember
	case cmdMobilise:
		return events.ArgText
	case cmdCampaign, cmdSend, cmdCancel, cmdRelay, cmdNotNow, cmdNoMore:
		return events.ArgSlug
	}
	return events.ArgNone
}

// TestNamesMatchEvents checks that what events.ParseCommand calls a command is what lookup
// understands, and the other way round: each events name has a meaning here (or is listed as
// not yet built), the names of one events row share one meaning, that meaning reads the
// argument kind events keeps for it, and every name here is known to events.
func TestNamesMatchEvents(t *testing.T) {
	seen := map[string]bool{}
	for _, spec := range events.KnownCommands() {
		var meaning command
		for _, n := range spec.Names {
			seen[n] = true
			c, ok := lookup(n)
			if slices.Contains(notYet, n) {
				if ok {
					t.Errorf("%s is implemented: remove it from notYet", n)
				}
				continue
			}
			if !ok {
				t.Errorf("events knows /%s, lookup does not", n)
				continue
			}
			if meaning == 0 {
				meaning = c
			} else if c != meaning {
				t.Errorf("/%s means %d, its aliases mean %d", n, c, meaning)
			}
			if argOf(c) != spec.Arg {
				t.Errorf("/%s: events keeps a %v argument, the handler reads %v", n, spec.Arg, argOf(c))
			}
		}
	}
	for n := range commandNames {
		if _, ok := events.CommandArg(n); !ok || !seen[n] {
			t.Errorf("lookup knows /%s, events does not: it would never arrive as a command", n)
		}
	}
	for _, n := range notYet {
		if !seen[n] {
			t.Errorf("notYet lists /%s, which events does not know", n)
		}
	}
}
