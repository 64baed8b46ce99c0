package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./data" || c.HTTPAddr != "127.0.0.1:8080" || c.Lang != "fr" || c.SyncPolicy != "opt-in" ||
		c.ActiveMinMessages != 10 || c.ActiveMinDays != 3 || c.LeaderMinPeople != 5 || c.WindowDays != 30 ||
		c.RetentionDays != 90 || c.TagPrefix != "relais-" || c.CRM != "local" ||
		c.TelegramEndpoint != "https://api.telegram.org/bot%s/%s" || c.WhatsAppEnabled || c.NATSReplicas != 0 {
		t.Fatalf("defaults differ from DESIGN.md: %+v", c)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		env      map[string]string
		variable string
		want     string
	}{
		{map[string]string{"RELAIS_ACTIVE_MIN_DAYS": "abc"}, "RELAIS_ACTIVE_MIN_DAYS", "whole number"},
		{map[string]string{"RELAIS_ACTIVE_MIN_MESSAGES": "0"}, "RELAIS_ACTIVE_MIN_MESSAGES", "whole number"},
		{map[string]string{"RELAIS_LANG": "xx"}, "RELAIS_LANG", "want one of fr, "},
		{map[string]string{"RELAIS_SYNC_POLICY": "always"}, "RELAIS_SYNC_POLICY", "opt-in, notice"},
		{map[string]string{"RELAIS_HTTP_ADDR": "8080"}, "RELAIS_HTTP_ADDR", "host:port"},
		{map[string]string{"RELAIS_ORGANISERS": "signal:+33"}, "RELAIS_ORGANISERS", "telegram:"},
		{map[string]string{"RELAIS_WINDOW_DAYS": "120"}, "RELAIS_RETENTION_DAYS", "at least RELAIS_WINDOW_DAYS"},
		{map[string]string{"RELAIS_ERASE_WITHIN": "5s"}, "RELAIS_ERASE_WITHIN", "10s to 24h"},
		{map[string]string{"RELAIS_ERASE_WITHIN": "48h"}, "RELAIS_ERASE_WITHIN", "10s to 24h"},
		{map[string]string{"RELAIS_ERASE_WITHIN": "15"}, "RELAIS_ERASE_WITHIN", "10s to 24h"},
		{map[string]string{"NATS_URL": "http://x"}, "NATS_URL", "nats"},
		{map[string]string{"REDIS_URL": "localhost:6379"}, "REDIS_URL", "redis"},
		{map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/notadb"}, "REDIS_URL", "go-redis"},
		{map[string]string{"REDIS_URL": "redis://relais:hunter2@127.0.0.1:6379/0?frobnicate=1"}, "REDIS_URL", "go-redis"},
		{map[string]string{"RELAIS_NATS_REPLICAS": "0", "NATS_URL": "nats://n1:4222"}, "RELAIS_NATS_REPLICAS", "1 to 5"},
		{map[string]string{"RELAIS_NATS_REPLICAS": "6", "NATS_URL": "nats://n1:4222"}, "RELAIS_NATS_REPLICAS", "1 to 5"},
		{map[string]string{"RELAIS_NATS_REPLICAS": "three", "NATS_URL": "nats://n1:4222"}, "RELAIS_NATS_REPLICAS", "1 to 5"},
		{map[string]string{"RELAIS_NATS_REPLICAS": "3"}, "RELAIS_NATS_REPLICAS", "embedded"},
		{map[string]string{"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/{x", "TELEGRAM_WEBHOOK_SECRET": "s"}, "TELEGRAM_WEBHOOK_URL", "served"},
		{map[string]string{"TELEGRAM_TOKEN": "not a token"}, "TELEGRAM_TOKEN", "BotFather"},
		{map[string]string{"TELEGRAM_API_ENDPOINT": "http://x/%s"}, "TELEGRAM_API_ENDPOINT", "two %s"},
		{map[string]string{"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/tg"}, "TELEGRAM_WEBHOOK_SECRET", "required"},
		{map[string]string{"WHATSAPP_ENABLED": "oui"}, "WHATSAPP_ENABLED", "true or false"},
		{map[string]string{"CRM": "salesforce"}, "CRM", "nationbuilder"},
		{map[string]string{"CRM": "nationbuilder", "NATIONBUILDER_TOKEN": "t"}, "NATIONBUILDER_SLUG", "required"},
		{map[string]string{"CRM": "webhook", "WEBHOOK_URL": "https://x.org/h", "WEBHOOK_SECRET": "short"}, "WEBHOOK_SECRET", "16"},
		{map[string]string{"RELAIS_SECRET": "short"}, "RELAIS_SECRET", "16"},
	}
	for _, tc := range tests {
		t.Run(tc.variable, func(t *testing.T) {
			_, err := LoadConfig(envOf(tc.env), nil)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var != tc.variable {
				t.Fatalf("got %v, want an error naming %s", err, tc.variable)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("message %q: want one line containing %q", msg, tc.want)
			}
			if tc.variable == "RELAIS_SECRET" && strings.Contains(msg, "short") || strings.Contains(msg, "hunter2") {
				t.Fatalf("a secret's value must not be echoed: %q", msg)
			}
		})
	}
}

