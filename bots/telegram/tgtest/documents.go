package tgtest

import (
	"io"
	"net/http"
	"strconv"
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
	chatID, err := strconv.ParseInt(form["chat_id"], 10, 64)
	if err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: chat not found"})
		return
	}
	if r.MultipartForm == nil || len(r.MultipartForm.File["document"]) == 0 {
		writeError(w, APIError{Code: 400, Description: "Bad Request: there is no document in the request"})
		return
	}
	fh := r.MultipartForm.File["document"][0]
	f, err := fh.Open()
	if err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: can't read the document"})
		return
	}
	b, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil || len(b) == 0 {
		writeError(w, APIError{Code: 400, Description: "Bad Request: file must be non-empty"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if desc, ok := s.forbidden[chatID]; ok {
		writeError(w, Forbidden(desc))
		return
	}
	s.documents = append(s.documents, Document{ChatID: chatID, Caption: form["caption"], FileName: fh.Filename, Bytes: b})
	s.nextMsg[chatID]++
	writeResult(w, map[string]any{
		"message_id": s.nextMsg[chatID], "date": s.tickLocked(),
		"from": s.bot, "chat": map[string]any{"id": chatID, "type": chatType(chatID)},
		"document": map[string]any{"file_id": "BQADdoc", "file_unique_id": "AgADdoc", "file_name": fh.Filename, "file_size": len(b)},
	})
}
