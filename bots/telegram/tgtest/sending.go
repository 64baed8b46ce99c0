package tgtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

func (s *Server) sendMessage(w http.ResponseWriter, form map[string]string) {
	chatID, err := strconv.ParseInt(form["chat_id"], 10, 64)
	if err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: chat not found"})
		return
	}
	if form["text"] == "" {
		writeError(w, APIError{Code: 400, Description: "Bad Request: message text is empty"})
		return
	}
	replyTo, _ := strconv.Atoi(form["reply_to_message_id"])
	s.mu.Lock()
	defer s.mu.Unlock()
	if to, ok := s.migrated[chatID]; ok {
		writeError(w, APIError{Code: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateTo: to})
		return
	}
	if desc, ok := s.forbidden[chatID]; ok {
		writeError(w, Forbidden(desc))
		return
	}
	if q := s.failTo[chatID]; len(q) > 0 {
		s.failTo[chatID] = q[1:]
		s.refusals = append(s.refusals, Refusal{At: time.Now(), ChatID: chatID, Error: q[0]})
		writeError(w, q[0])
		return
	}
	sent := Sent{At: time.Now(), ChatID: chatID, Text: form["text"], ReplyTo: replyTo}
	if rm := form["reply_markup"]; rm != "" {
		if !json.Valid([]byte(rm)) {
			writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse reply keyboard markup JSON object"})
			return
		}
		sent.ReplyMarkup = json.RawMessage(rm)
	}
	s.sent = append(s.sent, sent)
	s.nextMsg[chatID]++
	if d := s.sendDelay; d > 0 {
		// The message is delivered; only the answer is late (a slow network).
		s.mu.Unlock()
		time.Sleep(d)
		s.mu.Lock()
	}
	writeResult(w, map[string]any{
		"message_id": s.nextMsg[chatID], "date": s.tickLocked(), "text": sent.Text,
		"from": s.bot, "chat": map[string]any{"id": chatID, "type": chatType(chatID)},
	})
}

func chatType(id int64) string {
	if id > 0 {
		return "private"
	}
	if id < -1_000_000_000_000 {
		return "supergroup"
	}
	return "group"
}

// SetSendDelay makes every sendMessage answer d late, after the message was delivered: a
// bot killed meanwhile sent it without knowing.
func (s *Server) SetSendDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendDelay = d
}

// Press queues the press of an inline button: a callback_query from user on the bot's
// message messageID in their private chat, carrying data. It returns the query's id.
func (s *Server) Press(from User, messageID int, data string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextCallback++
	id := fmt.Sprintf("cb%d%06d", from.ID, s.nextCallback)
	s.pushLocked(map[string]any{"callback_query": map[string]any{
		"id": id, "from": from, "chat_instance": fmt.Sprint(from.ID), "data": data,
		"message": map[string]any{"message_id": messageID, "date": s.tickLocked(), "from": s.bot,
			"chat": Private(from), "text": "…"},
	}})
	return id
}

// AnsweredCallbacks are the callback query ids the bot answered, in order.
func (s *Server) AnsweredCallbacks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.answered...)
}

// InlineButtons reads the inline keyboard of a sent message: each button's text and
// callback data, in order.
func (m Sent) InlineButtons() (texts, data []string) {
	var markup struct {
		InlineKeyboard [][]struct {
			Text         string `json:"text"`
			CallbackData string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	if len(m.ReplyMarkup) == 0 || json.Unmarshal(m.ReplyMarkup, &markup) != nil {
		return nil, nil
	}
	for _, row := range markup.InlineKeyboard {
		for _, b := range row {
			texts = append(texts, b.Text)
			data = append(data, b.CallbackData)
		}
	}
	return texts, data
}

// Refusal is a sendMessage the fake refused on purpose (FailNextTo).
type Refusal struct {
	At     time.Time
	ChatID int64
	Error  APIError
}

// FailNextTo makes the next sendMessage to chat fail with e (queued, like InjectError).
func (s *Server) FailNextTo(chat int64, e APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failTo == nil {
		s.failTo = map[int64][]APIError{}
	}
	s.failTo[chat] = append(s.failTo[chat], e)
}

// Refusals are the sendMessage calls FailNextTo refused, in order.
func (s *Server) Refusals() []Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Refusal(nil), s.refusals...)
}
