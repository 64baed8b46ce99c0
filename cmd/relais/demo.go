package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/crm/local"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/locale"
)

// The demo's cast: neighbourhood groups, a few regulars, two people everyone answers, one
// who objects at the end, and an organiser. Everything here is simulated.
var (
	demoBelleville = tgtest.Supergroup(-1001000000101, "Entraide Belleville")
	demoOnzieme    = tgtest.Supergroup(-1001000000102, "Voisins du 11e")
	demoSoutien    = tgtest.Supergroup(-1001000000103, "Soutien scolaire Ménilmontant")
)

func demoUser(id int64, first, last, username string) tgtest.User {
	return tgtest.User{ID: id, FirstName: first, LastName: last, Username: username}
}

const demoOrganiserID = 9001

var demoPhrases = []string{
	"Quelqu'un peut faire les courses de Mme Diallo jeudi ?", "Je peux passer samedi matin.",
	"Merci à tous, c'est réglé !", "Il reste des places pour l'aide aux devoirs mardi.",
	"Je m'en occupe.", "Super, merci beaucoup 🙏", "On se retrouve devant l'école à 16h30 ?",
	"J'ai un vélo à prêter si besoin.", "La pharmacie de la rue des Couronnes est ouverte dimanche.",
	"Bonne idée !", "Je peux aider en maths niveau 4e.", "Qui a une perceuse ?",
}

// cmdDemo runs relais on embedded servers against a fake Telegram, plays three weeks of
// simulated conversation through the real adapter, then shows what relais made of it.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang := fs.String("lang", locale.Default, "language of the bot's answers: "+strings.Join(locale.Languages(), " or "))
	dir := fs.String("data-dir", "", "where the demo keeps its data (default: a new temporary folder)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if _, err := locale.Lang(*lang); err != nil {
		return usageError{"demo: --lang: " + err.Error()}
	}
	dataDir := *dir
	if dataDir == "" {
		var err error
		if dataDir, err = os.MkdirTemp("", "relais-demo-"); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	started := time.Now()
	now := started.UTC()
	bot := tgtest.NewServer(tgtest.WithStart(now.Add(-21 * 24 * time.Hour)))
	defer bot.Close()

	// Embedded defaults, whatever this shell's environment says: the demo touches nothing real.
	cfg, err := LoadConfig(func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		return err
	}
	cfg.DataDir, cfg.HTTPAddr, cfg.Lang = dataDir, "127.0.0.1:0", *lang
	cfg.SyncPolicy = "notice"
	cfg.Organisers = fmt.Sprintf("telegram:%d", demoOrganiserID)
	cfg.Admins = cfg.Organisers // Marie runs the federation: she sees every group
	cfg.DigestAt = "off"        // the story ends with her questions, not a digest
	cfg.TelegramToken, cfg.TelegramEndpoint = bot.Token(), bot.Endpoint()
	logFile, err := os.OpenFile(filepath.Join(dataDir, "relais.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))

	fmt.Fprintln(stdout, "relais — démonstration. Les groupes, les membres et les messages sont SIMULÉS :")
	fmt.Fprintln(stdout, "un faux Telegram tourne dans ce processus ; rien ne sort de cette machine.")
	fmt.Fprintln(stdout)

	in, err := start(ctx, cfg, map[string]bool{"telegram": true, "bridge": true, "crm": true}, log)
	if err != nil {
		return err
	}
	defer in.stop()
	if err := in.waitReady(ctx); err != nil {
		return err
	}

	sent := playDemoConversation(bot, now)
	fmt.Fprintf(stdout, "Trois semaines de conversation dans 3 groupes de quartier : %d messages envoyés au bot.\n", sent)
	if err := waitDrained(ctx, in.rt, bot, in.rt.names.BridgeConsumer(), in.rt.names.EventsStream()); err != nil {
		return err
	}

	// The end of the story: an objection, then the organiser asks in private.
	julien := demoUser(1005, "Julien", "Lambert", "")
	organiser := demoUser(demoOrganiserID, "Marie", "Dubois", "marie_orga")
	bot.SetTime(now.Add(-time.Hour))
	bot.Text(demoOnzieme, julien, "/stop")
	bot.Text(tgtest.Private(organiser), organiser, "/relais")
	bot.Text(tgtest.Private(organiser), organiser, "/stats")
	answers, err := waitAnswers(ctx, bot, demoOrganiserID, 2)
	if err != nil {
		return err
	}
	notices, err := waitAnswers(ctx, bot, demoOnzieme.ID, 1)
	if err != nil {
		return err
	}
	if err := waitDrained(ctx, in.rt, bot, in.rt.names.BridgeConsumer(), in.rt.names.EventsStream()); err != nil {
		return err
	}
	if err := waitDrained(ctx, in.rt, bot, in.rt.names.CRMConsumer(), in.rt.names.CRMStream()); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Politique « notice » : le bot a publié un avis d'information dans chaque groupe, par exemple :\n%s\n",
		indent(notices[0], "  │ "))
	if err := printDemoTable(ctx, stdout, in.rt); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "Marie (organisatrice) a écrit /relais puis /stats au bot, en privé. Réponses :\n")
	for _, a := range answers {
		fmt.Fprintln(stdout, indent(a, "  │ "))
	}
	if err := demoCampaign(ctx, stdout, bot); err != nil {
		return err
	}
	path, err := exportLocalCRM(ctx, dataDir, "", io.Discard)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "Export CSV pour l'import NationBuilder : %s\n", path)
	fmt.Fprintf(stdout, "Journal (sans nom ni numéro ni texte) : %s\n", filepath.Join(dataDir, "relais.log"))
	fmt.Fprintf(stdout, "Terminé en %s.\n", time.Since(started).Round(100*time.Millisecond))
	return nil
}

