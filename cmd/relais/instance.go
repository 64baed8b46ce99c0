package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// instancePattern is what RELAIS_INSTANCE may be: it goes into lock values and logs, and a
// pod or host name fits.
var instancePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// loadInstance returns RELAIS_INSTANCE, or the identity kept in the data dir, generating it
// on the first start. The identity is what lets a restarted process take its own adapter
// locks back at once, so it must outlive the process: kept like the secret, written once,
// 0600 (it names no one, but nobody else needs to read the data dir).
func loadInstance(configured, dataDir string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, "instance")
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if !instancePattern.MatchString(s) {
			return "", fmt.Errorf("instance: %s does not hold an identity (up to 64 of A-Z, a-z, 0-9, . _ -)", path)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("instance: %w", err)
	}
	raw := make([]byte, 6)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("instance: %w", err)
	}
	s := "relais-" + hex.EncodeToString(raw)
	// O_EXCL: two processes starting together on one data dir get one identity, as they
	// would share everything else there.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadInstance("", dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("instance: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("instance: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("instance: %w", err)
	}
	return s, nil
}

// instanceID is this process's identity for the adapter locks. Without one the locks still
// work, only a restart then waits out its own lease: so a data dir that cannot keep it is
// a warning, not a reason to refuse to start.
func (rt *runtime) instanceID() string {
	id, err := loadInstance(rt.cfg.Instance, rt.cfg.DataDir)
	if err != nil {
		rt.log.Warn("no instance identity: a restart waits for its own adapter locks to expire", "err", err.Error())
		return ""
	}
	return id
}
