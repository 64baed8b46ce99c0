package whatsapp

import (
	"bytes"
	"context"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/relais-bot/relais/events"
)

// TestPrivateDocumentIsAnUploadCommand: a document sent to the bot privately becomes the
// importer command, keeping a handle, the extension and the size, never the file's name, its
// caption or its media keys; in a group it is a message like any other.
func TestPrivateDocumentIsAnUploadCommand(t *testing.T) {
	m := testMapper(t)
	doc := &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
		FileName: proto.String("Discussion WhatsApp avec CANARY Dupont.zip"), Caption: proto.String("CANARY caption"),
		FileLength: proto.Uint64(4096), MediaKey: []byte("CANARY-KEY"), DirectPath: proto.String("/v/CANARY"),
	}}
	evs, err := m.message(context.Background(), msg(alicePN, alicePN, aliceLID, "D1", doc))
	if err != nil || len(evs) != 1 {
		t.Fatalf("private document: %v, %d events", err, len(evs))
	}
	e := evs[0]
	if e.Kind != events.KindCommand || e.Command.Name != events.UploadCommand || e.Group != nil {
		t.Fatalf("private document mapped to %+v", e)
	}
	if d := e.Document; d == nil || d.Ext != "zip" || d.Size != 4096 || d.Message != "D1" || d.FileID != "whatsapp:D1" {
		t.Fatalf("document = %+v", e.Document)
	}
	raw, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("CANARY")) {
		t.Fatalf("the event carries the file's name, caption or keys: %s", raw)
	}
	evs, err = m.message(context.Background(), msg(pnGroup, alicePN, aliceLID, "D2", doc))
	if err != nil || len(evs) != 1 || evs[0].Kind != events.KindMessage || evs[0].Document != nil {
		t.Fatalf("a document in a group: %v %+v", err, evs)
	}
}
