package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

// demoCampaign shows a campaign: two leaders said /oui, one of them opened a private chat
// with the bot; the organiser mobilises the leaders, sees the preview, confirms with the
// button, the reachable leader receives the call to action and answers "Je relaie", and
// the organiser reads the delivery report.
func demoCampaign(ctx context.Context, w io.Writer, bot *tgtest.Server) error {
	camille := demoUser(1001, "Camille", "Martin", "camille_m")
	nadia := demoUser(1002, "Nadia", "Benali", "nadia")
	organiser := demoUser(demoOrganiserID, "Marie", "Dubois", "marie_orga")
	mark := int64(len(bot.Sent()))
	bot.Text(demoBelleville, camille, "/oui")
	bot.Text(tgtest.Private(camille), camille, "/start")
	bot.Text(demoOnzieme, nadia, "/oui")
	if _, err := waitSentTo(ctx, bot, mark, camille.ID, "/start", func(s tgtest.Sent) bool {
		return strings.Contains(s.Text, "/oubli") || strings.Contains(s.Text, "/forget")
	}); err != nil {
		return err
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Campagne : Camille et Nadia ont dit /oui ; seule Camille a ouvert une conversation privée avec le bot.")
	fmt.Fprintln(w, "Marie écrit en privé : /mobiliser leaders, puis son message.")
	text := "Samedi 10h, distribution au marché de Belleville : pouvez-vous relayer l'appel dans votre groupe ?"
	mark = int64(len(bot.Sent()))
	bot.Text(tgtest.Private(organiser), organiser, "/mobiliser leaders\n"+text)
	preview, err := waitSentTo(ctx, bot, mark, organiser.ID, "l'aperçu", func(s tgtest.Sent) bool { return len(s.ReplyMarkup) > 0 })
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Aperçu reçu par Marie (avec les boutons ✅ Envoyer / ❌ Annuler) :")
	fmt.Fprintln(w, indent(preview.Text, "  │ "))
	send := ""
	_, data := preview.InlineButtons()
	for _, d := range data {
		if strings.HasPrefix(d, "/envoyer ") {
			send = d
		}
	}
	if send == "" {
		return errors.New("demo: the preview has no send button")
	}
	slug := strings.TrimPrefix(send, "/envoyer ")
	mark = int64(len(bot.Sent()))
	bot.Press(organiser, 1, send)
	confirmed, err := waitSentTo(ctx, bot, mark, organiser.ID, "la confirmation", func(s tgtest.Sent) bool { return strings.Contains(s.Text, "confirm") })
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Marie appuie sur ✅ Envoyer :")
	fmt.Fprintln(w, indent(confirmed.Text, "  │ "))
	got, err := waitSentTo(ctx, bot, mark, camille.ID, "le message de campagne", func(s tgtest.Sent) bool { return strings.Contains(s.Text, text) })
	if err != nil {
		return err
	}
	labels, _ := got.InlineButtons()
	fmt.Fprintln(w, "Camille reçoit, en privé :")
	fmt.Fprintln(w, indent(got.Text+"\n["+strings.Join(labels, "] [")+"]", "  │ "))
	mark = int64(len(bot.Sent()))
	bot.Press(camille, 2, "/jerelaie "+slug)
	thanks, err := waitSentTo(ctx, bot, mark, camille.ID, "le merci", func(s tgtest.Sent) bool {
		return strings.Contains(s.Text, "relayez") || strings.Contains(s.Text, "relay this")
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Camille appuie sur « Je relaie » :")
	fmt.Fprintln(w, indent(thanks.Text, "  │ "))
	mark = int64(len(bot.Sent()))
	bot.Text(tgtest.Private(organiser), organiser, "/campagne "+slug)
	report, err := waitSentTo(ctx, bot, mark, organiser.ID, "le bilan", func(s tgtest.Sent) bool { return strings.Contains(s.Text, slug+" (") })
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Marie demande /campagne %s (le bilan d'envoi ; seuls ceux qui relaient sont nommés) :\n", slug)
	fmt.Fprintln(w, indent(report.Text, "  │ "))
	return nil
}

// waitSentTo waits for a message to chat, among those sent since the mark'th message, that
// match accepts.
func waitSentTo(ctx context.Context, bot *tgtest.Server, mark, chat int64, what string, match func(tgtest.Sent) bool) (tgtest.Sent, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		sent := bot.Sent()
		for _, s := range sent[min(int(mark), len(sent)):] {
			if s.ChatID == chat && match(s) {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return tgtest.Sent{}, fmt.Errorf("demo: no %s within 30 s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
