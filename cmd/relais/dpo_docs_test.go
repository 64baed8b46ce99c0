package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDPODocumentsFollowTheConfiguration runs relais dpo register and dpia as an operator
// would and checks that what the DPO reads changes with the configuration: retention, sync
// policy, CRM kind and host, language.
func TestDPODocumentsFollowTheConfiguration(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		want, not []string
	}{{
		name: "register on the defaults",
		args: []string{"dpo", "register"},
		want: []string{"# Registre des activités de traitement", "consentement explicite (article 9(2)(a)", "| 90 jours (`RELAIS_RETENTION_DAYS`)",
			"| 365 jours (`RELAIS_JOURNAL_DAYS`)", "fichier local (`crm.db`", "CRM local : aucun transfert", "fenêtre de 30 jours"},
		not: []string{"9(2)(d)", "nationbuilder.com", "États-Unis"},
	}, {
		name: "register under notice, NationBuilder, other retention",
		env: map[string]string{"RELAIS_SYNC_POLICY": "notice", "CRM": "nationbuilder", "NATIONBUILDER_SLUG": "acme",
			"NATIONBUILDER_TOKEN": "secret-token", "RELAIS_RETENTION_DAYS": "120", "RELAIS_WINDOW_DAYS": "21",
			"RELAIS_JOURNAL_DAYS": "400", "RELAIS_CONTROLLER": "Fédération du Rhône", "TELEGRAM_TOKEN": "42:abc"},
		args: []string{"dpo", "register"},
		want: []string{"**Politique `notice`**", "article 9(2)(d)", "**Limites**", "`nationbuilder` chez `acme.nationbuilder.com`",
			"transfert vers les États-Unis", "| 120 jours (`RELAIS_RETENTION_DAYS`)", "fenêtre de 21 jours", "| 400 jours (`RELAIS_JOURNAL_DAYS`)",
			"Fédération du Rhône", "**Telegram**"},
		not: []string{"consentement explicite (article 9(2)(a)", "fichier local", "secret-token"},
	}, {
		name: "register in English, webhook over http",
		env:  map[string]string{"CRM": "webhook", "WEBHOOK_URL": "http://hooks.example.org/in", "WEBHOOK_SECRET": "0123456789abcdef0123"},
		args: []string{"dpo", "register", "--lang", "en"},
		want: []string{"# Record of processing activities", "`webhook` at `hooks.example.org`", "**unencrypted connection: fix it**", "90 days"},
		not:  []string{"Registre", "0123456789abcdef0123"},
	}, {
		name: "dpia follows the CNIL headings and the configuration",
		env:  map[string]string{"RELAIS_RETENTION_DAYS": "60", "CRM": "civicrm", "CIVICRM_URL": "https://crm.example.org", "CIVICRM_API_KEY": "k"},
		args: []string{"dpo", "dpia"},
		want: []string{"## 1. Contexte", "## 2. Principes fondamentaux", "### 3.2 Accès illégitime à des données",
			"### 3.3 Modification non désirée de données", "### 3.4 Disparition de données", "## 4. Validation",
			"`civicrm` chez `crm.example.org`", "60 jours pour les événements"},
	}, {
		name: "dpia under notice in English",
		env:  map[string]string{"RELAIS_SYNC_POLICY": "notice", "RELAIS_JOURNAL_DAYS": "30"},
		args: []string{"dpo", "dpia", "--lang", "en"},
		want: []string{"## 3. Risks", "article 9(2)(d)", "30 days for the access journal", "### 3.2 Illegitimate access to data"},
		not:  []string{"explicit consent (article 9(2)(a))"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no .env
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			if code := runMain(t.Context(), tt.args, &out, &errb); code != exitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("document lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("document holds %q", n)
				}
			}
			if t.Failed() {
				t.Logf("document:\n%s", out.String())
			}
		})
	}
}

func TestDPOUsageAndBadJournalDays(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"dpo"}, {"dpo", "kitchen"}, {"dpo", "register", "--lang", "de"}} {
		if code := runMain(t.Context(), args, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	t.Setenv("RELAIS_JOURNAL_DAYS", "0")
	errb.Reset()
	if code := runMain(t.Context(), []string{"dpo", "register"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "RELAIS_JOURNAL_DAYS") {
		t.Fatalf("RELAIS_JOURNAL_DAYS=0: exit %d, %s", code, errb.String())
	}
}
