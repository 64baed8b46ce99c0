//go:build linux || darwin || freebsd

package health

import (
	"fmt"
	"syscall"
)

// Statfs is the operating system's DiskSpace.
func Statfs(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs: %w", err)
	}
	bs := uint64(st.Bsize) //nolint:unconvert // int64 on linux, uint32 on darwin
	return st.Bavail * bs, st.Blocks * bs, nil
}
