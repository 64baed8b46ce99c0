package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/events/embedded"
)

// runDoctor runs relais doctor with env only (no .env, no inherited RELAIS_ settings) and
// returns its output and exit code.
func runDoctor(t *testing.T, bin string, env []string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, "doctor", "--timeout=5s")
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "RELAIS_") &&
			!strings.HasPrefix(kv, "TELEGRAM_") && !strings.HasPrefix(kv, "CRM=") && !strings.HasPrefix(kv, "NATIONBUILDER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("relais doctor: %v\n%s", err, out)
		return "", -1
	}
}

func TestDoctorHealthyAndEachBrokenPart(t *testing.T) {
	bin := buildRelais(t)
	const token = "4242:AAErecognisableTokenValue_xyz"
	healthyBot := tgtest.New(t, tgtest.WithToken(token), tgtest.WithBot(tgtest.User{ID: 4242, IsBot: true, FirstName: "Relais", Username: "relais_test_bot", CanReadAllGroupMessages: true}))
	privateBot := tgtest.New(t, tgtest.WithToken(token)) // privacy mode on
	nb := crmtest.NewNationBuilder(t, "nb-token")
	srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	healthy := map[string]string{
		"RELAIS_DATA_DIR": t.TempDir(), "NATS_URL": srv.URL(),
		"TELEGRAM_TOKEN": token, "TELEGRAM_API_ENDPOINT": healthyBot.Endpoint(),
		"CRM": "nationbuilder", "NATIONBUILDER_BASE_URL": nb.URL, "NATIONBUILDER_TOKEN": "nb-token",
	}
	environ := func(change map[string]string) []string {
		var env []string
		for k, v := range healthy {
			if c, ok := change[k]; ok {
				v = c
			}
			env = append(env, k+"="+v)
		}
		for k, v := range change {
			if _, ok := healthy[k]; !ok {
				env = append(env, k+"="+v)
			}
		}
		return env
	}
	out, code := runDoctor(t, bin, environ(nil))
	if code != 0 || !strings.Contains(out, "all is well") || strings.Contains(out, "FAIL") {
		t.Fatalf("healthy deployment: exit %d\n%s", code, out)
	}
	for _, want := range []string{"bot @relais_test_bot", "privacy mode off", "nationbuilder accepts", "reachable, server", "% free"} {
		if !strings.Contains(out, want) {
			t.Errorf("healthy report lacks %q:\n%s", want, out)
		}
	}

	tests := []struct {
		name   string
		change map[string]string
		names  []string // what the report must say
	}{
		{"bad configuration", map[string]string{"RELAIS_ALERT_AFTER": "soon"}, []string{"FAIL  configuration", "RELAIS_ALERT_AFTER"}},
		{"telegram token refused", map[string]string{"TELEGRAM_TOKEN": "4242:AAEwrong"}, []string{"FAIL  telegram", "refuses the token", "@BotFather"}},
		{"privacy mode on", map[string]string{"TELEGRAM_API_ENDPOINT": privateBot.Endpoint()}, []string{"FAIL  telegram", "privacy mode on", "/setprivacy"}},
		{"crm credentials refused", map[string]string{"NATIONBUILDER_TOKEN": "expired"}, []string{"FAIL  crm", "refuses relais's credentials (HTTP 401)", "NATIONBUILDER_TOKEN"}},
		{"nats unreachable", map[string]string{"NATS_URL": "nats://127.0.0.1:1"}, []string{"FAIL  nats", "unreachable", "NATS_URL"}},
		{"redis unreachable", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}, []string{"FAIL  redis", "unreachable", "REDIS_URL"}},
		{"whatsapp not paired", map[string]string{"WHATSAPP_ENABLED": "true"}, []string{"FAIL  whatsapp", "relais whatsapp pair"}},
		{"nationbuilder down", map[string]string{"NATIONBUILDER_BASE_URL": "http://127.0.0.1:1"}, []string{"FAIL  crm", "nationbuilder failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runDoctor(t, bin, environ(tt.change))
			if code == 0 {
				t.Fatalf("exit 0 with %s:\n%s", tt.name, out)
			}
			for _, want := range tt.names {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "AAErecognisableTokenValue") || strings.Contains(out, "AAEwrong") {
				t.Errorf("the token appears in the report:\n%s", out)
			}
		})
	}
}
