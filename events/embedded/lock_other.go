//go:build !unix

package embedded

import (
	"errors"
	"os"
)

// ErrInUse says another process runs an embedded server on the same store.
var ErrInUse = errors.New("the data dir is in use by a running relais")

// lockDir does not lock where flock is missing: relais run and relais import must then not
// be run at once by the operator.
func lockDir(string) (*os.File, error) { return nil, nil }

func unlock(*os.File) {}
