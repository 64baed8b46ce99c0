package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relais-bot/relais/dpo"
	"github.com/relais-bot/relais/locale"
)

// DefaultJournalDays is RELAIS_JOURNAL_DAYS' default: a year of access journal.
const DefaultJournalDays = 365

func dpoSettings() []setting {
	return []setting{
		{name: "RELAIS_JOURNAL_DAYS", def: strconv.Itoa(DefaultJournalDays), help: "how long the access journal (reads of personal data by organisers and admins) is kept, in days",
			apply: func(c *Config, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 1 || n > 3650 {
					return errors.New("want a whole number of days from 1 to 3650")
				}
				c.JournalDays = n
				return nil
			}},
	}
}

func (c Config) dpoValues(m map[string]string) map[string]string {
	m["RELAIS_JOURNAL_DAYS"] = strconv.Itoa(c.JournalDays)
	return m
}

const dpoUsage = `usage:
  relais dpo register [--lang fr|en]     the record of processing (GDPR art. 30), Markdown
  relais dpo dpia [--lang fr|en]         a draft impact assessment (CNIL PIA headings), Markdown
  relais dpo journal [--verify] [--since 720h] [--format jsonl|md]
                                         the access journal; --verify exits 1 if its chain is broken`

// cmdDPO writes what a data protection officer signs, from the running configuration.
func cmdDPO(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{dpoUsage}
	}
	sub, rest := args[0], args[1:]
	if sub == "journal" {
		return cmdDPOJournal(ctx, rest, stdout, stderr)
	}
	if !slices.Contains(dpo.Documents, sub) {
		return usageError{dpoUsage}
	}
	fs := flag.NewFlagSet("dpo "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment")
	lang := fs.String("lang", "", "language of the document: "+strings.Join(locale.Languages(), " or ")+" (default RELAIS_LANG)")
	if err := fs.Parse(rest); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	l := *lang
	if l == "" {
		l = cfg.Lang
	}
	if !slices.Contains(locale.Languages(), l) {
		return usageError{fmt.Sprintf("--lang: want one of %s", strings.Join(locale.Languages(), ", "))}
	}
	return dpo.Write(stdout, sub, l, cfg.dpoFacts(time.Now()))
}

// dpoFacts are what the DPO's documents say of this configuration.
func (c Config) dpoFacts(now time.Time) dpo.Facts {
	count := func(list string) int {
		n := 0
		for _, e := range strings.Split(list, ",") {
			if strings.TrimSpace(e) != "" {
				n++
			}
		}
		return n
	}
	return dpo.Facts{
		Controller: c.Controller, Policy: c.SyncPolicy, CRM: c.CRM, CRMURL: c.crmURL(),
		Telegram: c.TelegramToken != "", WhatsApp: c.WhatsAppEnabled,
		Organisers: count(c.Organisers), Admins: count(c.Admins),
		ActiveMinMessages: c.ActiveMinMessages, ActiveMinDays: c.ActiveMinDays, LeaderMinPeople: c.LeaderMinPeople,
		TagPrefix:  c.TagPrefix,
		WindowDays: c.WindowDays, RetentionDays: c.RetentionDays, JournalDays: c.JournalDays,
		CampaignMaxPerWeek: c.CampaignMaxPerWeek,
		DashboardURL:       c.publicURL(), DashboardSession: c.DashboardSession,
		ExternalNATS: c.NATSURL != "", ExternalRedis: c.RedisURL != "", Replicas: c.NATSReplicas,
		Date: now,
	}
}

// crmURL is where contacts go: "" for the local CRM.
func (c Config) crmURL() string {
	switch c.CRM {
	case "nationbuilder":
		if c.NBBaseURL != "" {
			return c.NBBaseURL
		}
		return "https://" + c.NBSlug + ".nationbuilder.com"
	case "civicrm":
		return c.CiviURL
	case "webhook":
		return c.WebhookURL
	}
	return ""
}
