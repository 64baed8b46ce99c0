package tgtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/file/bot") {
		s.serveFile(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" {
		writeError(w, APIError{Code: 404, Description: "Not Found"})
		return
	}
	if token != s.token {
		writeError(w, Unauthorized())
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse multipart form"})
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, APIError{Code: 400, Description: "Bad Request: can't parse form"})
		return
	}
	form := map[string]string{}
	for k, v := range r.PostForm {
		if len(v) > 0 {
			form[k] = v[0]
		}
	}
	s.mu.Lock()
	s.calls[method]++
	s.callTimes[method] = append(s.callTimes[method], time.Now())
	if q := s.failures[method]; len(q) > 0 {
		e := q[0]
		s.failures[method] = q[1:]
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	s.mu.Unlock()
	switch method {
	case "getMe":
		writeResult(w, s.bot)
	case "getUpdates":
		s.getUpdates(w, r, form)
	case "setWebhook":
		s.setWebhook(w, form)
	case "deleteWebhook":
		s.mu.Lock()
		s.webhook = nil
		s.mu.Unlock()
		writeResult(w, true)
	case "getWebhookInfo":
		s.mu.Lock()
		info := map[string]any{"url": "", "has_custom_certificate": false, "pending_update_count": len(s.queue)}
		if s.webhook != nil {
			info["url"] = s.webhook.URL
		}
		s.mu.Unlock()
		writeResult(w, info)
	case "sendMessage":
		s.sendMessage(w, form)
	case "answerCallbackQuery":
		s.mu.Lock()
		if form["callback_query_id"] == "" {
			s.mu.Unlock()
			writeError(w, APIError{Code: 400, Description: "Bad Request: query is too old and response timeout expired or query ID is invalid"})
			return
		}
		s.answered = append(s.answered, form["callback_query_id"])
		s.mu.Unlock()
		writeResult(w, true)
	case "getChatMember":
		s.getChatMember(w, form)
	case "sendPhoto":
		s.sendPhoto(w, r, form)
	case "sendDocument":
		s.sendDocument(w, r, form)
	case "getFile":
		s.getFile(w, form)
	case "deleteMessage":
		s.deleteMessage(w, form)
	default:
		writeError(w, APIError{Code: 404, Description: "Not Found: method not found"})
	}
}

func writeResult(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": v})
}

func writeError(w http.ResponseWriter, e APIError) {
	body := map[string]any{"ok": false, "error_code": e.Code, "description": e.Description}
	params := map[string]any{}
	if e.RetryAfter > 0 {
		params["retry_after"] = e.RetryAfter
	}
	if e.MigrateTo != 0 {
		params["migrate_to_chat_id"] = e.MigrateTo
	}
	if len(params) > 0 {
		body["parameters"] = params
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code)
	_ = json.NewEncoder(w).Encode(body)
}