// playDemoConversation queues three weeks of group life on the fake Telegram and returns how
// many updates it queued.
func playDemoConversation(bot *tgtest.Server, now time.Time) int {
	rng := rand.New(rand.NewPCG(2020, 3))
	var (
		camille = demoUser(1001, "Camille", "Martin", "camille_m")
		nadia   = demoUser(1002, "Nadia", "Benali", "nadia")
		karim   = demoUser(1003, "Karim", "Haddad", "")
		sophie  = demoUser(1004, "Sophie", "Leroy", "sophie_l")
		julien  = demoUser(1005, "Julien", "Lambert", "")
		others  = []tgtest.User{
			demoUser(1006, "Lucas", "Petit", ""), demoUser(1007, "Emma", "Moreau", "emma"),
			demoUser(1008, "Hugo", "Laurent", ""), demoUser(1009, "Léa", "Fournier", "lea_f"),
			demoUser(1010, "Thomas", "Girard", ""), demoUser(1011, "Chloé", "Bonnet", ""),
			demoUser(1012, "Inès", "Mercier", "ines"), demoUser(1013, "Youssef", "Amrani", ""),
		}
		manon = demoUser(1014, "Manon", "Roux", "")
	)
	phrase := func() string { return demoPhrases[rng.IntN(len(demoPhrases))] }
	n := 0
	say := func(g tgtest.Chat, u tgtest.User) int { n++; return bot.Text(g, u, phrase()) }
	answer := func(g tgtest.Chat, u tgtest.User, to int) { n++; bot.Reply(g, u, to, phrase()) }
	start := now.Add(-21 * 24 * time.Hour)
	for d := range 21 {
		day := start.Add(time.Duration(d)*24*time.Hour + 9*time.Hour)
		bot.SetTime(day)
		// Camille asks and offers in Belleville; many different neighbours answer her.
		if d%2 == 0 {
			m := say(demoBelleville, camille)
			for _, u := range pick(rng, append(others[:6:6], karim), 2) {
				answer(demoBelleville, u, m)
			}
		}
		// Nadia does the same in the 11th.
		if d%2 == 1 {
			m := say(demoOnzieme, nadia)
			for _, u := range pick(rng, append(others[3:8:8], julien, sophie), 2) {
				answer(demoOnzieme, u, m)
			}
		}
		// Regulars: they talk a lot, but few people answer them.
		if d%4 == 1 {
			say(demoBelleville, karim)
			say(demoBelleville, karim)
			say(demoBelleville, karim)
		}
		if d%4 == 2 {
			m := say(demoSoutien, sophie)
			say(demoSoutien, sophie)
			say(demoSoutien, sophie)
			answer(demoSoutien, others[7], m)
		}
		if d%3 == 0 {
			say(demoOnzieme, julien)
			say(demoOnzieme, julien)
			say(demoOnzieme, julien)
		}
		if d == 15 {
			n++
			bot.Join(demoOnzieme, nil, manon)
			say(demoOnzieme, manon)
		}
	}
	return n
}

