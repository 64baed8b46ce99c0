package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/dashboard"
)

// OrganiserView is the configuration of the organisers' view: scopes, dashboard, digest.
type OrganiserView struct {
	Admins    string // RELAIS_ADMINS: organisers who see every group
	PublicURL string // RELAIS_PUBLIC_URL: base of dashboard links; empty: http://RELAIS_HTTP_ADDR (0.0.0.0 read as localhost)
	DigestAt  string // RELAIS_DIGEST_AT
	// DashboardSession is how long a dashboard session lasts (RELAIS_DASHBOARD_SESSION).
	DashboardSession time.Duration
}

func organiserSettings() []setting {
	return []setting{
		{name: "RELAIS_ADMINS", help: "like RELAIS_ORGANISERS; they see every group (other organisers see the groups they are a member of)",
			apply: func(c *Config, v string) error {
				if _, err := commands.ParseOrganisers(v); err != nil {
					return errors.New("want a comma list of telegram:<user id> or whatsapp:<+phone>")
				}
				c.Admins = v
				return nil
			}},
		{name: "RELAIS_PUBLIC_URL", help: "public base URL of the dashboard (https behind a reverse proxy); its path is served too: https://example.org/relais/ serves /relais/tableau/; unset: http://RELAIS_HTTP_ADDR",
			apply: func(c *Config, v string) error {
				v = strings.TrimRight(strings.TrimSpace(v), "/")
				if v == "" {
					c.PublicURL = ""
					return nil
				}
				if _, err := dashboard.Root(v); err != nil {
					return errors.New("want an http(s) URL without query, like https://relais.example.org or https://example.org/relais/ (a path of letters, digits, . _ ~ -)")
				}
				c.PublicURL = v
				return nil
			}},
		{name: "RELAIS_DIGEST_AT", def: commands.DefaultDigestAt, help: "when organisers get the weekly digest: day, time and zone, like MON 09:00 Europe/Paris; off to disable",
			apply: func(c *Config, v string) error {
				if _, err := commands.ParseSchedule(v); err != nil {
					return errors.New(strings.TrimPrefix(err.Error(), "digest schedule: "))
				}
				c.DigestAt = v
				return nil
			}},
		{name: "RELAIS_DASHBOARD_SESSION", def: "8h", help: "how long a dashboard session lasts after login (a Go duration, 1m to 720h)",
			apply: func(c *Config, v string) error {
				d, err := time.ParseDuration(strings.TrimSpace(v))
				if err != nil || d < time.Second || d > 720*time.Hour {
					return errors.New("want a duration like 8h or 30m")
				}
				c.DashboardSession = d
				return nil
			}},
	}
}

func (c Config) organiserValues(m map[string]string) map[string]string {
	m["RELAIS_ADMINS"] = c.Admins
	m["RELAIS_PUBLIC_URL"] = c.PublicURL
	m["RELAIS_DIGEST_AT"] = c.DigestAt
	m["RELAIS_DASHBOARD_SESSION"] = c.DashboardSession.String()
	return m
}

// publicURL is where organisers reach the dashboard. Without RELAIS_PUBLIC_URL it is the
// HTTP address, an unspecified host (0.0.0.0, ::) read as localhost: a browser never sends
// Origin http://0.0.0.0, so the login's origin check would refuse every login.
func (c Config) publicURL() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return fmt.Sprintf("http://%s", c.HTTPAddr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
