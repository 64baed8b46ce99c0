package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
)

const importSecret = "import-test-secret-0123456789"

// seedDataDir makes a data dir whose event log knows a Telegram supergroup and a WhatsApp
// group (one live event each, an hour ago), as relais run would have left it.
func seedDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	srv, err := embedded.StartNATS(embedded.Options{Dir: filepath.Join(dir, "nats"), Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	names := events.DefaultNames()
	if err := events.Setup(ctx, js, names, events.DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	h, err := events.NewHasher([]byte(importSecret))
	if err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(js, names, h)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for _, ev := range []events.Event{
		{V: events.Version, ID: "telegram:-100777:9000", Kind: events.KindMessage, Platform: events.Telegram, At: at,
			Group: &events.Group{ID: "-100777", Title: "Entraide Nord"}, Sender: events.Member{ID: "501", Name: "Ann"}, Chars: 3},
		{V: events.Version, ID: "whatsapp:120363:ABC", Kind: events.KindMessage, Platform: events.WhatsApp, At: at,
			Group: &events.Group{ID: "120363@g.us", Title: "Entraide Sud"}, Sender: events.Member{ID: "33600000001@s.whatsapp.net", Name: "Zoé"}, Chars: 3},
	} {
		if _, err := pub.Event(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeExports writes a Telegram export of two groups (one relais knows) and a WhatsApp one.
func writeExports(t *testing.T, dir string) (tg, wa string) {
	t.Helper()
	paris, _ := time.LoadLocation("Europe/Paris")
	var msgs []string
	for i := range 30 {
		at := time.Now().Add(-time.Duration(30-i) * 24 * time.Hour).Truncate(time.Second)
		from := 501 + i%4
		reply := ""
		if i > 0 {
			reply = fmt.Sprintf(`,"reply_to_message_id":%d`, i)
		}
		msgs = append(msgs, fmt.Sprintf(`{"id":%d,"type":"message","date":%q,"date_unixtime":"%d","from":"Membre %d","from_id":"user%d","text":"CANARI-cli bonjour"%s}`,
			i+1, at.In(paris).Format("2006-01-02T15:04:05"), at.Unix(), from, from, reply))
	}
	tgJSON := `{"about":"x","chats":{"about":"y","list":[` +
		`{"name":"Entraide Nord","type":"private_supergroup","id":777,"messages":[` + strings.Join(msgs, ",") + `]},` +
		`{"name":"Groupe Inconnu","type":"private_supergroup","id":888,"messages":[` + strings.Join(msgs[:3], ",") + `]}]}}`
	tg = filepath.Join(dir, "result.json")
	if err := os.WriteFile(tg, []byte(tgJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 20 {
		at := time.Now().In(paris).Add(-time.Duration(20-i) * 24 * time.Hour)
		lines = append(lines, fmt.Sprintf("%s - Voisin %d: CANARI-cli salut", at.Format("02/01/2006 15:04"), i%3))
	}
	wa = filepath.Join(dir, "Discussion WhatsApp avec Entraide Sud.txt")
	if err := os.WriteFile(wa, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return tg, wa
}

func runImport(t *testing.T, bin, dataDir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"import"}, args...)...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "RELAIS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "RELAIS_DATA_DIR="+dataDir, "RELAIS_SECRET="+importSecret, "RELAIS_LOG_LEVEL=error")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestImportCommand runs the real binary on an embedded data dir: a whole-account Telegram
// export and a WhatsApp export named by title are imported and summarised, a group relais
// does not know is refused by name, no text reaches the data dir, a second run adds nothing,
// and a running relais (the data dir locked) is refused clearly.
func TestImportCommand(t *testing.T) {
	bin := buildRelais(t)
	dataDir := seedDataDir(t)
	tg, wa := writeExports(t, t.TempDir())

	out, err := runImport(t, bin, dataDir, tg, wa, "--group", "Entraide Sud")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{
		`telegram "Entraide Nord" (-100777): 30 messages, 4 members`,
		`whatsapp "Entraide Sud" (120363@g.us): 20 messages, 3 members`,
		`refused "Groupe Inconnu" (-100888): group unknown to relais`,
		"no text was kept",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if held := filesHolding(t, dataDir, "CANARI-cli"); len(held) > 0 {
		t.Errorf("text in the data dir: %v", held)
	}

	again, err := runImport(t, bin, dataDir, tg, "--group", "Entraide Nord")
	if err != nil || !strings.Contains(again, "nothing new to import") || !strings.Contains(again, "0 messages") {
		t.Errorf("second import: %v\n%s", err, again)
	}

	// relais running on the data dir: it holds the lock.
	srv, err := embedded.StartNATS(embedded.Options{Dir: filepath.Join(dataDir, "nats"), Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	busy, err := runImport(t, bin, dataDir, tg)
	if err == nil || !strings.Contains(busy, "relais is running on") {
		t.Errorf("import beside a running relais: %v\n%s", err, busy)
	}

	unknown, err := runImport(t, bin, t.TempDir(), wa, "--group", "Nulle Part")
	if err == nil || !strings.Contains(unknown, `"Nulle Part"`) {
		t.Errorf("unknown group: %v\n%s", err, unknown)
	}
}

// filesHolding lists the files under dir whose bytes hold needle.
func filesHolding(t *testing.T, dir, needle string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), needle) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
