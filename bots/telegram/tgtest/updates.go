package tgtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Push queues a raw update object (without update_id, which the fake assigns) and returns
// its update id.
func (s *Server) Push(update map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushLocked(update)
}

// PushRaw queues raw bytes as they are, for malformed updates. It returns the id it counted.
func (s *Server) PushRaw(raw []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextUpdate
	s.nextUpdate++
	s.queue = append(s.queue, queued{id: id, raw: append([]byte(nil), raw...)})
	s.wakeLocked()
	return id
}

func (s *Server) pushLocked(update map[string]any) int {
	id := s.nextUpdate
	s.nextUpdate++
	update["update_id"] = id
	raw, err := json.Marshal(update)
	if err != nil {
		// Only a value JSON cannot represent (a func, a channel) gets here: a bug in the
		// calling test, not input from outside.
		panic(fmt.Sprintf("tgtest: update does not marshal: %v", err))
	}
	s.queue = append(s.queue, queued{id: id, raw: raw})
	s.wakeLocked()
	return id
}

func (s *Server) wakeLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// SetTime sets the date of the next update: a conversation can span weeks in a moment.
// Dates never go backwards, since Telegram's don't.
func (s *Server) SetTime(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = max(s.clock, t.Unix())
}

func (s *Server) tickLocked() int64 {
	s.clock += 7
	return s.clock
}

// UpdateJSON returns the raw JSON of a queued update, or nil.
func (s *Server) UpdateJSON(id int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queue {
		if q.id == id {
			return append([]byte(nil), q.raw...)
		}
	}
	return nil
}

// LastUpdate returns the raw JSON of the most recently queued update still held, or nil.
func (s *Server) LastUpdate() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil
	}
	return append([]byte(nil), s.queue[len(s.queue)-1].raw...)
}

// Send queues a new message and returns its message id.
func (s *Server) Send(m Message) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, obj := s.messageLocked(m)
	s.pushLocked(map[string]any{"message": obj})
	return id
}

// Text queues a plain text message from a user and returns its message id.
func (s *Server) Text(chat Chat, from User, text string) int {
	return s.Send(Message{Chat: chat, From: &from, Text: text})
}

// Reply queues a text reply to message to and returns its message id.
func (s *Server) Reply(chat Chat, from User, to int, text string) int {
	return s.Send(Message{Chat: chat, From: &from, Text: text, ReplyTo: to})
}

// Edit queues an edited_message for an earlier message, with new text.
func (s *Server) Edit(chat Chat, messageID int, text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.messages[[2]int64{chat.ID, int64(messageID)}]
	obj := map[string]any{
		"message_id": messageID, "chat": chat, "date": st.date, "edit_date": s.tickLocked(), "text": text,
	}
	if st.from != nil {
		obj["from"] = st.from
	}
	return s.pushLocked(map[string]any{"edited_message": obj})
}

// Join queues a new_chat_members service message: users joined, added by from (or by
// themselves when from is nil).
func (s *Server) Join(chat Chat, from *User, users ...User) int {
	if from == nil && len(users) > 0 {
		from = &users[0]
	}
	return s.Send(Message{Chat: chat, From: from, Extra: map[string]any{"new_chat_members": users}})
}

// Leave queues a left_chat_member service message.
func (s *Server) Leave(chat Chat, user User) int {
	return s.Send(Message{Chat: chat, From: &user, Extra: map[string]any{"left_chat_member": user}})
}

// ChatMember queues a chat_member update: user's status went from old to new (member, left,
// kicked, administrator, creator, restricted).
func (s *Server) ChatMember(chat Chat, user User, oldStatus, newStatus string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[[2]int64{chat.ID, user.ID}] = memberState{user: user, status: newStatus}
	return s.pushLocked(map[string]any{"chat_member": s.memberUpdateLocked(chat, user, user, oldStatus, newStatus)})
}

// MyChatMember queues a my_chat_member update about the bot itself, changed by from.
func (s *Server) MyChatMember(chat Chat, from User, oldStatus, newStatus string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushLocked(map[string]any{"my_chat_member": s.memberUpdateLocked(chat, from, s.bot, oldStatus, newStatus)})
}

func (s *Server) memberUpdateLocked(chat Chat, from, user User, oldStatus, newStatus string) map[string]any {
	return map[string]any{
		"chat": chat, "from": from, "date": s.tickLocked(),
		"old_chat_member": map[string]any{"user": user, "status": oldStatus},
		"new_chat_member": map[string]any{"user": user, "status": newStatus},
	}
}

// Reaction queues a message_reaction update: user now reacts with emoji (none: removed).
func (s *Server) Reaction(chat Chat, user User, messageID int, emoji ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	newR := []map[string]any{}
	for _, e := range emoji {
		newR = append(newR, map[string]any{"type": "emoji", "emoji": e})
	}
	return s.pushLocked(map[string]any{"message_reaction": map[string]any{
		"chat": chat, "message_id": messageID, "user": user, "date": s.tickLocked(),
		"old_reaction": []any{}, "new_reaction": newR,
	}})
}

// Migrate upgrades a basic group to a supergroup as Telegram does: a migrate_to_chat_id
// message in the old chat, a migrate_from_chat_id message in the new one, and sends to the
// old id fail with 400 from now on. It returns the new chat.
func (s *Server) Migrate(old Chat, newID int64, by User) Chat {
	nc := Supergroup(newID, old.Title)
	s.Send(Message{Chat: old, From: &by, Extra: map[string]any{"migrate_to_chat_id": newID}})
	s.Send(Message{Chat: nc, From: &by, Extra: map[string]any{"migrate_from_chat_id": old.ID}})
	s.mu.Lock()
	s.migrated[old.ID] = newID
	s.mu.Unlock()
	return nc
}

