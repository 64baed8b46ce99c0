package events

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// An organiser may send a chat export to the bot in private (issue #25, "leaders on day
// one"). Its content never enters an event: the adapter publishes a command event naming the
// file by the platform's handle, and the bridge, which checks who sent it, downloads it as a
// stream and imports it from memory. The reply that answers deletes the file's message.

// Document is a file sent to the bot privately: what fetching and importing it need, never
// its content, and of its name only the chat a WhatsApp export names (the event is deleted
// once answered, like every command).
type Document struct {
	// FileID is the platform's handle to download the file (Telegram's file_id).
	FileID string `json:"file_id"`
	// Ext is the file name's extension, lowercased ("json", "txt", "zip"; "" when none):
	// enough to tell the organiser what relais received.
	Ext string `json:"ext,omitempty"`
	// Size is the file's size in bytes as the platform announced it (0: unknown).
	Size int64 `json:"size,omitempty"`
	// Message is the platform id of the private message carrying the file, deleted once read.
	Message string `json:"message,omitempty"`
	// Chat is the chat a WhatsApp export names in its file name ("Discussion WhatsApp avec
	// <chat>.txt"), which is how the import finds its group: WhatsApp exports carry no group
	// id. Empty for any other name. At most MaxQueryRunes runes.
	Chat string `json:"chat,omitempty"`
}

// exportNames are the starts of the names WhatsApp gives its exports (Android in French and
// English, iOS), before the chat's title.
var exportNames = []string{"Discussion WhatsApp avec ", "WhatsApp Chat with ", "WhatsApp Chat - "}

// ExportChat returns the chat a WhatsApp export's file name names, "" when the name is not
// one WhatsApp gives: only then does a document keep part of its name.
func ExportChat(name string) string {
	name = strings.TrimSpace(name)
	ext := DocumentExt(name)
	if ext != "txt" && ext != "zip" {
		return ""
	}
	base := name[:len(name)-len(ext)-1]
	for _, p := range exportNames {
		if title, ok := strings.CutPrefix(base, p); ok {
			title = strings.TrimSpace(strings.Map(func(r rune) rune {
				if unicode.IsControl(r) {
					return -1
				}
				return r
			}, title))
			if title == "" || utf8.RuneCountInString(title) > MaxQueryRunes {
				return ""
			}
			return title
		}
	}
	return ""
}

// Document bounds.
const (
	maxFileIDLen  = 256
	maxDocExtLen  = 8
	maxDocMsgLen  = 64
	UploadCommand = "importer" // the command a document sent privately becomes
)

// DocumentExt returns the extension of a file name as a Document keeps it: the letters and
// digits after the last dot, lowercased, "" when there is none or it is not short and plain.
func DocumentExt(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return ""
	}
	ext := strings.ToLower(name[i+1:])
	if len(ext) == 0 || len(ext) > maxDocExtLen {
		return ""
	}
	for _, c := range ext {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return ""
		}
	}
	return ext
}

// validate checks a document against its bounds.
func (d *Document) validate() error {
	switch {
	case d.FileID == "" || len(d.FileID) > maxFileIDLen:
		return reject(ErrInvalidField, "document.file_id missing or over %d bytes", maxFileIDLen)
	case d.Ext != DocumentExt("."+d.Ext):
		return reject(ErrInvalidField, "document.ext is not a short extension")
	case d.Size < 0:
		return reject(ErrInvalidField, "document.size is negative")
	case len(d.Message) > maxDocMsgLen:
		return reject(ErrInvalidField, "document.message over %d bytes", maxDocMsgLen)
	case d.Chat != "" && ExportChat(exportNames[0]+d.Chat+".txt") != d.Chat:
		return reject(ErrInvalidField, "document.chat is not a chat title")
	}
	for _, c := range d.FileID {
		if c <= ' ' || c > '~' {
			return reject(ErrInvalidField, "document.file_id is not printable ascii")
		}
	}
	return nil
}
