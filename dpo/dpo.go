// Package dpo writes what a data protection officer signs before relais joins a party's
// groups: the record of processing (GDPR art. 30) and a draft impact assessment following the
// CNIL's PIA headings (art. 35), both from the running configuration, so that what the DPO
// reads is what the deployment does: change the retention, the sync policy or the CRM and
// the documents change with it.
//
// The prose lives in one Markdown template per document and language (templates/), the
// facts in Facts: a translator or a DPO edits the text without touching Go.
package dpo

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/template"
	"time"
)

// Facts are what the documents say of one deployment, read from its configuration.
type Facts struct {
	// Controller is RELAIS_CONTROLLER: who is responsible for the data.
	Controller string
	// Policy is RELAIS_SYNC_POLICY: "opt-in" or "notice".
	Policy string
	// CRM is the CRM kind (local, nationbuilder, civicrm, webhook) and CRMURL where relais
	// sends contacts ("" for local).
	CRM, CRMURL string
	// Telegram and WhatsApp say which platforms the deployment follows.
	Telegram, WhatsApp bool
	// Organisers and Admins count the allowlists' entries.
	Organisers, Admins int
	// The bars and the window of the tags.
	ActiveMinMessages, ActiveMinDays, LeaderMinPeople int
	TagPrefix                                         string
	// Retention, in days: the activity window, the event log, the access journal.
	WindowDays, RetentionDays, JournalDays int
	// CampaignMaxPerWeek is RELAIS_CAMPAIGN_MAX_PER_WEEK.
	CampaignMaxPerWeek int
	// DashboardURL is RELAIS_PUBLIC_URL (or the HTTP address); DashboardSession how long a
	// session lasts.
	DashboardURL     string
	DashboardSession time.Duration
	// ExternalNATS and ExternalRedis: servers the operator runs (else embedded, in the
	// data directory and in memory); Replicas of streams (0: the cluster's size).
	ExternalNATS, ExternalRedis bool
	Replicas                    int
	// Date is when the document was written.
	Date time.Time
}

//go:embed templates/*.md.tmpl
var files embed.FS

// Documents are the documents this package writes.
var Documents = []string{"register", "dpia"}

// Write writes document (register or dpia) in lang (fr or en) as Markdown.
func Write(w io.Writer, document, lang string, f Facts) error {
	name := fmt.Sprintf("templates/%s.%s.md.tmpl", document, lang)
	t, err := template.New(document).Funcs(funcs(lang)).ParseFS(files, name)
	if err != nil {
		return fmt.Errorf("dpo: no %s in %q: %w", document, lang, err)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, strings.TrimPrefix(name, "templates/"), view{Facts: f}); err != nil {
		return fmt.Errorf("dpo: %s: %w", document, err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

// view adds to Facts what the templates derive from them.
type view struct{ Facts }

// OptIn says the deployment's default policy is opt-in.
func (v view) OptIn() bool { return v.Policy != "notice" }

// CRMHost is the host contacts are sent to; "" for the local CRM.
func (v view) CRMHost() string { return host(v.CRMURL) }

// CRMSecure says contacts travel over https (the local CRM sends nothing).
func (v view) CRMSecure() bool { return v.CRM == "local" || strings.HasPrefix(v.CRMURL, "https://") }

// DashboardSecure says the dashboard is reached over https.
func (v view) DashboardSecure() bool { return strings.HasPrefix(v.DashboardURL, "https://") }

// Platforms lists the platforms followed.
func (v view) Platforms() []string {
	var out []string
	if v.Telegram {
		out = append(out, "Telegram")
	}
	if v.WhatsApp {
		out = append(out, "WhatsApp")
	}
	return out
}

func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

func funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"date": func(t time.Time) string {
			if lang == "fr" {
				return t.UTC().Format("02/01/2006")
			}
			return t.UTC().Format("2006-01-02")
		},
		"join": func(s []string, none string) string {
			if len(s) == 0 {
				return none
			}
			return strings.Join(s, ", ")
		},
		"hours": func(d time.Duration) string { return fmt.Sprintf("%g", d.Hours()) },
	}
}
