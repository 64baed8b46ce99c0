package export

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/relais-bot/relais/events"
)

// ReadZip reads the chat text of an export shared as a .zip: the one .txt entry named as
// WhatsApp names it (`_chat.txt` on iOS, `WhatsApp Chat with X.txt` or `Discussion WhatsApp
// avec X.txt` on Android), else the only .txt entry. Media entries are never opened. An
// archive without such an entry, or with several candidates, is ErrNoChat.
func ReadZip(ctx context.Context, ra io.ReaderAt, size int64, opt Options, emit func(events.Event) error) (Summary, error) {
	zr, err := zip.NewReader(ra, size)
	// Entry names are only compared, never used as paths: an insecure name is harmless.
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		return Summary{}, fmt.Errorf("whatsapp export: zip: %w", err)
	}
	f, err := chatEntry(zr.File)
	if err != nil {
		return Summary{}, fmt.Errorf("whatsapp export: zip: %w", err)
	}
	limit := opt.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	// The header's size may lie; Read's own limit holds regardless.
	if f.UncompressedSize64 > uint64(limit) {
		return Summary{}, fmt.Errorf("whatsapp export: zip: %w", ErrTooLarge)
	}
	rc, err := f.Open()
	if err != nil {
		return Summary{}, fmt.Errorf("whatsapp export: zip: %w", err)
	}
	defer rc.Close()
	return Read(ctx, rc, opt, emit)
}

// chatEntry picks the chat text among an archive's entries.
func chatEntry(files []*zip.File) (*zip.File, error) {
	var named, txt []*zip.File
	for _, f := range files {
		if f.FileInfo().IsDir() {
			continue
		}
		base := path.Base(strings.ReplaceAll(f.Name, "\\", "/"))
		if !strings.EqualFold(path.Ext(base), ".txt") {
			continue
		}
		txt = append(txt, f)
		if chatName(base) {
			named = append(named, f)
		}
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(named) == 0 && len(txt) == 1:
		return txt[0], nil
	case len(named) > 1 || len(txt) > 1:
		return nil, fmt.Errorf("%w: %d candidate text files", ErrNoChat, max(len(named), len(txt)))
	}
	return nil, ErrNoChat
}

// chatName reports the names WhatsApp gives the chat text; a shared "notes.txt" among the
// media is not one of them.
func chatName(base string) bool {
	if base == "_chat.txt" {
		return true
	}
	for _, prefix := range []string{"WhatsApp Chat with ", "WhatsApp Chat - ", "Discussion WhatsApp avec ", "Discussion WhatsApp - "} {
		if strings.HasPrefix(base, prefix) {
			return true
		}
	}
	return false
}
