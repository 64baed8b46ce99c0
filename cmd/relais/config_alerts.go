package main

import (
	"errors"
	"net/url"
	"strings"
	"time"
)

// Alerts is the configuration of incident alerts (package health).
type Alerts struct {
	AlertWebhook string        // RELAIS_ALERT_WEBHOOK: signed JSON POST of incidents; empty: none
	AlertSecret  string        // RELAIS_ALERT_SECRET: its HMAC key
	AlertAfter   time.Duration // RELAIS_ALERT_AFTER: how long a failure lasts before it is an incident
}

func alertSettings() []setting {
	return []setting{
		{name: "RELAIS_ALERT_WEBHOOK", help: "URL receiving incidents as signed JSON POSTs (X-Relais-Signature, as the CRM webhook)",
			apply: func(c *Config, v string) error {
				v = strings.TrimSpace(v)
				if v != "" {
					if u, err := url.Parse(v); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
						return errors.New("want an http(s) URL")
					}
				}
				c.AlertWebhook = v
				return nil
			}},
		{name: "RELAIS_ALERT_SECRET", help: "HMAC-SHA256 key of the alert webhook's X-Relais-Signature (at least 16 characters)", secret: true,
			apply: func(c *Config, v string) error { c.AlertSecret = v; return nil }},
		{name: "RELAIS_ALERT_AFTER", def: "15m", help: "how long the CRM failing or NATS/Redis unreachable lasts before it is an incident (refused credentials: at once)",
			apply: func(c *Config, v string) error {
				d, err := time.ParseDuration(strings.TrimSpace(v))
				if err != nil || d < time.Second || d > 24*time.Hour {
					return errors.New("want a duration from 1s to 24h, like 15m")
				}
				c.AlertAfter = d
				return nil
			}},
	}
}

func (c Config) alertValues(m map[string]string) map[string]string {
	m["RELAIS_ALERT_WEBHOOK"] = c.AlertWebhook
	m["RELAIS_ALERT_SECRET"] = c.AlertSecret
	m["RELAIS_ALERT_AFTER"] = c.AlertAfter.String()
	return m
}

func (c Config) checkAlerts() error {
	if c.AlertWebhook != "" && len(c.AlertSecret) < 16 {
		return &ConfigError{Var: "RELAIS_ALERT_SECRET", Want: "required with RELAIS_ALERT_WEBHOOK, at least 16 characters"}
	}
	return nil
}
