package export

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

// PseudoPrefix starts the id of a sender known only by an exported name that
// Options.Resolve did not map: it holds no "@", so it is never a JID.
const PseudoPrefix = "export:"

// maxField bounds what a resolver may return, so an event stays within events.MaxSize.
const maxField = 256

// member returns the index of the member a label (a sender or a name in a notice) stands
// for, creating it on first sight. A label is resolved once.
func (p *parser) member(label string) int32 {
	if i, ok := p.byLabel[label]; ok {
		return i
	}
	var i int32
	if d := phoneDigits(label); d != "" {
		var ok bool
		if i, ok = p.byPhone[d]; !ok {
			i = p.newMember(events.Member{ID: d + "@s.whatsapp.net", Phone: "+" + d})
			p.byPhone[d] = i
		}
	} else {
		name := cleanName(label)
		var ok bool
		if i, ok = p.byName[name]; !ok {
			i = p.newMember(p.named(name))
			p.byName[name] = i
			p.names.add(name, i)
			// A resolved member's phone lets "@<digits>" mentions find them too.
			if d := strings.TrimPrefix(p.members[i].Phone, "+"); d != "" {
				if _, seen := p.byPhone[d]; !seen {
					p.byPhone[d] = i
				}
			}
		}
	}
	p.byLabel[label] = i
	return i
}

func (p *parser) newMember(m events.Member) int32 {
	p.members = append(p.members, m)
	p.counted = append(p.counted, false)
	return int32(len(p.members) - 1)
}

// named is the member an exported name stands for: the caller's when it resolves it to a
// usable member, else a pseudo member keyed by group and name.
func (p *parser) named(name string) events.Member {
	if p.opt.Resolve != nil {
		if m, ok := p.opt.Resolve(name); ok && usable(m) {
			return m
		}
	}
	sum := sha256.Sum256([]byte(p.opt.Group.ID + "\x00" + name))
	return events.Member{ID: PseudoPrefix + hex.EncodeToString(sum[:16]), Name: name}
}

func usable(m events.Member) bool {
	if m.ID == "" || events.Pseudonymous(m.ID) {
		return false
	}
	for _, f := range []string{m.ID, m.Name, m.FirstName, m.LastName, m.Username, m.Phone, m.Alias} {
		if len(f) > maxField || !utf8.ValidString(f) {
			return false
		}
	}
	return true
}

// mentions adds to acc the members "@" mentions in s name: "@33612345678" a phone number
// seen in this export, "@Marie Dupont" the longest name seen so far that the text has in
// full, at a word boundary. A mention is resolved only against what the export showed
// before it (the file is read once); digits seen nowhere may be a LID, not a phone, and are
// left out, as are names not seen.
func (p *parser) mentions(s string, acc []int32) []int32 {
	if strings.IndexByte(s, '@') < 0 {
		return acc
	}
	s = stripMarks(s)
	for i := 0; i < len(s) && len(acc) < maxMentions; i++ {
		if s[i] != '@' {
			continue
		}
		if i > 0 {
			// "name@example.org" is an address, not a mention.
			if r, _ := utf8.DecodeLastRuneInString(s[:i]); wordRune(r) {
				continue
			}
		}
		after := s[i+1:]
		idx := int32(-1)
		if d := leadingDigits(strings.TrimPrefix(after, "+")); d != "" {
			if j, ok := p.byPhone[d]; ok {
				idx = j
			}
		} else {
			idx = p.names.longest(after)
		}
		if idx >= 0 && !containsIdx(acc, idx) {
			acc = append(acc, idx)
		}
	}
	return acc
}

// leadingDigits returns the 7 to 15 digits s starts with, when nothing else follows them
// that could make them part of a longer word or number.
func leadingDigits(s string) string {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n < 7 || n > 15 || !boundary(s[n:]) {
		return ""
	}
	return s[:n]
}

func boundary(rest string) bool {
	r, _ := utf8.DecodeRuneInString(rest)
	return rest == "" || !wordRune(r)
}

func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '\'' || r == '’'
}

// nameTrie finds the longest known name a text starts with in one pass over the text, so
// resolving mentions stays linear in the file whatever the number of names (a scan of every
// name at every "@" was quadratic, and a file is untrusted input). Names holding "@" are
// left out, so no walk runs past the next "@"; the trie's size is bounded.
type nameTrie struct {
	child  map[edge]int32 // (node, byte) → node; node 0 is the root
	member []int32        // node → the member whose name ends there, or -1
}

type edge struct {
	from int32
	b    byte
}

// maxTrieNodes bounds the trie: a WhatsApp group holds at most 1,024 members.
const maxTrieNodes = 1 << 18

func (t *nameTrie) add(name string, m int32) {
	if len(name) < 2 || len(name)+len(t.member) > maxTrieNodes || strings.Contains(name, "@") {
		return
	}
	if t.member == nil {
		t.child, t.member = map[edge]int32{}, []int32{-1}
	}
	cur := int32(0)
	for i := 0; i < len(name); i++ {
		e := edge{cur, name[i]}
		next, ok := t.child[e]
		if !ok {
			next = int32(len(t.member))
			t.member = append(t.member, -1)
			t.child[e] = next
		}
		cur = next
	}
	if t.member[cur] < 0 {
		t.member[cur] = m
	}
}

// longest returns the member of the longest name s starts with that ends at a word
// boundary ("@Marie Dupont," but not "@Marie Dupontel"), or -1.
func (t *nameTrie) longest(s string) int32 {
	best, cur := int32(-1), int32(0)
	for i := 0; i < len(s) && t.member != nil; i++ {
		next, ok := t.child[edge{cur, s[i]}]
		if !ok {
			break
		}
		cur = next
		if m := t.member[cur]; m >= 0 && boundary(s[i+1:]) {
			best = m
		}
	}
	return best
}

func containsIdx(a []int32, x int32) bool {
	for _, v := range a {
		if v == x {
			return true
		}
	}
	return false
}
