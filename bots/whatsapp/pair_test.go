package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// closedPort returns a local address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestPairWithoutNetwork: with WhatsApp unreachable (the connection goes through a proxy
// on a closed port), pairing fails at once with a clear error and exit code, not a hang.
func TestPairWithoutNetwork(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Pair(ctx, PairConfig{DataDir: t.TempDir(), Out: &out, Proxy: "http://" + closedPort(t)})
	if !errors.Is(err, ErrNetwork) {
		t.Fatalf("Pair without network: %v, want ErrNetwork", err)
	}
	if !strings.Contains(err.Error(), "cannot reach WhatsApp") || !strings.Contains(err.Error(), "impossible de joindre WhatsApp") {
		t.Errorf("error does not explain itself in both languages: %v", err)
	}
	t.Logf("operator sees: %v", err)
	if code := PairExitCode(err); code != ExitNetwork {
		t.Errorf("exit code %d, want %d", code, ExitNetwork)
	}
	if strings.Contains(out.String(), "▀") || strings.Contains(out.String(), "▄") {
		t.Error("a QR code was shown although nothing connected")
	}
}

func TestPairAlreadyPaired(t *testing.T) {
	var out bytes.Buffer
	err := Pair(context.Background(), PairConfig{DataDir: pairedDataDir(t), Out: &out, Proxy: "http://" + closedPort(t)})
	if !errors.Is(err, ErrAlreadyPaired) || PairExitCode(err) != ExitAlreadyPaired {
		t.Fatalf("Pair on a paired store: %v", err)
	}
	if got := out.String(); !strings.Contains(got, "Already paired with +337∙∙∙∙∙∙00") {
		t.Errorf("output %q does not name the paired account", got)
	}
	if strings.Contains(out.String(), botPN.User) {
		t.Error("the full number was printed")
	}
}

// TestPairForceForgetsOldDevice: --force drops the stored device before pairing again
// (which here fails on the network, after the old device is gone).
func TestPairForceForgetsOldDevice(t *testing.T) {
	dir := pairedDataDir(t)
	var out bytes.Buffer
	err := Pair(context.Background(), PairConfig{DataDir: dir, Out: &out, Force: true, Proxy: "http://" + closedPort(t)})
	if !errors.Is(err, ErrNetwork) {
		t.Fatalf("Pair --force without network: %v", err)
	}
	c, err := openStore(context.Background(), dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dev, err := c.GetFirstDevice(context.Background())
	if err != nil || dev.ID != nil {
		t.Fatalf("old device still stored: %v %v", dev.ID, err)
	}
}

func TestPairExitCode(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{nil, ExitPaired},
		{ErrAlreadyPaired, ExitAlreadyPaired},
		{ErrPairTimeout, ExitTimeout},
		{ErrNetwork, ExitNetwork},
		{ErrClientOutdated, ExitClientOutdated},
		{ErrPasskeyRequired, ExitPhoneAction},
		{ErrNoMultidevice, ExitPhoneAction},
		{errors.New("other"), ExitFailed},
	}
	for _, tt := range tests {
		if got := PairExitCode(tt.err); got != tt.code {
			t.Errorf("PairExitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}
