package eventstest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FilesHolding searches every file under dir, byte for byte, for each needle (ignoring ASCII
// case when fold is set) and returns, per needle, the files holding it, relative to dir: the
// search a data protection officer makes of a data directory after an erasure. It fails the
// test when dir holds no file at all, since then nothing was searched.
func FilesHolding(t testing.TB, dir string, fold bool, needles ...string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	files := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a running server renames and removes files as it goes
		}
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		files++
		if fold {
			data = bytes.ToLower(data)
		}
		for _, n := range needles {
			want := []byte(n)
			if fold {
				want = bytes.ToLower(want)
			}
			if bytes.Contains(data, want) {
				rel, _ := filepath.Rel(dir, path)
				found[n] = append(found[n], rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no file under %s: nothing was searched", dir)
	}
	return found
}