// ShareContact queues a private message in which from shares a contact.
func (s *Server) ShareContact(from User, phone string, contactUserID int64) int {
	return s.Send(Message{Chat: Private(from), From: &from, Contact: &Contact{PhoneNumber: phone, FirstName: from.FirstName, UserID: contactUserID}})
}

func (s *Server) messageLocked(m Message) (int, map[string]any) {
	s.nextMsg[m.Chat.ID]++
	id := s.nextMsg[m.Chat.ID]
	date := s.tickLocked()
	obj := map[string]any{"message_id": id, "chat": m.Chat, "date": date}
	if m.From != nil {
		obj["from"] = m.From
	}
	if m.SenderChat != nil {
		obj["sender_chat"] = m.SenderChat
	}
	if m.Text != "" {
		obj["text"] = m.Text
		if len(m.Entities) > 0 {
			obj["entities"] = m.Entities
		}
	}
	if m.Caption != "" {
		obj["caption"] = m.Caption
		if len(m.Entities) > 0 && m.Text == "" {
			obj["caption_entities"] = m.Entities
		}
	}
	if m.Photo {
		obj["photo"] = []map[string]any{{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}}
	}
	if m.Contact != nil {
		obj["contact"] = m.Contact
	}
	if m.ThreadID != 0 {
		obj["message_thread_id"] = m.ThreadID
	}
	if m.TopicMessage {
		obj["is_topic_message"] = true
	}
	if m.ReplyTo != 0 {
		if st, ok := s.messages[[2]int64{m.Chat.ID, int64(m.ReplyTo)}]; ok {
			r := map[string]any{"message_id": m.ReplyTo, "chat": st.chat, "date": st.date}
			if st.from != nil {
				r["from"] = st.from
			}
			obj["reply_to_message"] = r
		} else {
			obj["reply_to_message"] = map[string]any{"message_id": m.ReplyTo, "chat": m.Chat, "date": date}
		}
	}
	for k, v := range m.Extra {
		obj[k] = v
	}
	s.messages[[2]int64{m.Chat.ID, int64(id)}] = storedMsg{chat: m.Chat, from: m.From, date: date}
	s.learnLocked(m)
	return id, obj
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, form map[string]string) {
	offset, _ := strconv.Atoi(form["offset"])
	limit, _ := strconv.Atoi(form["limit"])
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, _ := strconv.Atoi(form["timeout"])
	var allowed []string
	if a, ok := form["allowed_updates"]; ok {
		if err := json.Unmarshal([]byte(a), &allowed); err != nil {
			writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse allowed updates"})
			return
		}
	}

	s.mu.Lock()
	s.lastGetParams = form
	if s.webhook != nil {
		s.mu.Unlock()
		writeError(w, APIError{Code: 409, Description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"})
		return
	}
	if allowed != nil {
		s.allowed = allowed
	}
	s.pollGen++
	gen := s.pollGen
	s.wakeLocked() // an older long poll ends with 409, as on Telegram
	confirmed, hook := s.confirmLocked(offset)
	s.mu.Unlock()
	if confirmed && hook != nil {
		hook(offset)
	}

	deadline := time.After(time.Duration(timeout) * time.Second)
	for {
		s.mu.Lock()
		if s.pollGen != gen {
			s.mu.Unlock()
			writeError(w, Conflict())
			return
		}
		batch := s.batchLocked(offset, limit)
		wake := s.wake
		s.mu.Unlock()
		if len(batch) > 0 || timeout <= 0 {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":true,"result":[%s]}`, strings.Join(batch, ","))
			return
		}
		select {
		case <-wake:
		case <-deadline:
			writeResult(w, []any{})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// confirmLocked applies an offset. Telegram confirms by its own order of updates, not by
// comparing numbers (ids are random after a quiet week), so the fake drops the queue up to
// the update whose id is offset-1; failing that, every delivered update below offset. A
// negative offset keeps only the last -offset updates.
func (s *Server) confirmLocked(offset int) (bool, func(int)) {
	if offset == 0 || len(s.queue) == 0 {
		return false, nil
	}
	before := len(s.queue)
	if offset < 0 {
		if keep := -offset; keep < len(s.queue) {
			s.queue = append([]queued(nil), s.queue[len(s.queue)-keep:]...)
		}
		return len(s.queue) != before, s.onConfirm
	}
	cut := -1
	for i, q := range s.queue {
		if q.id == offset-1 {
			cut = i
		}
	}
	if cut >= 0 {
		s.queue = append([]queued(nil), s.queue[cut+1:]...)
	} else {
		kept := s.queue[:0:0]
		for _, q := range s.queue {
			if !(q.delivered && q.id < offset) {
				kept = append(kept, q)
			}
		}
		s.queue = kept
	}
	if len(s.queue) == before {
		return false, nil
	}
	s.confirmed = max(s.confirmed, offset)
	return true, s.onConfirm
}

// batchLocked returns up to limit updates, in queue order. With a positive offset an update
// is returned if it was never delivered or its id is at least offset.
func (s *Server) batchLocked(offset, limit int) []string {
	var out []string
	for i := range s.queue {
		if len(out) == limit {
			break
		}
		q := &s.queue[i]
		if offset > 0 && q.delivered && q.id < offset {
			continue
		}
		q.delivered = true
		out = append(out, string(q.raw))
	}
	return out
}
