package telegram

import (
	"bytes"
	"testing"

	"github.com/relais-bot/relais/events"
)

// TestDocumentReply: a member's file (/moi fichier) goes out with sendDocument, a multipart
// upload under its name, its text as the caption; the reply is then securely deleted.
func TestDocumentReply(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	data := []byte(`{"format":"relais-member-file/1","identity":{"name":"Camille"}}`)
	h.reply(events.Reply{ID: "d1", Chat: "1001", Private: true, Text: "📄 Tout ce que relais détient sur vous",
		Attachment: &events.Attachment{Name: "relais-20261207.json", Mime: "application/json", Data: data}})
	run(t, a.ServeReplies)
	waitFor(t, "reply settled", func() bool { return len(h.fake.Documents()) == 1 && h.repliesSettled() })
	d := h.fake.Documents()[0]
	if d.ChatID != 1001 || d.Caption != "📄 Tout ce que relais détient sur vous" || !bytes.Equal(d.Bytes, data) || d.FileName != "relais-20261207.json" {
		t.Errorf("document sent %+v", d)
	}
	if len(h.fake.Sent()) != 0 {
		t.Errorf("the file also went out as %d text messages", len(h.fake.Sent()))
	}
}
