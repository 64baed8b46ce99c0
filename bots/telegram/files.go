package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrFileTooBig says Telegram refused to hand the bot a file: bots get files up to 20 MB.
var ErrFileTooBig = errors.New("telegram gives bots files up to 20 MB")

// Files downloads the files members send the bot (an organiser's chat export): getFile for
// the file's path, then the path from the file endpoint. It streams: nothing is written to
// disk. Its errors never carry the token, which is in both URLs.
type Files struct {
	Token string
	// APIEndpoint is TELEGRAM_API_ENDPOINT (token, method); FileEndpoint is
	// TELEGRAM_FILE_ENDPOINT (token, file path).
	APIEndpoint, FileEndpoint string
	Client                    *http.Client // nil: http.DefaultClient
}

// Open returns the content of the file fileID as a stream, which the caller closes.
func (f Files) Open(ctx context.Context, fileID string) (io.ReadCloser, error) {
	red := redactor{token: f.Token}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	form := url.Values{"file_id": {fileID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf(f.APIEndpoint, f.Token, "getFile"), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("getFile: %s", red.text(err.Error()))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return nil, red.err(fmt.Errorf("getFile: %w", err))
	}
	defer resp.Body.Close()
	var out struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
		Result      struct {
			FilePath string `json:"file_path"`
		} `json:"result"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return nil, fmt.Errorf("getFile: status %d, unreadable answer", resp.StatusCode)
	}
	switch {
	case !out.OK && strings.Contains(strings.ToLower(out.Description), "too big"):
		return nil, ErrFileTooBig
	case !out.OK:
		return nil, fmt.Errorf("getFile: status %d: %s", resp.StatusCode, red.text(out.Description))
	case out.Result.FilePath == "" || strings.Contains(out.Result.FilePath, ".."):
		return nil, errors.New("getFile: no usable file path")
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf(f.FileEndpoint, f.Token, out.Result.FilePath), nil)
	if err != nil {
		return nil, fmt.Errorf("download file: %s", red.text(err.Error()))
	}
	dl, err := client.Do(req)
	if err != nil {
		return nil, red.err(fmt.Errorf("download file: %w", err))
	}
	if dl.StatusCode != http.StatusOK {
		dl.Body.Close()
		return nil, fmt.Errorf("download file: status %d", dl.StatusCode)
	}
	return dl.Body, nil
}

// deleteMessage deletes a message: bots may delete any message of a private chat (an
// organiser's uploaded export, once read). A message already gone is not an error.
func (a *Adapter) deleteMessage(ctx context.Context, chat int64, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := a.request(ctx, "deleteMessage", map[string]string{"chat_id": strconv.FormatInt(chat, 10), "message_id": id})
	if apiCode(err) == http.StatusBadRequest {
		a.log.Info("telegram message to delete was already gone", "chat", a.chatToken(chat))
		return nil
	}
	return err
}
