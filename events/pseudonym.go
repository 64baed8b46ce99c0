package events

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// NewPseudonym returns a fresh random erasure pseudonym: it derives from nothing about the
// member, so nothing can link it back to them, not even relais' own secret.
func NewPseudonym() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("pseudonym: %w", err)
	}
	return PseudonymPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
