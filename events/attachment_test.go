package events

import (
	"bytes"
	"errors"
	"testing"
)

func TestReplyDocument(t *testing.T) {
	base := func() Reply {
		return Reply{V: Version, ID: "r1", Platform: Telegram, Chat: "42", Private: true, Text: "votre fichier",
			Attachment: &Attachment{Name: "relais-20261207.json", Mime: "application/json", Data: []byte(`{"a":1}`)}}
	}
	tests := []struct {
		name string
		edit func(r *Reply)
		ok   bool
	}{
		{"a member's file", func(*Reply) {}, true},
		{"the largest file", func(r *Reply) { r.Attachment.Data = bytes.Repeat([]byte("é"), MaxAttachmentBytes/2) }, true},
		{"into a group", func(r *Reply) { r.Private = false }, false},
		{"too big", func(r *Reply) { r.Attachment.Data = make([]byte, MaxAttachmentBytes+1) }, false},
		{"empty", func(r *Reply) { r.Attachment.Data = nil }, false},
		{"another type", func(r *Reply) { r.Attachment.Mime = "application/x-msdownload" }, false},
		{"a path for a name", func(r *Reply) { r.Attachment.Name = "../etc/passwd" }, false},
		{"no name", func(r *Reply) { r.Attachment.Name = "" }, false},
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
			if err != nil || back.Attachment == nil || !bytes.Equal(back.Attachment.Data, r.Attachment.Data) {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
}
