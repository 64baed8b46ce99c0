package crm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/relais-bot/relais/events"
)

// Contact is what a Sink writes: the desired state of one contact, plus what relais knows of
// it in this CRM from the last confirmed write.
type Contact struct {
	ExternalID string // relais-<member token>: the stable id in every CRM
	FirstName  string
	LastName   string
	Name       string // display name, when the platform gives no first/last split
	Phone      string // E.164, or ""
	Handles    []events.Handle
	// Tags is the full set of relais tags the contact must carry; RemoveTags the relais tags
	// it must lose. They never overlap (Tags wins).
	Tags         []string
	RemoveTags   []string
	Groups       []string
	LastActive   time.Time
	DoNotContact bool

	// Ref is the CRM's id from the last confirmed write, "" when unknown.
	Ref string
	// Applied are the tags the CRM confirmed at the last write. Nil means unknown: the sink
	// must then neither skip adding a tag nor skip removing one.
	Applied []string

	// Done is what an interrupted earlier attempt at this same change already did. Step,
	// when set, is called after each step the CRM confirmed, with everything done so far, so
	// the worker can keep it. A sink that writes in one request ignores both.
	Done Progress
	Step func(Progress)
}

// Progress is what a sink did for one change, step by step. NationBuilder writes a contact
// in several requests (push the signup, then one per tag): a change interrupted half-way, by
// a 429, a 503 or a crash, resumes where it stopped instead of sending everything again.
type Progress struct {
	Ref      string   `json:"ref,omitempty"`     // the CRM's id, once the contact itself is written
	Created  bool     `json:"created,omitempty"` // that write created the contact
	Tagged   []string `json:"tagged,omitempty"`
	Untagged []string `json:"untagged,omitempty"`
}

// Clone returns p with slices of its own, for a Step callback to keep.
func (p Progress) Clone() Progress {
	p.Tagged, p.Untagged = slices.Clone(p.Tagged), slices.Clone(p.Untagged)
	return p
}

// Report tells the worker what is done so far (a no-op when nobody listens).
func (c Contact) Report(p Progress) {
	if c.Step != nil {
		c.Step(p.Clone())
	}
}

// ContactFrom builds the contact a change asks for. ref and applied come from the worker's
// memory of the last confirmed write (zero values when there is none).
func ContactFrom(c events.ContactChange, ref string, applied []string) Contact {
	tags := cleanSet(c.Tags)
	remove := slices.DeleteFunc(cleanSet(c.RemoveTags), func(t string) bool { return slices.Contains(tags, t) })
	return Contact{
		ExternalID:   c.ExternalID,
		FirstName:    strings.TrimSpace(c.FirstName),
		LastName:     strings.TrimSpace(c.LastName),
		Name:         strings.TrimSpace(c.Name),
		Phone:        E164(c.Phone),
		Handles:      slices.Clone(c.Handles),
		Tags:         tags,
		RemoveTags:   remove,
		Groups:       cleanSet(c.Groups),
		LastActive:   c.LastActive.UTC(),
		DoNotContact: c.DoNotContact,
		Ref:          ref,
		Applied:      applied,
	}
}

// Names returns the first and last name to write: the split the platform gave, else the
// display name as first name (CRMs want at least one of them).
func (c Contact) Names() (first, last string) {
	if c.FirstName != "" || c.LastName != "" {
		return c.FirstName, c.LastName
	}
	return c.Name, ""
}

// TagsToAdd are the tags the CRM does not hold yet as far as relais knows.
func (c Contact) TagsToAdd() []string {
	if c.Applied == nil {
		return slices.Clone(c.Tags)
	}
	return slices.DeleteFunc(slices.Clone(c.Tags), func(t string) bool { return slices.Contains(c.Applied, t) })
}

// TagsToRemove are the tags to take off. When relais knows what it applied, a tag it never
// applied is left alone: someone else put it there.
func (c Contact) TagsToRemove() []string {
	if c.Applied == nil {
		return slices.Clone(c.RemoveTags)
	}
	return slices.DeleteFunc(slices.Clone(c.RemoveTags), func(t string) bool { return !slices.Contains(c.Applied, t) })
}

// Redact replaces the contact's name and phone in s, so a CRM message that echoes what we
// sent can go to logs and dead-letter reasons.
func (c Contact) Redact(s string) string {
	for _, v := range []string{c.Phone, strings.TrimPrefix(c.Phone, "+"), c.FirstName, c.LastName, c.Name} {
		if len(v) >= 2 {
			s = strings.ReplaceAll(s, v, "…")
		}
	}
	return s
}

// hashedState is the part of a change a CRM can see.
type hashedState struct {
	Op           events.ContactOp `json:"op"`
	ExternalID   string           `json:"x"`
	First        string           `json:"f,omitempty"`
	Last         string           `json:"l,omitempty"`
	Name         string           `json:"n,omitempty"`
	Phone        string           `json:"p,omitempty"`
	Handles      []events.Handle  `json:"h,omitempty"`
	Tags         []string         `json:"t,omitempty"`
	Remove       []string         `json:"r,omitempty"`
	Groups       []string         `json:"g,omitempty"`
	LastActive   time.Time        `json:"la,omitzero"`
	DoNotContact bool             `json:"dnc,omitempty"`
}

// StateHash identifies the CRM-visible content of a change: two changes with the same hash
// need no second CRM call. The change id and decision time are left out on purpose.
func StateHash(c events.ContactChange) string {
	state := hashedState{Op: c.Op, ExternalID: c.ExternalID}
	if c.Op != events.OpErase { // an erase is the same erase whatever state it still carries
		handles := slices.Clone(c.Handles)
		slices.SortFunc(handles, func(a, b events.Handle) int {
			return strings.Compare(string(a.Platform)+"\x00"+a.ID, string(b.Platform)+"\x00"+b.ID)
		})
		state.First, state.Last, state.Name, state.Phone = c.FirstName, c.LastName, c.Name, c.Phone
		state.Handles, state.Tags, state.Remove, state.Groups = handles, cleanSet(c.Tags), cleanSet(c.RemoveTags), cleanSet(c.Groups)
		state.LastActive, state.DoNotContact = c.LastActive.UTC(), c.DoNotContact
	}
	data, _ := json.Marshal(state) // strings, slices and a time: cannot fail
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// E164 returns phone when it is a valid E.164 number, else "" (a malformed number would
// fail validation in every CRM and dead-letter the whole contact).
func E164(phone string) string {
	phone = strings.TrimSpace(phone)
	if e164.MatchString(phone) {
		return phone
	}
	return ""
}

// cleanSet trims, drops empties and duplicates, and sorts, so equal sets compare equal.
func cleanSet(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
