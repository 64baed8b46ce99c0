package whatsapp

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/relais-bot/relais/events"
)

// documentSender is a fakeSender that can also send files.
type documentSender struct {
	fakeSender
	docs []events.Attachment
}

func (f *documentSender) SendDocument(_ context.Context, to types.JID, id types.MessageID, doc events.Attachment, caption string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs = append(f.docs, doc)
	f.sent = append(f.sent, sentText{to, id, caption})
	return nil
}

// TestDocumentReplyAsFile: a member's file goes out as a WhatsApp document with its caption.
func TestDocumentReplyAsFile(t *testing.T) {
	rep := privateReply("me-file", alicePN)
	rep.Attachment = &events.Attachment{Name: "relais-20261207.json", Mime: "application/json", Data: []byte(`{"tokens":["x"]}`)}
	ds := &documentSender{}
	r := newReplier(ds, knownSet{alicePN: true}, DefaultThrottle(), slog.New(slog.DiscardHandler))
	r.sleep = func(context.Context, time.Duration) error { return nil }
	if err := r.Handle(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	if len(ds.docs) != 1 || !bytes.Equal(ds.docs[0].Data, rep.Attachment.Data) || ds.docs[0].Name != rep.Attachment.Name || ds.texts()[0].text != rep.Text {
		t.Errorf("document sender got %+v, texts %+v", ds.docs, ds.texts())
	}
}
