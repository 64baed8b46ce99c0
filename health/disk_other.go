//go:build !(linux || darwin || freebsd)

package health

import "errors"

// Statfs is not available here: no disk incident.
func Statfs(string) (free, total uint64, err error) {
	return 0, 0, errors.New("statfs: not supported on this system")
}
