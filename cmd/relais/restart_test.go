package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

// A relais killed with SIGKILL (embedded defaults, the data dir kept) answers again as soon
// as it has restarted: its own Telegram poll lock, left behind by the kill, is reclaimed at
// once under the instance identity kept in the data dir, instead of keeping the bot deaf
// until the lock expires.
func TestKilledRelaisAnswersSoonAfterRestart(t *testing.T) {
	bin := buildRelais(t)
	bot := tgtest.New(t)
	dataDir := t.TempDir()
	group := tgtest.Supergroup(-1001999, "Entraide Belleville")
	start := func() (*process, time.Time) {
		addr := freeAddr(t)
		started := time.Now()
		return startRelais(t, bin, []string{
			"RELAIS_DATA_DIR=" + dataDir, "RELAIS_HTTP_ADDR=" + addr,
			"TELEGRAM_TOKEN=" + bot.Token(), "TELEGRAM_API_ENDPOINT=" + bot.Endpoint(),
		}, "run"), started
	}
	// answered waits for the bot to send one more message than before, and says when.
	answered := func(p *process, before int, within time.Duration) time.Time {
		t.Helper()
		deadline := time.Now().Add(within)
		for len(bot.Sent()) <= before {
			if time.Now().After(deadline) {
				t.Fatalf("no answer within %s\n%s", within, p.Logs())
			}
			select {
			case err := <-p.done:
				t.Fatalf("relais exited: %v\n%s", err, p.Logs())
			case <-time.After(20 * time.Millisecond):
			}
		}
		return time.Now()
	}

	first, _ := start()
	bot.Text(group, tgtest.User{ID: 901, FirstName: "Awa"}, "/aide")
	answered(first, 0, 30*time.Second)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done

	before := len(bot.Sent())
	second, restarted := start()
	bot.Text(group, tgtest.User{ID: 902, FirstName: "Bastien"}, "/aide")
	at := answered(second, before, 60*time.Second)
	took := at.Sub(restarted)
	t.Logf("killed relais answered /aide %s after its restart", took.Round(time.Millisecond))
	// A generous bound: the bug was a bot deaf for its lock's 30 s after every crash.
	if took > 5*time.Second {
		t.Errorf("the restarted relais took %s to answer, want under 5s", took)
	}
	stopRelais(t, second)
}
