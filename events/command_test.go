package events

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestParseCommand(t *testing.T) {
	long := strings.Repeat("é", 70)
	tests := []struct {
		name string
		text string
		ok   bool
		want Command
	}{
		// Names and forms.
		{"slash", "/aide", true, Command{Name: "aide"}},
		{"leading spaces", "  /aide", true, Command{Name: "aide"}},
		{"upper case", "/AIDE", true, Command{Name: "aide"}},
		{"bang", "!oui", true, Command{Name: "oui", Bang: true}},
		{"english alias", "/help", true, Command{Name: "help"}},
		{"addressed to us", "/STATS@Relais_Bot", true, Command{Name: "stats"}},
		{"addressed to another bot", "/stats@other_bot", false, Command{}},
		{"addressed to nobody", "/aide@", false, Command{}},
		{"unknown slash word", "/rdv demain chez moi", false, Command{}},
		{"unknown bang word", "!bravo tout le monde", false, Command{}},
		{"unknown name that looks like one", "/statss", false, Command{}},
		{"not at the start", "hello /stats", false, Command{}},
		{"slash alone", "/", false, Command{}},
		{"bang alone", "!", false, Command{}},
		{"double slash", "//", false, Command{}},
		{"accented name", "/été", false, Command{}},
		{"dash in name", "/a-b", false, Command{}},
		{"fullwidth letters", "/ＳＴＯＰ", false, Command{}},
		{"long s look-alike", "/ſtop", false, Command{}},
		{"path", "/usr/bin", false, Command{}},

		// No argument kept, whatever follows.
		{"help with words", "/aide blah blah", true, Command{Name: "aide"}},
		{"start payload", "/start ref-CANARY", true, Command{Name: "start"}},
		{"stop with words", "/stop je ne veux plus", true, Command{Name: "stop"}},
		{"sync with quotes", `!sync "x y"`, true, Command{Name: "sync", Bang: true}},
		{"digest", "/bilan cette semaine", true, Command{Name: "bilan"}},
		{"campaigns", "/campagnes toutes", true, Command{Name: "campagnes"}},
		{"dashboard", "/tableau@relais_bot now", true, Command{Name: "tableau"}},

		// Count.
		{"count", "!relais 5", true, Command{Name: "relais", Args: []string{"5"}, Bang: true}},
		{"count and words", "/actifs 12 extra", true, Command{Name: "actifs", Args: []string{"12"}}},
		{"count after tabs", "/actifs\t\t12", true, Command{Name: "actifs", Args: []string{"12"}}},
		{"count after newline", "/actifs\n3", true, Command{Name: "actifs", Args: []string{"3"}}},
		{"count with leading zeros", "/actifs 007", true, Command{Name: "actifs", Args: []string{"7"}}},
		{"count in quotes", `/actifs "5"`, true, Command{Name: "actifs", Args: []string{"5"}}},
		{"count capped", "/leaders 101", true, Command{Name: "leaders", Args: []string{"100"}}},
		{"huge count capped", "/actifs 99999999999999999999999", true, Command{Name: "actifs", Args: []string{"100"}}},
		{"count absent", "/actifs", true, Command{Name: "actifs"}},
		{"zero", "/actifs 0", true, Command{Name: "actifs"}},
		{"negative", "/actifs -4", true, Command{Name: "actifs"}},
		{"plus sign", "/actifs +4", true, Command{Name: "actifs"}},
		{"decimal", "/actifs 3.5", true, Command{Name: "actifs"}},
		{"hex", "/actifs 0x10", true, Command{Name: "actifs"}},
		{"word", "/actifs trois", true, Command{Name: "actifs"}},
		{"digits then text", "/actifs 5abc", true, Command{Name: "actifs"}},
		{"word then digits", "/actifs CANARY 5", true, Command{Name: "actifs"}},
		{"fullwidth digit", "/actifs ５", true, Command{Name: "actifs"}},
		{"arabic-indic digit", "/actifs ٥", true, Command{Name: "actifs"}},

		// Group name.
		{"group", "/stats@relais_bot Belleville", true, Command{Name: "stats", Args: []string{"Belleville"}}},
		{"group absent", "/stats", true, Command{Name: "stats"}},
		{"group of words", "/stats Quartier   Nord\n", true, Command{Name: "stats", Args: []string{"Quartier Nord"}}},
		{"group quoted", `/stats "Lyon 3e"`, true, Command{Name: "stats", Args: []string{"Lyon 3e"}}},
		{"group french quotes and more", "/statistiques «Entraide  Sud» bis", true, Command{Name: "statistiques", Args: []string{"Entraide Sud bis"}}},
		{"group bounded in runes", "/stats " + long, true, Command{Name: "stats", Args: []string{long[:2*MaxQueryRunes]}}},
		{"group bidi override dropped", "/stats a\u202eb\u200bc", true, Command{Name: "stats", Args: []string{"abc"}}},
		{"group control dropped", "/stats a\x00b\x1bc", true, Command{Name: "stats", Args: []string{"abc"}}},
		{"group invalid bytes dropped", "/stats a\xffb", true, Command{Name: "stats", Args: []string{"ab"}}},
		{"group emoji sequence kept", "/stats 👩‍👩‍👧 🌻", true, Command{Name: "stats", Args: []string{"👩‍👩‍👧 🌻"}}},
		{"group empty quotes", `/stats "" ''`, true, Command{Name: "stats"}},

		// Member query.
		{"member quoted", `/fiche "Camille Martin"`, true, Command{Name: "fiche", Args: []string{"Camille Martin"}}},
		{"member unquoted", "/fiche Jean Dupont", true, Command{Name: "fiche", Args: []string{"Jean Dupont"}}},
		{"file asked", "/moi FICHIER s'il te plaît", true, Command{Name: "moi", Args: []string{"file"}}},
		{"file in English", "/mydata file", true, Command{Name: "mydata", Args: []string{"file"}}},
		{"moi with talk keeps nothing", "/moi Jean Dupont", true, Command{Name: "moi"}},
		{"file word not first", "/moi mon fichier", true, Command{Name: "moi"}},
		{"member french quotes", "/fiche «Élodie Dupré» 🙂", true, Command{Name: "fiche", Args: []string{"Élodie Dupré 🙂"}}},
		{"member curly quotes", "/card “Zoé Lefèvre”", true, Command{Name: "card", Args: []string{"Zoé Lefèvre"}}},
		{"member unclosed quote", "/fiche 'Zoé", true, Command{Name: "fiche", Args: []string{"Zoé"}}},
		{"member apostrophe inside", "/fiche O'Brien", true, Command{Name: "fiche", Args: []string{"O'Brien"}}},
		{"member username", "/fiche @nadia", true, Command{Name: "fiche", Args: []string{"@nadia"}}},
		{"member bounded at a word", "/fiche " + strings.Repeat("x", 62) + " CANARY", true,
			Command{Name: "fiche", Args: []string{strings.Repeat("x", 62) + " C"}}},
		{"member bound reached on the space", "/fiche " + strings.Repeat("x", 63) + " CANARY", true,
			Command{Name: "fiche", Args: []string{strings.Repeat("x", 63)}}},

		// Campaign slug.
		{"slug", "/campagne rentree-2026", true, Command{Name: "campagne", Args: []string{"rentree-2026"}}},
		{"slug lowercased", "/campaign Rentree-2026 merci", true, Command{Name: "campaign", Args: []string{"rentree-2026"}}},
		{"slug quoted", "/campagne «porte-a-porte»", true, Command{Name: "campagne", Args: []string{"porte-a-porte"}}},
		{"slug with accent", "/campagne rentrée", true, Command{Name: "campagne"}},
		{"slug with underscore", "/campagne a_b", true, Command{Name: "campagne"}},
		{"slug with slash", "/campagne a/b", true, Command{Name: "campagne"}},
		{"slug too long", "/campagne " + strings.Repeat("a", MaxSlugLen+1), true, Command{Name: "campagne"}},
		{"slug longest", "/campagne " + strings.Repeat("a", MaxSlugLen), true, Command{Name: "campagne", Args: []string{strings.Repeat("a", MaxSlugLen)}}},

		// An organiser's campaign text.
		{"text", "/mobiliser  Rendez-vous samedi 10h\nMarché «Bio» !  ", true,
			Command{Name: "mobiliser", Args: []string{"Rendez-vous samedi 10h\nMarché «Bio» !"}}},
		{"text controls dropped", "/mobilise a\x00b\x07\tc", true, Command{Name: "mobilise", Args: []string{"ab\tc"}}},
		{"text bounded", "/mobiliser " + strings.Repeat("ü", MaxTextRunes+200), true,
			Command{Name: "mobiliser", Args: []string{strings.Repeat("ü", MaxTextRunes)}}},
		{"text absent", "/mobiliser   ", true, Command{Name: "mobiliser"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseCommand(tc.text, "relais_bot")
			if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseCommand(%q) = %+v, %v; want %+v, %v", tc.text, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseCommandWithoutBotName(t *testing.T) {
	if _, ok := ParseCommand("/stats@relais_bot", ""); ok {
		t.Fatal("a command addressed to a named bot is not ours when we have no name")
	}
	if c, ok := ParseCommand("!oui", ""); !ok || c.Name != "oui" || !c.Bang {
		t.Fatalf("got %+v %v", c, ok)
	}
}

func TestCommandTable(t *testing.T) {
	want := map[string]ArgKind{
		"aide": ArgNone, "help": ArgNone, "start": ArgNone, "commandes": ArgNone,
		"confidentialite": ArgNone, "vieprivee": ArgNone, "vie_privee": ArgNone, "privacy": ArgNone,
		"oui": ArgNone, "consent": ArgNone, "consentement": ArgNone, "yes": ArgNone,
		"stop": ArgNone, "arret": ArgNone,
		"oubli": ArgNone, "oublier": ArgNone, "forget": ArgNone, "erase": ArgNone,
		"moi": ArgFile, "mesdonnees": ArgFile, "mydata": ArgFile, "me": ArgFile,
		"stats": ArgGroup, "statistiques": ArgGroup,
		"actifs": ArgCount, "active": ArgCount,
		"relais": ArgCount, "leaders": ArgCount,
		"fiche": ArgMember, "card": ArgMember,
		"sync":      ArgNone,
		"mobiliser": ArgText, "mobilise": ArgText,
		"campagnes": ArgNone, "campaigns": ArgNone,
		"campagne": ArgSlug, "campaign": ArgSlug,
		"envoyer": ArgSlug, "send": ArgSlug, "annuler": ArgSlug, "cancel": ArgSlug,
		"jerelaie": ArgSlug, "relay": ArgSlug, "pascettefois": ArgSlug, "notthistime": ArgSlug,
		"neplusmesolliciter": ArgSlug, "nomorecalls": ArgSlug,
		"bilan": ArgNone, "digest": ArgNone,
		"tableau": ArgNone, "dashboard": ArgNone,
		"etat": ArgNone, "status": ArgNone,
		"journal": ArgNone, "accesslog": ArgNone,
		"importer": ArgNone, "import": ArgNone,
	}
	got := map[string]ArgKind{}
	for _, c := range KnownCommands() {
		for _, n := range c.Names {
			got[n] = c.Arg
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("command table:\n got %v\nwant %v", got, want)
	}
	for n, k := range want {
		if kk, ok := CommandArg(n); !ok || kk != k {
			t.Errorf("CommandArg(%q) = %v, %v", n, kk, ok)
		}
		if c, ok := ParseCommand("/"+n, ""); !ok || c.Name != n || c.Args != nil {
			t.Errorf("ParseCommand(/%s) = %+v, %v", n, c, ok)
		}
	}
	if _, ok := CommandArg("rdv"); ok {
		t.Error("rdv is no command")
	}
	KnownCommands()[0].Names[0] = "changed"
	if _, ok := CommandArg("aide"); !ok || KnownCommands()[0].Names[0] != "aide" {
		t.Error("KnownCommands exposes the table itself")
	}
}

// canary is placed after the part of a command's argument its kind keeps. It contains no
// character a count or a slug accepts, so wherever it lands it is never a valid one.
const canary = "CANARY~7f3a"

// fill saturates the part of an argument a kind keeps, so that whatever follows it is past
// the bound.
var fill = map[ArgKind]string{
	ArgNone:   "",
	ArgCount:  "1",
	ArgSlug:   "x",
	ArgGroup:  strings.Repeat("x", MaxQueryRunes),
	ArgMember: strings.Repeat("x", MaxQueryRunes),
	ArgText:   strings.Repeat("x", MaxTextRunes),
	ArgFile:   "fichier",
}

var slugPattern = regexp.MustCompile(`^[a-z0-9-]+$`)
var countPattern = regexp.MustCompile(`^[1-9][0-9]*$`)

// checkArgs asserts what any parsed command must satisfy.
func checkArgs(t *testing.T, text string, c Command) {
	t.Helper()
	kind, known := CommandArg(c.Name)
	if !known {
		t.Fatalf("ParseCommand(%q): unknown name %q accepted", text, c.Name)
	}
	if kind == ArgNone && len(c.Args) != 0 {
		t.Fatalf("ParseCommand(%q): %s takes no argument, got %q", text, c.Name, c.Args)
	}
	if len(c.Args) > 1 {
		t.Fatalf("ParseCommand(%q): %d args", text, len(c.Args))
	}
	for _, a := range c.Args {
		if a == "" || !utf8.ValidString(a) {
			t.Fatalf("ParseCommand(%q): bad arg %q", text, a)
		}
		runes := utf8.RuneCountInString(a)
		switch kind {
		case ArgCount:
			if n, err := strconv.Atoi(a); err != nil || !countPattern.MatchString(a) || n > MaxCountArg {
				t.Fatalf("ParseCommand(%q): count %q", text, a)
			}
		case ArgSlug:
			if !slugPattern.MatchString(a) || len(a) > MaxSlugLen {
				t.Fatalf("ParseCommand(%q): slug %q", text, a)
			}
		case ArgGroup, ArgMember:
			if runes > MaxQueryRunes || strings.Join(strings.Fields(a), " ") != a ||
				strings.ContainsFunc(a, unicode.IsControl) {
				t.Fatalf("ParseCommand(%q): query %q", text, a)
			}
		case ArgFile:
			if a != FileArg {
				t.Fatalf("ParseCommand(%q): file %q", text, a)
			}
		case ArgText:
			if runes > MaxTextRunes || strings.TrimSpace(a) != a ||
				strings.ContainsFunc(a, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
				t.Fatalf("ParseCommand(%q): text %q", text, a)
			}
		}
	}
}

// commandJSON is the encoded event a parsed command becomes.
func commandJSON(t *testing.T, c Command) string {
	t.Helper()
	b, err := Encode(Event{V: Version, ID: "telegram:-1:1", Kind: KindCommand, Platform: Telegram,
		At: time.Unix(1700000000, 0).UTC(), Sender: Member{ID: "1"}, Command: &c})
	if err != nil {
		t.Fatalf("encode %+v: %v", c, err)
	}
	return string(b)
}

// FuzzParseCommand checks, for any text: ParseCommand never panics; what it accepts is a
// known name with an argument of that name's kind within its bound; an unknown word is never
// a command. And for every known name followed by any text, then by text that saturates the
// argument's bound, then by a canary: the result is the same as without the canary, so the
// encoded event cannot carry it.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"/stats", "/fiche \"a b\" c", "!oubli", "/x@relais_bot «y", "/\xff", "/a 🙂🙂",
		"/aide blah blah", "/rdv CANARY", "/actifs 99999999999999999999", "/actifs -1",
		"/campagne Rentree-2026", "/mobiliser a\x00b\nc", "/stats «a", " \"", "'", "“", "\u202e",
		"/fiche " + strings.Repeat("é", 80), "/ſtop", "x\ty", "", "\x00 0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, ok := ParseCommand(s, "relais_bot"); ok {
			checkArgs(t, s, c)
		}
		// A word that is no known name is never a command, in either form.
		if w := strings.ToLower(s); !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '@' }) {
			if _, known := CommandArg(w); !known || !isASCII(s) {
				for _, p := range []string{"/", "!"} {
					if c, ok := ParseCommand(p+s, "relais_bot"); ok {
						t.Fatalf("ParseCommand(%q) = %+v for an unknown name", p+s, c)
					}
				}
			}
		}
		for _, spec := range commands {
			name := spec.Names[len(s)%len(spec.Names)]
			prefix := "/" + name + " " + s + fill[spec.Arg]
			base, ok1 := ParseCommand(prefix, "relais_bot")
			withCanary := prefix + " " + canary + " " + s
			got, ok2 := ParseCommand(withCanary, "relais_bot")
			if !ok1 || !ok2 {
				t.Fatalf("/%s followed by %q not parsed", name, s)
			}
			checkArgs(t, withCanary, got)
			if !reflect.DeepEqual(base, got) {
				t.Fatalf("text past the bound changed /%s: %+v, then %+v", name, base, got)
			}
			if js := commandJSON(t, got); strings.Contains(js, canary) && !strings.Contains(commandJSON(t, base), canary) {
				t.Fatalf("canary in %s", js)
			}
			if bare, _ := ParseCommand("/"+name, ""); spec.Arg == ArgNone && !reflect.DeepEqual(bare, got) {
				t.Fatalf("/%s keeps %+v", name, got)
			}
		}
	})
}
