// Package locale owns the texts people read: one TOML message file per language
// (fr.toml, en.toml, …, embedded in the binary) and the plural rules of each language
// (CLDR, through go-i18n). A language is supported when its file is here: adding one needs
// no Go code.
//
// Message ids are grouped by feature ("commands.HelpMember", "dashboard.Leaders"). Texts
// without a count keep printf verbs (%[1]s) and are read as is. Texts with a count have
// plural forms (one, other, and many in French); in them %[1]d is always the count.
package locale

import (
	"embed"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Default is the language used when none is configured.
const Default = "fr"

//go:embed *.toml
var files embed.FS

// messages is every message file, parsed once: the files are compiled in and never change.
var messages = sync.OnceValues(parse)

type catalog struct {
	langs []string // Default first, then by name
	loc   map[string]*i18n.Localizer
	msgs  map[string]map[string]*i18n.Message // by language, then id
}

func parse() (*catalog, error) {
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("locale: %w", err)
	}
	// One bundle per language, defaulting to itself: a message missing from a file is an
	// error, never a silent fallback to another language.
	c := &catalog{loc: map[string]*i18n.Localizer{}, msgs: map[string]map[string]*i18n.Message{}}
	for _, e := range entries {
		name := e.Name()
		lang := strings.ToLower(strings.TrimSuffix(name, path.Ext(name))) // as Lang finds it
		tag, err := language.Parse(lang)
		if err != nil {
			return nil, fmt.Errorf("locale: file %s: not named after a language: %w", name, err)
		}
		buf, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("locale: %w", err)
		}
		b := i18n.NewBundle(tag)
		b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
		f, err := b.ParseMessageFileBytes(buf, name)
		if err != nil {
			return nil, fmt.Errorf("locale: file %s: %w", name, err)
		}
		c.msgs[lang] = map[string]*i18n.Message{}
		for _, m := range f.Messages {
			c.msgs[lang][m.ID] = m
		}
		c.langs = append(c.langs, lang)
		c.loc[lang] = i18n.NewLocalizer(b, lang)
	}
	slices.SortFunc(c.langs, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == Default:
			return -1
		case b == Default:
			return 1
		}
		return strings.Compare(a, b)
	})
	if _, ok := c.loc[Default]; !ok {
		return nil, fmt.Errorf("locale: no %s.toml", Default)
	}
	return c, nil
}

// Languages lists the languages that have a message file, Default first.
func Languages() []string {
	c, err := messages()
	if err != nil {
		return nil
	}
	return slices.Clone(c.langs)
}

// Lang checks a configured language (RELAIS_LANG): "" is Default, case and spaces do not
// matter. It fails on a language without a message file, naming those there are.
func Lang(lang string) (string, error) {
	c, err := messages()
	if err != nil {
		return "", err
	}
	l := strings.ToLower(strings.TrimSpace(lang))
	if l == "" {
		return Default, nil
	}
	if _, ok := c.loc[l]; !ok {
		return "", fmt.Errorf("locale: language %q: want one of %s", lang, strings.Join(c.langs, ", "))
	}
	return l, nil
}

// message finds a message of a configured language.
func message(lang, id string) (*i18n.Localizer, *i18n.Message, string, error) {
	l, err := Lang(lang)
	if err != nil {
		return nil, nil, "", err
	}
	c, _ := messages() // Lang succeeded, so did the parse
	m := c.msgs[l][id]
	if m == nil {
		return nil, nil, "", fmt.Errorf("locale: %s.toml has no message %s", l, id)
	}
	return c.loc[l], m, l, nil
}

// plural reports whether a message has plural forms (more than "other").
func plural(m *i18n.Message) bool {
	return m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != ""
}

// Text returns the message id in lang, as written (printf verbs stay for the caller). A
// message with plural forms is refused: it needs its count (PluralText).
func Text(lang, id string) (string, error) {
	loc, m, l, err := message(lang, id)
	if err != nil {
		return "", err
	}
	if plural(m) {
		return "", fmt.Errorf("locale: %s: %s has plural forms, read it with its count", l, id)
	}
	s, err := loc.Localize(&i18n.LocalizeConfig{MessageID: id})
	if err != nil {
		return "", fmt.Errorf("locale: %s: %s: %w", l, id, err)
	}
	return s, nil
}

// Plural is a message with plural forms, in one language.
type Plural struct {
	loc *i18n.Localizer
	id  string
}

// pluralChecks are counts that reach every CLDR plural form of common languages (French
// needs "many" for a million, Polish "few" for 2-4, Arabic "zero" and "many" for 11); a
// Plural is only made when each renders.
var pluralChecks = []int{0, 1, 2, 3, 4, 5, 6, 7, 11, 21, 22, 101, 1000, 1_000_000}

// PluralText returns the message id in lang, checking that it has the forms the language
// needs.
func PluralText(lang, id string) (Plural, error) {
	// A text without forms is accepted only in a language whose sole form is "other";
	// elsewhere the checks below find the forms it lacks.
	loc, _, l, err := message(lang, id)
	if err != nil {
		return Plural{}, err
	}
	p := Plural{loc: loc, id: id}
	for _, n := range pluralChecks {
		if _, err := p.form(n); err != nil {
			return Plural{}, fmt.Errorf("locale: %s: %s for %d: %w", l, id, n, err)
		}
	}
	return p, nil
}

func (p Plural) form(count int) (string, error) {
	if p.loc == nil {
		return "", errors.New("locale: plural message not loaded")
	}
	return p.loc.Localize(&i18n.LocalizeConfig{MessageID: p.id, PluralCount: count})
}

// N says the message for count: the form the language uses for it, formatted with count
// as %[1]d and args from %[2]. PluralText checked every form, so N cannot fail; an empty
// Plural says the bare count.
func (p Plural) N(count int, args ...any) string {
	f, err := p.form(count)
	if err != nil && f == "" {
		return fmt.Sprint(count)
	}
	if !strings.Contains(strings.ReplaceAll(f, "%%", ""), "%") {
		// A form may leave out every argument ("le dernier jour"): fmt would complain of
		// the extra ones.
		return strings.ReplaceAll(f, "%%", "%")
	}
	return fmt.Sprintf(f, append([]any{count}, args...)...)
}