func pick(rng *rand.Rand, from []tgtest.User, k int) []tgtest.User {
	out := slices.Clone(from)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(k, len(out))]
}

// waitDrained waits until the fake Telegram has no unconfirmed update and a consumer has
// nothing pending: everything queued so far is handled.
func waitDrained(ctx context.Context, rt *runtime, bot *tgtest.Server, consumer, stream string) error {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	for {
		if bot.Pending() == 0 {
			info, err := consumerInfo(ctx, rt.js, stream, consumer)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: %s did not catch up: %w", consumer, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func consumerInfo(ctx context.Context, js jetstream.JetStream, stream, consumer string) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// waitAnswers waits for n messages from the bot to a chat.
func waitAnswers(ctx context.Context, bot *tgtest.Server, chat int64, n int) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var got []string
		for _, m := range bot.Sent() {
			if m.ChatID == chat {
				got = append(got, m.Text)
			}
		}
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("demo: the organiser got no answer in 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// printDemoTable shows every member relais saw, its tags, and what the CRM holds.
func printDemoTable(ctx context.Context, w io.Writer, rt *runtime) error {
	q, err := bridge.NewQuery(bridgeConfig(rt), rt.rdb)
	if err != nil {
		return err
	}
	cards, err := q.TopActive(ctx, 100)
	if err != nil {
		return err
	}
	store, err := local.Open(ctx, localCRMPath(rt.cfg.DataDir), local.WithExportPath(localExportPath(rt.cfg.DataDir)))
	if err != nil {
		return err
	}
	defer store.Close()
	contacts, err := store.Contacts(ctx)
	if err != nil {
		return err
	}
	inCRM := map[string]local.Contact{}
	for _, c := range contacts {
		inCRM[c.ExternalID] = c
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Ce que relais a compris (fenêtre de 30 jours) :")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBRE\tMESSAGES\tJOURS\tRÉPONDU PAR\tÉTIQUETTES\tGROUPES\tDANS LE CRM")
	groupTag := rt.cfg.TagPrefix + "groupe-"
	for _, c := range cards {
		crmState := "non (minimisation)"
		if ct, ok := inCRM[events.ExternalID(c.Token)]; ok {
			crmState = "oui"
			if ct.DoNotContact {
				crmState = "opposé (/stop) : ne pas contacter"
			}
		}
		var tags []string
		for _, t := range c.Tags {
			if !strings.HasPrefix(t, groupTag) {
				tags = append(tags, t)
			}
		}
		if len(tags) == 0 {
			tags = []string{"—"}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d pers.\t%s\t%s\t%s\n", c.Name, c.Messages, c.ActiveDays, c.People,
			strings.Join(tags, ", "), strings.Join(c.Groups, ", "), crmState)
		delete(inCRM, events.ExternalID(c.Token))
	}
	// Objectors are no longer processed: relais holds no figures about them, only the CRM
	// keeps the contact, flagged do-not-contact.
	for _, ct := range contacts {
		if _, left := inCRM[ct.ExternalID]; left && ct.DoNotContact {
			fmt.Fprintf(tw, "%s\t—\t—\t—\t—\t—\topposé (/stop) : ne pas contacter\n", ct.Name)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d personnes dans le CRM local, avec une étiquette %s<groupe> par groupe.\n", len(contacts), groupTag)
	return nil
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
