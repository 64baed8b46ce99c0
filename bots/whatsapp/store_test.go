package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types"
)

func TestStoreDSN(t *testing.T) {
	const pragmas = "?" + sqlitePragmas
	tests := []struct {
		name, dir, db string
		drivers       []string
		dialect, dsn  string
		err           error
		errText       string
	}{
		{name: "default: SQLite in the data dir", dir: "/data", dialect: "sqlite", dsn: "file:/data/whatsapp.db" + pragmas},
		{name: "SQLite file path", dir: "/data", db: "/var/lib/wa.db", dialect: "sqlite", dsn: "file:/var/lib/wa.db" + pragmas},
		{name: "SQLite file URI", db: "file:/var/lib/wa.db", dialect: "sqlite", dsn: "file:/var/lib/wa.db" + pragmas},
		{name: "postgres with pgx linked", db: "postgres://u:p@db/relais", drivers: []string{"sqlite", "pgx"}, dialect: "pgx", dsn: "postgres://u:p@db/relais"},
		{name: "postgresql with lib/pq linked", db: "postgresql://db/relais", drivers: []string{"postgres"}, dialect: "postgres", dsn: "postgresql://db/relais"},
		{name: "postgres without a driver", db: "postgres://db/relais", drivers: []string{"sqlite"}, err: ErrNoPostgresDriver},
		{name: "other URL", db: "mysql://db/relais", errText: "postgres:// URL or a SQLite file path"},
		{name: "path with a query", db: "/tmp/a.db?x=1", errText: "must not contain"},
		{name: "nothing", errText: "no data dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialect, dsn, err := storeDSN(tt.dir, tt.db, tt.drivers)
			switch {
			case tt.err != nil || tt.errText != "":
				if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %v %q", err, tt.err, tt.errText)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			case dialect != tt.dialect || dsn != tt.dsn:
				t.Fatalf("got %s %s, want %s %s", dialect, dsn, tt.dialect, tt.dsn)
			}
		})
	}
}

// TestOpenStoreSQLite: the default store works without cgo, with foreign keys on (whatsmeow
// refuses to upgrade otherwise), in a file only its owner reads.
func TestOpenStoreSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c, err := openStore(context.Background(), dir, "", nil)
	if err != nil {
		t.Fatalf("openStore: %v", err)
	}
	defer c.Close()
	st, err := os.Stat(filepath.Join(dir, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v, want 0600", st.Mode().Perm())
	}
	if err := c.LIDMap.PutLIDMapping(context.Background(), aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	if pn, err := c.LIDMap.GetPNForLID(context.Background(), aliceLID); err != nil || pn != alicePN {
		t.Fatalf("GetPNForLID = %v %v", pn, err)
	}
}

// TestWALoggerRedacts: whatsmeow's log lines keep their sense but lose phone numbers, LIDs
// and names.
func TestWALoggerRedacts(t *testing.T) {
	var buf bytes.Buffer
	l := newWALogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "whatsmeow").Sub("Client")
	l.Warnf("Failed to store LID-PN mapping for %s -> %s: %v", aliceLID, alicePN, errors.New("insert 33612345678@s.whatsapp.net: locked"))
	l.Debugf("Push name of %s changed from %s to %s, dispatching event", types.NewADJID(alicePN.User, 0, 3), "Alice", "Alicia")
	l.Infof("Handled %d offline messages in %s", 42, "3s")
	l.Errorf("%d%% done", 50)
	out := buf.String()
	for _, secret := range []string{"33612345678", "111111111111111", "Alice", "Alicia"} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks %q:\n%s", secret, out)
		}
	}
	for _, kept := range []string{"Failed to store LID-PN mapping", "locked", "Handled 42 offline messages", "module=whatsmeow/Client", "50% done"} {
		if !strings.Contains(out, kept) {
			t.Errorf("log lost %q:\n%s", kept, out)
		}
	}
}

// FuzzParseChat: a reply's chat comes from NATS; parsing must never panic and only accept
// a person or a group.
func FuzzParseChat(f *testing.F) {
	for _, s := range []string{"33612345678@s.whatsapp.net", "111@lid", "1203@g.us", "status@broadcast", "a:b@c", "@", "1.2:3@lid", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := parseChat(s)
		if err != nil {
			return
		}
		switch j.Server {
		case types.HiddenUserServer, types.DefaultUserServer, types.GroupServer:
		default:
			t.Fatalf("accepted server %q", j.Server)
		}
		if j.User == "" || j.Device != 0 {
			t.Fatalf("accepted %+v", j)
		}
	})
}
