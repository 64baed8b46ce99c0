package tgtest

import (
	"io"
	"net/http"
	"strconv"
)

// memberState is what getChatMember says of one user in one chat.
type memberState struct {
	user   User
	status string
}

// Photo is a picture the bot sent through sendPhoto (uploaded as a multipart file).
type Photo struct {
	ChatID   int64
	Caption  string
	FileName string
	Bytes    []byte
}

// SetMember sets user's status in chat, as getChatMember will report it: creator,
// administrator, member, restricted, left or kicked.
func (s *Server) SetMember(chat Chat, user User, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[[2]int64{chat.ID, user.ID}] = memberState{user: user, status: status}
}

// FailMembership makes every getChatMember about chat answer e until HealMembership: an
// outage (InternalError, TooManyRequests) or the bot removed from the group
// (Forbidden("bot was kicked from the supergroup chat")).
func (s *Server) FailMembership(chat Chat, e APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memberFail == nil {
		s.memberFail = map[int64]APIError{}
	}
	s.memberFail[chat.ID] = e
}

// HealMembership ends FailMembership for chat.
func (s *Server) HealMembership(chat Chat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.memberFail, chat.ID)
}

// Photos returns the pictures sent so far.
func (s *Server) Photos() []Photo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Photo(nil), s.photos...)
}

// learnLocked records who is in a group from a queued message: its sender posts there (a
// member, unless an administrator already), people joining are members, one leaving has left.
func (s *Server) learnLocked(m Message) {
	if m.Chat.Type == "private" || m.Chat.Type == "channel" {
		return
	}
	set := func(u User, status string) {
		k := [2]int64{m.Chat.ID, u.ID}
		if cur, ok := s.members[k]; ok && status == "member" && (cur.status == "creator" || cur.status == "administrator") {
			return
		}
		s.members[k] = memberState{user: u, status: status}
	}
	if users, ok := m.Extra["new_chat_members"].([]User); ok {
		for _, u := range users {
			set(u, "member")
		}
		return
	}
	if u, ok := m.Extra["left_chat_member"].(User); ok {
		set(u, "left")
		return
	}
	if m.From != nil && !m.From.IsBot {
		set(*m.From, "member")
	}
}

// getChatMember answers as Telegram does: a ChatMember object whose status says whether the
// user is in the chat; a user the chat never had is reported as "left".
func (s *Server) getChatMember(w http.ResponseWriter, form map[string]string) {
	chatID, err := strconv.ParseInt(form["chat_id"], 10, 64)
	if err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: chat not found"})
		return
	}
	userID, err := strconv.ParseInt(form["user_id"], 10, 64)
	if err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: invalid user_id specified"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.memberFail[chatID]; ok {
		writeError(w, e)
		return
	}
	if to, ok := s.migrated[chatID]; ok {
		writeError(w, APIError{Code: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateTo: to})
		return
	}
	st, ok := s.members[[2]int64{chatID, userID}]
	if !ok {
		st = memberState{user: User{ID: userID, FirstName: "?"}, status: "left"}
	}
	out := map[string]any{"user": st.user, "status": st.status}
	if st.status == "restricted" {
		out["is_member"] = true
	}
	writeResult(w, out)
}

// sendPhoto accepts an uploaded picture (multipart field "photo"), as the Bot API does.
func (s *Server) sendPhoto(w http.ResponseWriter, r *http.Request, form map[string]string) {
	s.upload(w, r, form, "photo", func(chatID int64, name string, b []byte) any {
		s.photos = append(s.photos, Photo{ChatID: chatID, Caption: form["caption"], FileName: name, Bytes: b})
		return []map[string]any{{"file_id": "AgADphoto", "file_unique_id": "AQADphoto", "width": 800, "height": 400}}
	})
}

// upload reads the file a send method uploads in the multipart field, refuses what the Bot
// API refuses (no chat, no file, an empty one, a chat that blocked the bot), then records it
// with keep, which returns the message's field of that name, under the lock.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, form map[string]string, field string,
	keep func(chatID int64, name string, b []byte) any) {
	chatID, err := strconv.ParseInt(form["chat_id"], 10, 64)
	if err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: chat not found"})
		return
	}
	if r.MultipartForm == nil || len(r.MultipartForm.File[field]) == 0 {
		writeError(w, APIError{Code: 400, Description: "Bad Request: there is no " + field + " in the request"})
		return
	}
	fh := r.MultipartForm.File[field][0]
	f, err := fh.Open()
	if err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: can't read the " + field})
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
	sent := keep(chatID, fh.Filename, b)
	s.nextMsg[chatID]++
	writeResult(w, map[string]any{
		"message_id": s.nextMsg[chatID], "date": s.tickLocked(),
		"from": s.bot, "chat": map[string]any{"id": chatID, "type": chatType(chatID)},
		field: sent,
	})
}
