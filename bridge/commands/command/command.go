// Package command says what a bot command is: its names, who may run it, whether it is ever
// rate limited, the argument it keeps and its help line, declared once beside the function
// that answers it. Features (rights, organiser queries, campaigns, digest, dashboard link)
// declare their commands with Spec; package commands gathers them into one Set, dispatches
// events through it and writes /aide from it.
package command

import (
	"context"
	"fmt"
	"slices"

	"github.com/relais-bot/relais/events"
)

// Who is who may run a command.
type Who uint8

const (
	// Anyone: every member, in a group or privately.
	Anyone Who = iota + 1
	// Organisers: RELAIS_ORGANISERS and RELAIS_ADMINS; anyone else gets a refusal that
	// reveals nothing.
	Organisers
	// Admins: RELAIS_ADMINS only.
	Admins
)

func (w Who) String() string {
	switch w {
	case Anyone:
		return "anyone"
	case Organisers:
		return "organisers"
	case Admins:
		return "admins"
	}
	return "invalid"
}

// Rate is a command's rate class.
type Rate uint8

const (
	// Limited commands count against RELAIS_COMMANDS_PER_MINUTE (organisers are trusted
	// and never limited); a limited command is answered "slow down", never dropped.
	Limited Rate = iota + 1
	// Right: a member exercising their rights over their data (/oui, /stop, /oubli, /moi)
	// is never limited away.
	Right
)

func (r Rate) String() string {
	switch r {
	case Limited:
		return "limited"
	case Right:
		return "right"
	}
	return "invalid"
}

// Request is one command to answer.
type Request struct {
	Event events.Event
	// Member is the sender's canonical member token, whichever platform id they used.
	Member string
	// Organiser and Admin are what the deployment's lists say of the sender.
	Organiser, Admin bool
}

// Args are the command's arguments, as events.ParseCommand kept them.
func (r Request) Args() []string {
	if r.Event.Command == nil {
		return nil
	}
	return r.Event.Command.Args
}

// Func answers one command. Errors are retried unless marked events.Permanent.
type Func func(ctx context.Context, r Request) error

// Spec declares one command.
type Spec struct {
	// Key names the command in the message files (help.<key>, usage.<key>) and in logs.
	Key string
	// Names are what members type, French name first, then the English one, then other
	// aliases; they must be the names of one row of events.KnownCommands.
	Names []string
	// English is the name /aide shows in English (one of Names); "" shows Names[0].
	English string
	Who     Who
	Rate    Rate
	// Arg is the argument events.ParseCommand keeps for it.
	Arg events.ArgKind
	// Listed commands appear in /aide; campaign buttons are pressed, not typed, and are not.
	Listed bool
	// Off reports whether the feature is off in this deployment (campaigns without
	// EnableCampaigns): /aide leaves the command out, and it answers that it is not
	// available here. Nil: always on.
	Off func() bool
	// Background commands may be answered off the bridge's batch loop (a slow query, an
	// erasure that securely deletes events).
	Background bool
	Run        Func
}

// Name returns the name /aide shows in lang.
func (s Spec) Name(lang string) string {
	if lang == "en" && s.English != "" {
		return s.English
	}
	return s.Names[0]
}

// Set is every command a deployment answers, indexed by name.
type Set struct {
	specs  []Spec
	byName map[string]int
}

// NewSet checks specs and indexes them: each needs a key, names, who, rate and a function,
// and no name or key may be declared twice.
func NewSet(specs ...Spec) (*Set, error) {
	s := &Set{byName: map[string]int{}}
	keys := map[string]bool{}
	for _, sp := range specs {
		switch {
		case sp.Key == "" || keys[sp.Key]:
			return nil, fmt.Errorf("command: key %q missing or declared twice", sp.Key)
		case len(sp.Names) == 0:
			return nil, fmt.Errorf("command: %s has no names", sp.Key)
		case sp.Who < Anyone || sp.Who > Admins:
			return nil, fmt.Errorf("command: %s says nothing of who may run it", sp.Key)
		case sp.Rate < Limited || sp.Rate > Right:
			return nil, fmt.Errorf("command: %s has no rate class", sp.Key)
		case sp.Run == nil:
			return nil, fmt.Errorf("command: %s has no function", sp.Key)
		case sp.English != "" && !slices.Contains(sp.Names, sp.English):
			return nil, fmt.Errorf("command: %s: English name %q is not one of its names", sp.Key, sp.English)
		case sp.Rate == Right && sp.Who != Anyone:
			return nil, fmt.Errorf("command: %s: a right is every member's", sp.Key)
		}
		keys[sp.Key] = true
		for _, n := range sp.Names {
			if _, dup := s.byName[n]; dup {
				return nil, fmt.Errorf("command: /%s declared twice", n)
			}
			if arg, known := events.CommandArg(n); !known || arg != sp.Arg {
				return nil, fmt.Errorf("command: /%s: events keeps %v for it, the declaration says %v", n, arg, sp.Arg)
			}
			s.byName[n] = len(s.specs)
		}
		s.specs = append(s.specs, sp)
	}
	return s, nil
}

// Lookup returns the declaration of a command name (lowercase, without the slash).
func (s *Set) Lookup(name string) (Spec, bool) {
	i, ok := s.byName[name]
	if !ok {
		return Spec{}, false
	}
	return s.specs[i], true
}

// All returns the declarations in the order they were given (a copy).
func (s *Set) All() []Spec { return slices.Clone(s.specs) }
