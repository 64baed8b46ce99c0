package events

import (
	"bytes"
	"errors"
	"testing"
)

func TestReplyDocument(t *testing.T) {
	base := func() Reply {
		return Reply{V: Version, ID: "r1", Platform: Telegram, Chat: "42", Private: true, Text: "votre fichier",
			Document: &Document{Name: "relais-20261207.json", Mime: "application/json", Data: []byte(`{"a":1}`)}}
	}
	tests := []struct {
		name string
		edit func(r *Reply)
		ok   bool
	}{
		{"a member's file", func(*Reply) {}, true},
		{"the largest file", func(r *Reply) { r.Document.Data = bytes.Repeat([]byte("é"), MaxDocumentBytes/2) }, true},
		{"into a group", func(r *Reply) { r.Private = false }, false},
		{"too big", func(r *Reply) { r.Document.Data = make([]byte, MaxDocumentBytes+1) }, false},
		{"empty", func(r *Reply) { r.Document.Data = nil }, false},
		{"another type", func(r *Reply) { r.Document.Mime = "application/x-msdownload" }, false},
		{"a path for a name", func(r *Reply) { r.Document.Name = "../etc/passwd" }, false},
		{"no name", func(r *Reply) { r.Document.Name = "" }, false},
		{"with a photo", func(r *Reply) { r.Photo = pngSignature }, false},
		{"with buttons", func(r *Reply) { r.Buttons = []Button{{Text: "x", Data: "/x"}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(&r)
			b, err := Encode(r)
			if (err == nil) != tt.ok {
				t.Fatalf("encode: %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				if !errors.Is(err, ErrInvalidField) {
					t.Fatalf("error %v is not ErrInvalidField", err)
				}
				return
			}
			back, err := DecodeReply(b)
			if err != nil || back.Document == nil || !bytes.Equal(back.Document.Data, r.Document.Data) {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
}
