package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The identity is generated once, kept 0600 in the data dir, and the same at every start;
// RELAIS_INSTANCE wins over it.
func TestInstanceKeptInDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := loadInstance("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !instancePattern.MatchString(first) {
		t.Fatalf("generated identity %q does not match its own pattern", first)
	}
	info, err := os.Stat(filepath.Join(dir, "instance"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("instance file mode %v, want 0600", info.Mode().Perm())
	}
	again, err := loadInstance("", dir)
	if err != nil || again != first {
		t.Fatalf("second start: %q, %v; want %q", again, err, first)
	}
	if got, _ := loadInstance("pod-0", dir); got != "pod-0" {
		t.Errorf("configured identity ignored: %q", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "instance"), []byte("no spaces allowed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadInstance("", dir); err == nil {
		t.Error("a damaged instance file was accepted")
	}
}

func TestInstanceConfig(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	c, err := LoadConfig(env(map[string]string{"RELAIS_INSTANCE": "relais-0.eu_west"}), nil)
	if err != nil || c.Instance != "relais-0.eu_west" {
		t.Fatalf("RELAIS_INSTANCE=relais-0.eu_west: %q, %v", c.Instance, err)
	}
	if _, err := LoadConfig(env(map[string]string{"RELAIS_INSTANCE": "two words"}), nil); err == nil {
		t.Error("RELAIS_INSTANCE with a space accepted")
	}
}
