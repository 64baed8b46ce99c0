package nationbuilder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/relais-bot/relais/crm"
)

// Token is an OAuth token pair. Its String never shows the secrets.
type Token struct {
	Access  string    `json:"access_token"`
	Refresh string    `json:"refresh_token,omitempty"`
	Expiry  time.Time `json:"expiry,omitzero"`
}

func (t Token) String() string { return "nationbuilder token (redacted)" }

// TokenStore keeps the newest token pair. Load returns found=false when nothing is stored.
type TokenStore interface {
	Load(ctx context.Context) (t Token, found bool, err error)
	Save(ctx context.Context, t Token) error
}

// FileTokenStore keeps the token pair in one 0600 file (in the data dir).
type FileTokenStore struct{ Path string }

// Load reads the stored pair.
func (f FileTokenStore) Load(_ context.Context) (Token, bool, error) {
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, fmt.Errorf("nationbuilder token file: %w", err)
	}
	var t Token
	if err := json.Unmarshal(data, &t); err != nil || t.Access == "" && t.Refresh == "" {
		return Token{}, false, errors.New("nationbuilder token file: unreadable")
	}
	return t, true, nil
}

// Save replaces the stored pair atomically (write, sync, rename), so a crash never leaves
// half a refresh token behind.
func (f FileTokenStore) Save(_ context.Context, t Token) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("nationbuilder token file: %w", err)
	}
	dir := filepath.Dir(f.Path)
	tmp, err := os.CreateTemp(dir, ".nb-token-*")
	if err != nil {
		return fmt.Errorf("nationbuilder token file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("nationbuilder token file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("nationbuilder token file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("nationbuilder token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("nationbuilder token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("nationbuilder token file: %w", err)
	}
	return nil
}

// tokens holds the current access token and refreshes it, one refresh at a time: a refresh
// token works once, so two concurrent refreshes would lock relais out.
type tokens struct {
	client           *http.Client
	url              string
	clientID, secret string
	store            TokenStore

	mu      sync.Mutex
	loaded  bool
	current Token
}

func (t *tokens) canRefresh() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.clientID != "" && t.secret != "" && t.current.Refresh != ""
}

// access returns a usable access token, refreshing ahead of expiry.
func (t *tokens) access(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loaded && t.store != nil {
		// A stored pair is newer than the configured one: the configured refresh token was
		// spent by the first refresh.
		stored, found, err := t.store.Load(ctx)
		if err != nil {
			return "", &crm.Error{Op: "load token", Message: err.Error(), Retryable: true}
		}
		if found {
			t.current = stored
		}
	}
	t.loaded = true
	needs := t.current.Access == "" || (!t.current.Expiry.IsZero() && time.Until(t.current.Expiry) < 5*time.Minute)
	if needs && t.current.Refresh != "" && t.clientID != "" {
		if err := t.refreshLocked(ctx); err != nil {
			return "", err
		}
	}
	if t.current.Access == "" {
		return "", &crm.Error{Op: "authenticate", Message: "no access token", Retryable: true}
	}
	return t.current.Access, nil
}

// refresh replaces the token that failed, unless another request already did.
func (t *tokens) refresh(ctx context.Context, failed string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current.Access != failed {
		return nil
	}
	return t.refreshLocked(ctx)
}

func (t *tokens) refreshLocked(ctx context.Context) error {
	const op = "refresh token"
	body, _ := json.Marshal(map[string]string{
		"grant_type": "refresh_token", "refresh_token": t.current.Refresh,
		"client_id": t.clientID, "client_secret": t.secret,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return &crm.Error{Op: op, Message: "cannot build request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return crm.NetworkError(op, scrub(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return crm.NetworkError(op, scrub(err))
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		ce := crm.Classify(op, resp, e.Error, "")
		if ce == nil {
			ce = &crm.Error{Op: op, Status: resp.StatusCode}
		}
		// A refused refresh token needs an operator whatever the status: keep retrying
		// slowly rather than dead-lettering every contact.
		ce.Retryable = true
		if ce.RetryAfter == 0 {
			ce.RetryAfter = time.Minute
		}
		return ce
	}
	next, err := parseToken(data, time.Now())
	if err != nil {
		return &crm.Error{Op: op, Message: err.Error(), Retryable: true}
	}
	if next.Refresh == "" {
		next.Refresh = t.current.Refresh
	}
	t.current = next
	if t.store != nil {
		if err := t.store.Save(ctx, next); err != nil {
			// The old refresh token is revoked now: say so loudly, but the new access token
			// still works for 24 h.
			return &crm.Error{Op: "save token", Message: err.Error(), Retryable: true}
		}
	}
	return nil
}

// parseToken reads the token endpoint's answer.
func parseToken(data []byte, now time.Time) (Token, error) {
	var r struct {
		AccessToken  string  `json:"access_token"`
		RefreshToken string  `json:"refresh_token"`
		ExpiresIn    float64 `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Token{}, errors.New("unreadable token answer")
	}
	if r.AccessToken == "" {
		return Token{}, errors.New("token answer without access_token")
	}
	t := Token{Access: r.AccessToken, Refresh: r.RefreshToken}
	if r.ExpiresIn > 0 && r.ExpiresIn < 400*24*3600 {
		t.Expiry = now.Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	return t, nil
}
