package tgtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Files: a member sends a document (SendDocument), the bot asks getFile for its path and
// downloads it from the file endpoint (/file/bot<token>/<path>, FileEndpoint), then may
// delete the message with deleteMessage (Deleted). Telegram serves bots files up to 20 MB.

// maxBotFile is the largest file getFile hands a bot.
const maxBotFile = 20 << 20

type storedFile struct {
	path string
	data []byte
}

// FileEndpoint is the file download endpoint format (TELEGRAM_FILE_ENDPOINT: token, path).
func (s *Server) FileEndpoint() string { return s.srv.URL + "/file/bot%s/%s" }

// SendDocument queues a message from from in chat carrying a document named name, and
// returns the message id and the document's file id.
func (s *Server) SendDocument(chat Chat, from User, name string, data []byte) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		s.files = map[string]storedFile{}
	}
	fileID := fmt.Sprintf("BQACAgQAAxkBAAI%04d", len(s.files)+1)
	s.files[fileID] = storedFile{path: "documents/file_" + strconv.Itoa(len(s.files)+1) + "." + ext(name), data: data}
	doc := map[string]any{"file_id": fileID, "file_unique_id": "AgAD" + fileID[len(fileID)-4:], "file_name": name, "file_size": len(data)}
	id, obj := s.messageLocked(Message{Chat: chat, From: &from, Extra: map[string]any{"document": doc}})
	s.pushLocked(map[string]any{"message": obj})
	return id, fileID
}

func ext(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return "bin"
}

func (s *Server) getFile(w http.ResponseWriter, form map[string]string) {
	s.mu.Lock()
	f, ok := s.files[form["file_id"]]
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, APIError{Code: 400, Description: "Bad Request: invalid file_id"})
	case len(f.data) > maxBotFile:
		writeError(w, APIError{Code: 400, Description: "Bad Request: file is too big"})
	default:
		writeResult(w, map[string]any{"file_id": form["file_id"], "file_unique_id": "AgAD", "file_size": len(f.data), "file_path": f.path})
	}
}

// serveFile answers a download on the file endpoint.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.Path, "/file/bot")
	token, path, ok := strings.Cut(rest, "/")
	if !ok || token != s.token {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	s.calls["file"]++
	var data []byte
	found := false
	for _, f := range s.files {
		if f.path == path {
			data, found = f.data, true
		}
	}
	s.mu.Unlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// deleteMessage deletes a message a bot may delete: in a private chat, any message.
func (s *Server) deleteMessage(w http.ResponseWriter, form map[string]string) {
	chat, err1 := strconv.ParseInt(form["chat_id"], 10, 64)
	id, err2 := strconv.ParseInt(form["message_id"], 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]int64{chat, id}
	if _, ok := s.messages[key]; err1 != nil || err2 != nil || !ok {
		writeError(w, APIError{Code: 400, Description: "Bad Request: message to delete not found"})
		return
	}
	delete(s.messages, key)
	s.deleted = append(s.deleted, key)
	writeResult(w, true)
}

// Deleted returns the (chat, message id) pairs deleteMessage deleted, in order.
func (s *Server) Deleted() [][2]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][2]int64(nil), s.deleted...)
}
