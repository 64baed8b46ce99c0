package events

import (
	"errors"
	"strings"
	"testing"
)

func uploadEvent() Event {
	e := validEvent()
	e.ID, e.Kind, e.Group, e.Chars = "telegram:dm:7:12", KindCommand, nil, 0
	e.Command = &Command{Name: UploadCommand}
	e.Document = &Document{FileID: "BQACAgQAAxkBAAIB", Ext: "json", Size: 2048, Message: "12"}
	return e
}

func TestDocumentRoundTrip(t *testing.T) {
	b, err := Encode(uploadEvent())
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Document; d == nil || *d != *uploadEvent().Document {
		t.Fatalf("document changed in a round trip: %+v", d)
	}
}

func TestDocumentBounds(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Event)
	}{
		{"on a message", func(e *Event) { e.Kind, e.Command = KindMessage, nil }},
		{"on another command", func(e *Event) { e.Command.Name = "stats" }},
		{"in a group", func(e *Event) { e.Group = &Group{ID: "-100"} }},
		{"no file id", func(e *Event) { e.Document.FileID = "" }},
		{"file id too long", func(e *Event) { e.Document.FileID = strings.Repeat("a", maxFileIDLen+1) }},
		{"file id with a space", func(e *Event) { e.Document.FileID = "a b" }},
		{"extension with a dot", func(e *Event) { e.Document.Ext = "tar.gz" }},
		{"extension upper case", func(e *Event) { e.Document.Ext = "JSON" }},
		{"extension too long", func(e *Event) { e.Document.Ext = "abcdefghi" }},
		{"negative size", func(e *Event) { e.Document.Size = -1 }},
		{"message id too long", func(e *Event) { e.Document.Message = strings.Repeat("1", maxDocMsgLen+1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := uploadEvent()
			tc.edit(&e)
			if _, err := Encode(e); !errors.Is(err, ErrInvalidField) {
				t.Fatalf("got %v, want ErrInvalidField", err)
			}
		})
	}
}

func TestDocumentExt(t *testing.T) {
	for in, want := range map[string]string{
		"result.json": "json", "Discussion WhatsApp avec Entraide.TXT": "txt", "export.zip": "zip",
		"noext": "", "trailing.": "", "weird.j$on": "", "a.verylongext": "", "archive.tar.gz": "gz",
	} {
		if got := DocumentExt(in); got != want {
			t.Errorf("DocumentExt(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReplyDeleteOnly(t *testing.T) {
	r := Reply{V: Version, ID: "r1", Platform: Telegram, Chat: "7", Private: true, Delete: "12"}
	b, err := Encode(r)
	if err != nil {
		t.Fatalf("a delete-only reply is valid: %v", err)
	}
	if got, err := DecodeReply(b); err != nil || got.Delete != "12" {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	r.Delete = strings.Repeat("1", maxDocMsgLen+1)
	if _, err := Encode(r); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("oversize delete: got %v", err)
	}
}

func FuzzDocumentEvent(f *testing.F) {
	good, _ := Encode(uploadEvent())
	f.Add(good)
	f.Add([]byte(`{"v":1,"id":"x","kind":"command","platform":"telegram","at":"2026-01-01T00:00:00Z","sender":{"id":"1"},"command":{"name":"importer"},"document":{"file_id":"a","ext":"zip","size":3}}`))
	f.Add([]byte(`{"v":1,"id":"x","kind":"message","platform":"telegram","at":"2026-01-01T00:00:00Z","sender":{"id":"1"},"document":{"file_id":"a"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvent(data)
		if err != nil || e.Document == nil {
			return
		}
		// A document only ever rides a private upload command, within its bounds.
		d := e.Document
		if e.Kind != KindCommand || e.Command.Name != UploadCommand || e.Group != nil ||
			d.FileID == "" || len(d.FileID) > maxFileIDLen || d.Ext != DocumentExt("."+d.Ext) || d.Size < 0 {
			t.Fatalf("accepted a document out of bounds: %+v on %s", d, e.Kind)
		}
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("decoded event does not re-encode: %v", err)
		}
		again, err := DecodeEvent(b)
		if err != nil || again.Document == nil || *again.Document != *d {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

func TestExportChat(t *testing.T) {
	for in, want := range map[string]string{
		"Discussion WhatsApp avec Entraide Sud.txt": "Entraide Sud",
		"WhatsApp Chat with Quartier Nord.zip":      "Quartier Nord",
		"WhatsApp Chat - Entraide 🌱.zip":            "Entraide 🌱",
		"result.json":                               "",
		"Discussion WhatsApp avec .txt":             "",
		"Discussion WhatsApp avec Entraide.json":    "",
		"notes Entraide.txt":                        "",
		"Discussion WhatsApp avec " + strings.Repeat("a", MaxQueryRunes+1) + ".txt": "",
	} {
		if got := ExportChat(in); got != want {
			t.Errorf("ExportChat(%q) = %q, want %q", in, got, want)
		}
	}
	e := uploadEvent()
	e.Document.Chat = "Entraide\nSud"
	if _, err := Encode(e); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("a chat with a newline: got %v", err)
	}
	e.Document.Chat = "Entraide Sud"
	if _, err := Encode(e); err != nil {
		t.Fatalf("a chat title: %v", err)
	}
}
