package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

// uploadCanary is in every text field of the uploaded export: no reply, log or data file may
// hold it.
const uploadCanary = "CANARI-upload-7f3a"

// uploadExport is a Telegram Desktop account export of two supergroups: the organiser's
// (-100777, where members 521 and 522 answer 520: 520 is a leader) and one she is not in
// (-100888). Its messages run from 20 to 4 days ago, before relais began to listen.
func uploadExport() []byte { return uploadExportFrom(20, 0) }

// uploadExportFrom is uploadExport with its messages from daysAgo on, ids after firstID.
func uploadExportFrom(daysAgo, firstID int) []byte {
	var msgs []string
	id := firstID
	add := func(daysAgo, from, replyTo int) int {
		id++
		at := time.Now().Add(-time.Duration(daysAgo) * 24 * time.Hour).Truncate(time.Second)
		reply := ""
		if replyTo > 0 {
			reply = fmt.Sprintf(`,"reply_to_message_id":%d`, replyTo)
		}
		msgs = append(msgs, fmt.Sprintf(`{"id":%d,"type":"message","date":%q,"date_unixtime":"%d","from":"Membre %d","from_id":"user%d","text":"%s bonjour"%s}`,
			id, at.UTC().Format("2006-01-02T15:04:05"), at.Unix(), from, from, uploadCanary, reply))
		return id
	}
	for day := daysAgo; day >= daysAgo-16; day -= 4 {
		q := add(day, 520, 0)
		add(day, 521, q)
		add(day, 522, q)
	}
	chat := func(name string, id int) string {
		return fmt.Sprintf(`{"name":%q,"type":"private_supergroup","id":%d,"messages":[%s]}`, name, id, strings.Join(msgs, ","))
	}
	return []byte(`{"about":"` + uploadCanary + `","chats":{"about":"` + uploadCanary + `","list":[` +
		chat("Entraide Belleville", 777) + "," + chat("Quartier Nord", 888) + `]}}`)
}

// TestUploadTelegramExport: through the real binary and the fake Bot API, an organiser sends
// a Telegram export to the bot privately. A member who is no organiser is refused and
// nothing is downloaded; a damaged file gets a clear error and changes nothing; the export
// is imported into the organiser's group only, answered with the leader found, and each file
// message is deleted. The group gets the post-import notice once, even after the same file
// is sent again; the other group none. The canary text of the file is in no reply, no log,
// no file of the data dir.
func TestUploadTelegramExport(t *testing.T) {
	r := newDPORig(t, "opt-in")
	r.env = append(r.env, "TELEGRAM_FILE_ENDPOINT="+r.bot.FileEndpoint())
	other := tgtest.Supergroup(-100888, "Quartier Nord")
	member := tgtest.User{ID: 702, FirstName: "Marc"}
	p := r.start()
	// Live activity: relais knows both groups from now on.
	r.say(member, "Bonjour à tous")
	r.bot.Text(other, member, "Salut le quartier")
	r.quiet(p)
	export := uploadExport()

	send := func(u tgtest.User, name string, data []byte) (string, int) {
		t.Helper()
		before := len(r.sentTo(u.ID))
		msg, _ := r.bot.SendDocument(tgtest.Private(u), u, name, data)
		var got []string
		r.eventually(p, "an answer to the upload", func() bool {
			got = r.sentTo(u.ID)
			return len(got) > before
		})
		return strings.Join(got[before:], "\n"), msg
	}
	deleted := func(u tgtest.User, msg int) bool {
		return slices.Contains(r.bot.Deleted(), [2]int64{u.ID, int64(msg)})
	}

	// Someone who is no organiser: refused, the file not even fetched.
	refused, _ := send(member, "result.json", export)
	if !strings.Contains(refused, "réservée aux organisateurs") {
		t.Fatalf("a member's upload answered:\n%s", refused)
	}
	r.quiet(p)
	if n := r.bot.Calls("getFile"); n != 0 {
		t.Fatalf("a member's upload was fetched (%d getFile)", n)
	}

	// A damaged file: a clear error, nothing imported, the file message deleted.
	bad, badMsg := send(r.organiser, "result.json", export[:len(export)/2])
	if !strings.Contains(bad, "Je n'ai rien importé") || !strings.Contains(bad, "incomplet") {
		t.Fatalf("a truncated export answered:\n%s", bad)
	}
	r.eventually(p, "the damaged file's message deleted", func() bool { return deleted(r.organiser, badMsg) })

	// The export: imported into the organiser's group only, with its leader named.
	sum, msg := send(r.organiser, "result.json", export)
	for _, want := range []string{"Historique importé", "Entraide Belleville : 15 messages, 3 membres", "Relais trouvés : Membre 520", "Quartier Nord", "not in your groups"} {
		if !strings.Contains(sum, want) {
			t.Errorf("the summary lacks %q:\n%s", want, sum)
		}
	}
	r.eventually(p, "the file message deleted", func() bool { return deleted(r.organiser, msg) })
	notices := func(chat int64) int {
		n := 0
		for _, s := range r.sentTo(chat) {
			if strings.Contains(s, "a compté l'historique de ce groupe sur 17 jours") && strings.Contains(s, "Aucun texte n'a été conservé") &&
				strings.Contains(s, "/oui") && strings.Contains(s, "/stop") && strings.Contains(s, "/oubli") && strings.Contains(s, "/moi") {
				n++
			}
		}
		return n
	}
	r.eventually(p, "the post-import notice", func() bool { return notices(r.group.ID) == 1 })

	// The same file again: nothing new, no second notice.
	again, againMsg := send(r.organiser, "result.json", export)
	if !strings.Contains(again, "Rien de nouveau") {
		t.Errorf("the same export again answered:\n%s", again)
	}
	r.eventually(p, "the second file message deleted", func() bool { return deleted(r.organiser, againMsg) })
	r.quiet(p)
	if n := notices(r.group.ID); n != 1 {
		t.Errorf("%d notices in the organiser's group, want 1", n)
	}
	if n := len(r.sentTo(other.ID)); n != 0 {
		t.Errorf("%d messages in the group outside the organiser's scope: %q", n, r.sentTo(other.ID))
	}
	if lead := r.ask(p, "/relais"); !strings.Contains(lead, "Membre 520") {
		t.Errorf("/relais after the upload does not name the imported leader:\n%s", lead)
	}
	r.stop(p)
	for _, s := range r.bot.Sent() {
		if strings.Contains(s.Text, uploadCanary) {
			t.Errorf("a reply holds the file's text: %q", s.Text)
		}
	}
	if l := r.leaks(uploadCanary); len(l) > 0 {
		t.Errorf("the file's text leaked: %v", l)
	}
}
