package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bots/whatsapp"
)

// Without a network (here: a proxy on a closed port), pairing ends with a clear message and
// the network exit code, not the timeout code of a hang on a QR code nobody can scan.
func TestWhatsAppPairWithoutNetwork(t *testing.T) {
	bin := buildRelais(t)
	cmd := exec.Command(bin, "whatsapp", "pair", "--proxy", "http://"+freeAddr(t), "--timeout", "30s")
	cmd.Env = append(cmd.Environ(), "RELAIS_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != whatsapp.ExitNetwork {
		t.Fatalf("exit: %v, want code %d\n%s", err, whatsapp.ExitNetwork, out)
	}
	if !strings.Contains(string(out), "WhatsApp") {
		t.Fatalf("the message does not say what failed:\n%s", out)
	}
	t.Logf("operator sees:\n%s", out)
}
