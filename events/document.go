package events

import "strings"

// An organiser may send a chat export to the bot in private (issue #25, "leaders on day
// one"). Its content never enters an event: the adapter publishes a command event naming the
// file by the platform's handle, and the bridge, which checks who sent it, downloads it as a
// stream and imports it from memory. The reply that answers deletes the file's message.

// Document is a file sent to the bot privately: what fetching it needs, never its content
// and never its name (a WhatsApp export's name carries a contact's name).
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
	}
	for _, c := range d.FileID {
		if c <= ' ' || c > '~' {
			return reject(ErrInvalidField, "document.file_id is not printable ascii")
		}
	}
	return nil
}
