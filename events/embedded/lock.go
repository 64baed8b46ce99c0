//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrInUse says another process runs an embedded server on the same store.
var ErrInUse = errors.New("the data dir is in use by a running relais")

// lockDir takes an exclusive lock on dir's lock file. The kernel releases it when the
// process ends, however it ends, so a killed relais leaves no stale lock behind.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "relais.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("embedded nats: %s: %w", dir, ErrInUse)
		}
		return nil, fmt.Errorf("embedded nats: lock: %w", err)
	}
	return f, nil
}

func unlock(f *os.File) {
	if f != nil {
		_ = f.Close() // closing the descriptor releases the lock
	}
}
