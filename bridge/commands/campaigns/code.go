package campaigns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/relais-bot/relais/events"
)

// codeBytes is how much of the event's hash a campaign code carries: 64 bits, so that codes
// of campaigns that start alike do not meet (two bytes did, after a few hundred).
const codeBytes = 8

// Slug derives a campaign's slug from the command's event (a redelivered /mobiliser
// finds its draft) and the first words of the text, so organisers can tell campaigns apart.
func Slug(eventID, text string) string {
	sum := sha256.Sum256([]byte(eventID))
	var words []string
	for _, w := range strings.FieldsFunc(strings.ToLower(foldASCII(text)), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if len(w) >= 3 {
			words = append(words, w[:min(len(w), 12)])
		}
		if len(words) == 2 {
			break
		}
	}
	words = append(words, hex.EncodeToString(sum[:codeBytes]))
	return strings.Join(words, "-")
}

// foldASCII drops accents of the Latin letters French uses; other letters are dropped.
func foldASCII(s string) string {
	r := strings.NewReplacer("à", "a", "â", "a", "ä", "a", "ç", "c", "é", "e", "è", "e", "ê", "e", "ë", "e",
		"î", "i", "ï", "i", "ô", "o", "ö", "o", "ù", "u", "û", "u", "ü", "u", "ÿ", "y", "œ", "oe", "æ", "ae",
		"À", "a", "Â", "a", "Ç", "c", "É", "e", "È", "e", "Ê", "e", "Î", "i", "Ô", "o", "Ù", "u", "Û", "u")
	return strings.Map(func(c rune) rune {
		if c > unicode.MaxASCII {
			return ' '
		}
		return c
	}, r.Replace(s))
}

// maxCodeTries bounds the codes tried for one /mobiliser; each further one is as unlikely
// to be taken as the first.
const maxCodeTries = 4

// draftSlot finds the code of a /mobiliser's campaign: the one its event derives, unless
// another campaign holds it, in which case the next derivation. A campaign found that this
// organiser wrote with this text is this command's own draft: a redelivery.
func (f *Feature) draftSlot(ctx context.Context, ev events.Event, organiser, text string) (campaign, uint64, bool, error) {
	for i := range maxCodeTries {
		seed := ev.ID
		if i > 0 {
			seed += "#" + strconv.Itoa(i)
		}
		slug := Slug(seed, text)
		cp, rev, found, err := f.st.load(ctx, slug)
		if err != nil {
			return campaign{}, 0, false, err
		}
		if !found {
			return campaign{Slug: slug}, 0, false, nil
		}
		if cp.Organiser == organiser && cp.Text == text {
			return cp, rev, true, nil
		}
	}
	return campaign{}, 0, false, errors.New("campaigns: every code tried is taken")
}

// ownCampaign loads the campaign a command names, else the organiser's latest draft. Only
// who wrote a campaign confirms or cancels it: to anyone else it does not exist (ok false).
// named is the code the command gave, for the answer that it was not found.
func (f *Feature) ownCampaign(ctx context.Context, ev events.Event, organiser string) (cp campaign, rev uint64, named string, ok bool, err error) {
	if len(ev.Command.Args) > 0 && events.ValidSlug(ev.Command.Args[0]) {
		named = ev.Command.Args[0]
	}
	slug, err := f.slugOr(ctx, ev, events.DraftKey(organiser))
	if err != nil {
		return campaign{}, 0, named, false, err
	}
	cp, rev, found, err := f.st.load(ctx, slug)
	if err != nil {
		return campaign{}, 0, named, false, err
	}
	if !found || cp.Organiser != organiser {
		return campaign{}, 0, named, false, nil
	}
	return cp, rev, named, true, nil
}

// notFound answers a command on a campaign the organiser does not have.
func (f *Feature) notFound(ev events.Event, name, named string) events.Reply {
	if named != "" {
		return f.d.Replies.Private(ev, name, fmt.Sprintf(f.txt.NoSuchCampaign, named))
	}
	return f.d.Replies.Private(ev, name, f.txt.NoDraft)
}
