package main

import (
	"strings"
	"syscall"
	"testing"
)

// After a SIGKILL, the embedded NATS file store may recover with its last message time
// unknown; a replay asked to start at a time then found nothing, and the rebuilt embedded
// Redis was empty: organisers saw no leaders, and a member's consent change published
// nothing. The rebuild now starts from the first event when the stream holds nothing older.
func TestKilledRelaisRebuildsItsState(t *testing.T) {
	r := newCampaignRig(t)
	p := r.start()
	r.conversation()
	r.quiet(p)
	if before := r.ask(p, "/relais"); !strings.Contains(before, "Relais1") {
		t.Fatalf("no leaders before the kill:\n%s", before)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p = r.start()
	if after := r.ask(p, "/relais"); !strings.Contains(after, "Relais1") {
		t.Fatalf("leaders lost by the kill:\n%s\n%s", after, p.Logs())
	}
}