func TestDotenvFillsWhatEnvironmentLacks(t *testing.T) {
	dotenv := strings.NewReader("# comment\nexport RELAIS_LANG=en\nRELAIS_WINDOW_DAYS=\"20\" # inline\nRELAIS_TAG_PREFIX='rl-'\n")
	c, err := LoadConfig(envOf(map[string]string{"RELAIS_LANG": "fr"}), dotenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Lang != "fr" || c.WindowDays != 20 || c.TagPrefix != "rl-" {
		t.Fatalf("got lang=%s window=%d prefix=%s", c.Lang, c.WindowDays, c.TagPrefix)
	}
	if _, err := LoadConfig(envOf(nil), strings.NewReader("JUST TEXT\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("a broken .env line must be reported with its number, got %v", err)
	}
}

func TestWriteEffectiveMasksSecrets(t *testing.T) {
	c, err := LoadConfig(envOf(map[string]string{
		"TELEGRAM_TOKEN": "123456:AAHsecretTOKENvalue", "RELAIS_SECRET": "0123456789abcdefXYZ",
		"NATS_URL": "nats://relais:hunter2@10.0.0.1:4222", "CRM": "webhook",
		"WEBHOOK_URL": "https://crm.example.org/in", "WEBHOOK_SECRET": "webhook-secret-0123456789",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.WriteEffective(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, secret := range []string{"AAHsecretTOKENvalue", "0123456789abcdefXYZ", "hunter2", "webhook-secret"} {
		if strings.Contains(s, secret) {
			t.Fatalf("config check shows a secret:\n%s", s)
		}
	}
	for _, want := range []string{"TELEGRAM_TOKEN", "****", "https://crm.example.org/in", "RELAIS_ACTIVE_MIN_DAYS       3"} {
		if !strings.Contains(s, want) {
			t.Fatalf("config check lacks %q:\n%s", want, s)
		}
	}
}

func TestEveryVariableIsDocumented(t *testing.T) {
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	values := Config{}.values()
	for _, s := range settings() {
		if !strings.Contains(string(example), "\n"+s.name+"=") {
			t.Errorf(".env.example does not document %s", s.name)
		}
		if _, ok := values[s.name]; !ok {
			t.Errorf("config check would not print %s", s.name)
		}
	}
}

func TestConfigCheckCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("RELAIS_ACTIVE_MIN_DAYS", "abc")
	var stdout, stderr bytes.Buffer
	if code := runMain(t.Context(), []string{"config", "check"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "RELAIS_ACTIVE_MIN_DAYS") {
		t.Fatalf("want one line naming the variable, got %q", stderr.String())
	}
	t.Setenv("RELAIS_ACTIVE_MIN_DAYS", "4")
	t.Setenv("TELEGRAM_TOKEN", "42:very-secret-token")
	stdout.Reset()
	if code := runMain(t.Context(), []string{"config", "check"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "very-secret-token") || !strings.Contains(stdout.String(), "RELAIS_ACTIVE_MIN_DAYS       4") {
		t.Fatalf("output:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "RELAIS_NATS_REPLICAS         (unset: the NATS cluster's size, at most 3") {
		t.Fatalf("config check does not explain the replicas default:\n%s", stdout.String())
	}
	t.Setenv("NATS_URL", "nats://n1:4222,nats://n2:4222,nats://n3:4222")
	t.Setenv("RELAIS_NATS_REPLICAS", "3")
	stdout.Reset()
	if code := runMain(t.Context(), []string{"config", "check"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "RELAIS_NATS_REPLICAS         3\n") {
		t.Fatalf("config check does not show the replicas:\n%s", stdout.String())
	}
}

func TestUnknownCommandAndRole(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runMain(t.Context(), []string{"frobnicate"}, &out, &errb); code != exitUsage {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code := runMain(t.Context(), []string{"run", "--roles=bridge,kitchen"}, &out, &errb); code != exitUsage {
		t.Fatalf("unknown role: exit %d", code)
	}
}

func FuzzParseDotenv(f *testing.F) {
	for _, s := range []string{"A=1\n", "export B='x y'\n", "C=\"a\\nb\" # c\n", "=x\n", "D=\"unclosed\n", "# only\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vars, err := parseDotenv(strings.NewReader(s))
		if err != nil {
			return
		}
		for k := range vars {
			if !validEnvName(k) {
				t.Fatalf("accepted invalid name %q", k)
			}
		}
	})
}
