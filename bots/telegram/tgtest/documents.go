package tgtest

import (
	"net/http"
)

// Document is a file the bot sent through sendDocument (uploaded as a multipart file).
type Document struct {
	ChatID   int64
	Caption  string
	FileName string
	Bytes    []byte
}

// Documents returns the files sent so far.
func (s *Server) Documents() []Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Document(nil), s.documents...)
}

// sendDocument accepts an uploaded file (multipart field "document"), as the Bot API does.
func (s *Server) sendDocument(w http.ResponseWriter, r *http.Request, form map[string]string) {
	s.upload(w, r, form, "document", func(chatID int64, name string, b []byte) any {
		s.documents = append(s.documents, Document{ChatID: chatID, Caption: form["caption"], FileName: name, Bytes: b})
		return map[string]any{"file_id": "BQADdoc", "file_unique_id": "AgADdoc", "file_name": name, "file_size": len(b)}
	})
}
