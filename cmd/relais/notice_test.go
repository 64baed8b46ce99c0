package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImportWhileStoppedNoticeOnce: relais import run while relais is stopped publishes the
// history onto the embedded log; the bridge, at its next start, applies it and posts the
// post-import notice in the group, once. A second import of older history, and a restart,
// post none again.
func TestImportWhileStoppedNoticeOnce(t *testing.T) {
	r := newDPORig(t, "opt-in")
	p := r.start()
	r.say(r.organiser, "Bonjour à tous")
	r.quiet(p)
	r.stop(p)

	importFile := func(data []byte) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "result.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(r.bin, "import", path)
		cmd.Dir = t.TempDir()
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "NATS_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "RELAIS_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, r.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("relais import: %v\n%s", err, out)
		}
		return string(out)
	}
	notices := func() []string {
		var out []string
		for _, s := range r.sentTo(r.group.ID) {
			if strings.Contains(s, "a compté l'historique de ce groupe") {
				out = append(out, s)
			}
		}
		return out
	}

	if out := importFile(uploadExport()); !strings.Contains(out, "next start") {
		t.Fatalf("relais import while stopped printed:\n%s", out)
	}
	if n := len(notices()); n != 0 {
		t.Fatalf("a notice before relais started: %d", n)
	}
	p = r.start()
	r.eventually(p, "the post-import notice", func() bool { return len(notices()) == 1 })
	if got := notices()[0]; !strings.Contains(got, "17 jours") || !strings.Contains(got, "Aucun texte n'a été conservé") || !strings.Contains(got, "/stop") {
		t.Errorf("the notice:\n%s", got)
	}
	r.quiet(p)
	r.stop(p)

	// Older history of the same group: imported, and no second notice.
	if out := importFile(uploadExportFrom(50, 100)); !strings.Contains(out, "Entraide Belleville") || !strings.Contains(out, "15 messages") {
		t.Fatalf("the older import printed:\n%s", out)
	}
	p = r.start()
	r.quiet(p)
	time.Sleep(2 * time.Second)
	r.quiet(p)
	r.stop(p)
	if n := len(notices()); n != 1 {
		t.Errorf("%d notices in the group after a second import and restarts, want 1", n)
	}
}
