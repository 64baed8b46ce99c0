package embedded_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-bot/relais/events/embedded"
)

// A store or listen address relais cannot use is an error at once, with the reason, never a
// server without JetStream or a wait for a readiness that will not come.
func TestStartNATSRefusesWhatItCannotUse(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts embedded.Options
		want string
	}{
		{"store under a file", embedded.Options{Dir: filepath.Join(file, "nats")}, "not a directory"},
		{"listen without a port", embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1"}, "listen"},
		{"listen on a bad port", embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:x"}, "bad port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := embedded.StartNATS(tc.opts)
			if err == nil {
				srv.Shutdown()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestStartClusterRefusesABadSize(t *testing.T) {
	for _, size := range []int{-1, 10} {
		if c, err := embedded.StartCluster(embedded.ClusterOptions{Dir: t.TempDir(), Size: size}); err == nil {
			c.Shutdown()
			t.Errorf("size %d accepted", size)
		}
	}
}
