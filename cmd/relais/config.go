package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relais-bot/relais/locale"
)

// Config is relais's whole configuration, read once at start from the environment and .env.
type Config struct {
	DataDir           string
	Secret            string // empty: generated and kept in the data dir
	Instance          string // empty: generated and kept in the data dir
	HTTPAddr          string
	Lang              string
	SyncPolicy        string
	Organisers        string
	Controller        string
	LogLevel          string
	ActiveMinMessages int
	ActiveMinDays     int
	LeaderMinPeople   int
	WindowDays        int
	RetentionDays     int
	TagPrefix         string
	Namespace         string
	// CampaignMaxPerWeek is RELAIS_CAMPAIGN_MAX_PER_WEEK.
	CampaignMaxPerWeek int
	// EraseWithin is RELAIS_ERASE_WITHIN: how long after an erasure a cluster's Raft logs
	// may still hold the erased member (raftflush.go).
	EraseWithin time.Duration

	NATSURL, RedisURL string
	NATSReplicas      int // 0: the cluster's size, at most 3 (events.ClusterReplicas)

	TelegramToken, TelegramEndpoint           string
	TelegramWebhookURL, TelegramWebhookSecret string

	WhatsAppEnabled bool
	WhatsAppDB      string

	CRM                                        string
	NBSlug, NBToken, NBBaseURL                 string
	NBClientID, NBClientSecret, NBRefreshToken string
	CiviURL, CiviAPIKey, CiviSiteKey           string
	WebhookURL, WebhookSecret                  string

	OrganiserView // RELAIS_ADMINS, RELAIS_PUBLIC_URL, RELAIS_DIGEST_AT
	Alerts        // RELAIS_ALERT_WEBHOOK, RELAIS_ALERT_SECRET, RELAIS_ALERT_AFTER
	HistoryConfig // RELAIS_HISTORY_DAYS, TELEGRAM_FILE_ENDPOINT

	// JournalDays is RELAIS_JOURNAL_DAYS: how long the access journal is kept.
	JournalDays int
}

// Window and Retention as durations.
func (c Config) Window() time.Duration    { return time.Duration(c.WindowDays) * 24 * time.Hour }
func (c Config) Retention() time.Duration { return time.Duration(c.RetentionDays) * 24 * time.Hour }

// setting is one environment variable: its name, default, whether it is secret, what it
// means (for config check and .env.example) and how it lands in Config.
type setting struct {
	name, def, help string
	secret          bool
	apply           func(c *Config, v string) error
}

// ConfigError names the variable at fault and what was expected, in one line.
type ConfigError struct {
	Var, Want string
	Got       string // empty for secrets: never echo them
}

func (e *ConfigError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("config: %s: %s", e.Var, e.Want)
	}
	return fmt.Sprintf("config: %s: %s, got %q", e.Var, e.Want, e.Got)
}

func settings() []setting {
	str := func(dst func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *dst(c) = v; return nil }
	}
	num := func(dst func(*Config) *int, lo, hi int) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("want a whole number from %d to %d", lo, hi)
			}
			*dst(c) = n
			return nil
		}
	}
	oneOf := func(dst func(*Config) *string, allowed ...string) func(*Config, string) error {
		return func(c *Config, v string) error {
			v = strings.ToLower(strings.TrimSpace(v))
			for _, a := range allowed {
				if v == a {
					*dst(c) = v
					return nil
				}
			}
			return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
		}
	}
	urlOf := func(dst func(*Config) *string, schemes ...string) func(*Config, string) error {
		return func(c *Config, v string) error {
			if v == "" {
				*dst(c) = ""
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || u.Host == "" || !contains(schemes, u.Scheme) {
				return fmt.Errorf("want a %s URL", strings.Join(schemes, " or "))
			}
			*dst(c) = v
			return nil
		}
	}
	return append([]setting{
		{name: "RELAIS_DATA_DIR", def: "./data", help: "where relais keeps the embedded NATS store, the local CRM, the WhatsApp session and its secret",
			apply: str(func(c *Config) *string { return &c.DataDir })},
		{name: "RELAIS_SECRET", help: "key of member and group hashes (at least 16 characters); unset: generated once and kept in the data dir", secret: true,
			apply: func(c *Config, v string) error {
				if v != "" && len(v) < 16 {
					return errors.New("want at least 16 characters")
				}
				c.Secret = v
				return nil
			}},
		{name: "RELAIS_INSTANCE", help: "this process's identity: restarted, it takes its adapter locks back at once (letters, digits, . _ -); unset: generated once and kept in the data dir",
			apply: func(c *Config, v string) error {
				if v != "" && !instancePattern.MatchString(v) {
					return errors.New("want up to 64 of A-Z, a-z, 0-9, '.', '_' and '-'")
				}
				c.Instance = v
				return nil
			}},
		{name: "RELAIS_HTTP_ADDR", def: "127.0.0.1:8080", help: "address of /healthz, /readyz, /metrics (and the Telegram webhook)",
			apply: func(c *Config, v string) error {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return errors.New("want host:port")
				}
				c.HTTPAddr = v
				return nil
			}},
		// The languages are the message files compiled in (package locale): adding one is
		// dropping its file there.
		{name: "RELAIS_LANG", def: locale.Default, help: "language of bot answers: " + strings.Join(locale.Languages(), " or "),
			apply: oneOf(func(c *Config) *string { return &c.Lang }, locale.Languages()...)},
		{name: "RELAIS_SYNC_POLICY", def: "opt-in", help: "opt-in (only members who said /oui reach the CRM) or notice (active members reach it unless they object)",
			apply: oneOf(func(c *Config) *string { return &c.SyncPolicy }, "opt-in", "notice")},
		{name: "RELAIS_ORGANISERS", help: "comma list of organisers: telegram:<user id>, whatsapp:<phone E.164>",
			apply: func(c *Config, v string) error {
				for _, o := range strings.Split(v, ",") {
					o = strings.TrimSpace(o)
					if o == "" {
						continue
					}
					p, id, ok := strings.Cut(o, ":")
					if !ok || (p != "telegram" && p != "whatsapp") || id == "" {
						return errors.New("want a comma list of telegram:<user id> or whatsapp:<+phone>")
					}
				}
				c.Organisers = v
				return nil
			}},
		{name: "RELAIS_CONTROLLER", def: "l'équipe", help: "who is responsible for the data, named in the information notice (e.g. the party's federation)",
			apply: str(func(c *Config) *string { return &c.Controller })},
		{name: "RELAIS_LOG_LEVEL", def: "info", help: "debug, info, warn or error", apply: oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
		{name: "RELAIS_ACTIVE_MIN_MESSAGES", def: "10", help: "the active bar: messages in the window", apply: num(func(c *Config) *int { return &c.ActiveMinMessages }, 1, 100000)},
		{name: "RELAIS_ACTIVE_MIN_DAYS", def: "3", help: "the active bar: distinct days with a message in the window", apply: num(func(c *Config) *int { return &c.ActiveMinDays }, 1, 365)},
		{name: "RELAIS_LEADER_MIN_PEOPLE", def: "5", help: "the leader bar: distinct people who replied to or mentioned the member in the window", apply: num(func(c *Config) *int { return &c.LeaderMinPeople }, 1, 100000)},
		{name: "RELAIS_CAMPAIGN_MAX_PER_WEEK", def: "2", help: "campaigns (calls to action) a consenting member may receive in a week; 0 sends none",
			apply: num(func(c *Config) *int { return &c.CampaignMaxPerWeek }, 0, 50)},
		{name: "RELAIS_WINDOW_DAYS", def: "30", help: "activity window in days", apply: num(func(c *Config) *int { return &c.WindowDays }, 1, 365)},
		{name: "RELAIS_RETENTION_DAYS", def: "90", help: "how long the event log keeps events, in days (at least the window)", apply: num(func(c *Config) *int { return &c.RetentionDays }, 1, 3650)},
		{name: "RELAIS_ERASE_WITHIN", def: "15m", help: "how long after /oubli a NATS cluster's Raft logs may still hold the erased member, at most (10s to 24h)",
			apply: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 10*time.Second || d > 24*time.Hour {
					return errors.New("want a duration from 10s to 24h, like 15m")
				}
				c.EraseWithin = d
				return nil
			}},
		{name: "RELAIS_TAG_PREFIX", def: "relais-", help: "prefix of every tag relais writes",
			apply: func(c *Config, v string) error {
				if !regexp.MustCompile(`^[a-z0-9_-]{0,32}$`).MatchString(v) {
					return errors.New("want up to 32 of a-z, 0-9, - and _")
				}
				c.TagPrefix = v
				return nil
			}},
		{name: "RELAIS_NAMESPACE", help: "prefix of stream, subject and Redis key names, for several deployments (or test runs) on one NATS and Redis: letters and digits",
			apply: func(c *Config, v string) error {
				if !regexp.MustCompile(`^[A-Za-z0-9]{0,32}$`).MatchString(v) {
					return errors.New("want up to 32 letters and digits")
				}
				c.Namespace = v
				return nil
			}},
		{name: "NATS_URL", help: "NATS server(s), comma-separated; unset: embedded server", apply: func(c *Config, v string) error {
			for _, u := range strings.Split(v, ",") {
				if err := urlOf(func(c *Config) *string { return &c.NATSURL }, "nats", "tls", "ws", "wss")(c, strings.TrimSpace(u)); err != nil {
					return err
				}
			}
			c.NATSURL = v
			return nil
		}},
		{name: "RELAIS_NATS_REPLICAS", help: "replicas of every stream and bucket (1 to 5); unset: the NATS cluster's size, at most 3, and 1 on a single or embedded server",
			apply: func(c *Config, v string) error {
				if strings.TrimSpace(v) == "" {
					c.NATSReplicas = 0
					return nil
				}
				return num(func(c *Config) *int { return &c.NATSReplicas }, 1, 5)(c, v)
			}},
		{name: "REDIS_URL", help: "Redis server (redis://, rediss://; add ?addr=host:port for a cluster); unset: embedded",
			apply: func(c *Config, v string) error {
				if err := urlOf(func(c *Config) *string { return &c.RedisURL }, "redis", "rediss")(c, v); err != nil {
					return err
				}
				// What go-redis refuses (a database that is not a number, an unknown option)
				// is a configuration error, found now rather than at the first connection.
				if v != "" {
					if _, err := connectRedis(v); err != nil {
						return fmt.Errorf("want a URL go-redis accepts: %s", strings.TrimPrefix(err.Error(), "redis url: "))
					}
				}
				return nil
			}},
		{name: "TELEGRAM_TOKEN", help: "bot token from @BotFather; unset: no Telegram", secret: true,
			apply: func(c *Config, v string) error {
				if v != "" && !regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`).MatchString(v) {
					return errors.New("want a BotFather token like 123456:ABC-def")
				}
				c.TelegramToken = v
				return nil
			}},
		{name: "TELEGRAM_API_ENDPOINT", def: "https://api.telegram.org/bot%s/%s", help: "Bot API endpoint format (token, method): for a local Bot API server or a test fake",
			apply: func(c *Config, v string) error {
				if strings.Count(v, "%s") != 2 || !strings.HasPrefix(v, "http") {
					return errors.New("want an http(s) URL format with two %s (token, method)")
				}
				c.TelegramEndpoint = v
				return nil
			}},
		{name: "TELEGRAM_WEBHOOK_URL", help: "public https URL Telegram posts updates to (webhook mode); unset: long polling",
			apply: func(c *Config, v string) error {
				if err := urlOf(func(c *Config) *string { return &c.TelegramWebhookURL }, "https", "http")(c, v); err != nil {
					return err
				}
				if v == "" {
					return nil
				}
				if _, err := webhookRoute(v); err != nil {
					return errors.New("want a URL whose path can be served")
				}
				return nil
			}},
		{name: "TELEGRAM_WEBHOOK_SECRET", help: "secret Telegram sends in X-Telegram-Bot-Api-Secret-Token (1-256 of A-Z a-z 0-9 _ -)", secret: true,
			apply: func(c *Config, v string) error {
				if v != "" && !regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`).MatchString(v) {
					return errors.New("want 1 to 256 of A-Z, a-z, 0-9, _ and -")
				}
				c.TelegramWebhookSecret = v
				return nil
			}},
		{name: "WHATSAPP_ENABLED", def: "false", help: "true to connect the paired WhatsApp device (pair first: relais whatsapp pair)",
			apply: func(c *Config, v string) error {
				b, err := strconv.ParseBool(strings.TrimSpace(v))
				if err != nil {
					return errors.New("want true or false")
				}
				c.WhatsAppEnabled = b
				return nil
			}},
		{name: "WHATSAPP_DB", help: "WhatsApp session store; unset: SQLite in the data dir; a postgres:// URL also works", secret: true,
			apply: str(func(c *Config) *string { return &c.WhatsAppDB })},
		{name: "CRM", def: "local", help: "local, nationbuilder, civicrm or webhook", apply: oneOf(func(c *Config) *string { return &c.CRM }, "local", "nationbuilder", "civicrm", "webhook")},
		{name: "NATIONBUILDER_SLUG", help: "your nation's slug (<slug>.nationbuilder.com)",
			apply: func(c *Config, v string) error {
				if v != "" && !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(v) {
					return errors.New("want the nation slug: lowercase letters, digits and -")
				}
				c.NBSlug = v
				return nil
			}},
		{name: "NATIONBUILDER_TOKEN", help: "API v2 access token", secret: true, apply: str(func(c *Config) *string { return &c.NBToken })},
		{name: "NATIONBUILDER_BASE_URL", help: "default https://<slug>.nationbuilder.com", apply: urlOf(func(c *Config) *string { return &c.NBBaseURL }, "https", "http")},
		{name: "NATIONBUILDER_CLIENT_ID", help: "OAuth app id, for token refresh", apply: str(func(c *Config) *string { return &c.NBClientID })},
		{name: "NATIONBUILDER_CLIENT_SECRET", help: "OAuth app secret", secret: true, apply: str(func(c *Config) *string { return &c.NBClientSecret })},
		{name: "NATIONBUILDER_REFRESH_TOKEN", help: "OAuth refresh token (the newest pair is kept in the data dir)", secret: true, apply: str(func(c *Config) *string { return &c.NBRefreshToken })},
		{name: "CIVICRM_URL", help: "site base URL, e.g. https://crm.example.org", apply: urlOf(func(c *Config) *string { return &c.CiviURL }, "https", "http")},
		{name: "CIVICRM_API_KEY", help: "API key of the CiviCRM user relais acts as", secret: true, apply: str(func(c *Config) *string { return &c.CiviAPIKey })},
		{name: "CIVICRM_SITE_KEY", help: "site key (CIVICRM_SITE_KEY in civicrm.settings.php)", secret: true, apply: str(func(c *Config) *string { return &c.CiviSiteKey })},
		{name: "WEBHOOK_URL", help: "URL receiving signed JSON contact changes", apply: urlOf(func(c *Config) *string { return &c.WebhookURL }, "https", "http")},
		{name: "WEBHOOK_SECRET", help: "HMAC-SHA256 key of the X-Relais-Signature header", secret: true, apply: str(func(c *Config) *string { return &c.WebhookSecret })},
	}, slices.Concat(organiserSettings(), alertSettings(), historySettings(), dpoSettings())...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// LoadConfig reads the environment, then fills what it lacks from the .env file (the
// environment wins, as in every tool that reads one), applies defaults and validates.
func LoadConfig(env func(string) (string, bool), dotenv io.Reader) (Config, error) {
	file := map[string]string{}
	if dotenv != nil {
		var err error
		if file, err = parseDotenv(dotenv); err != nil {
			return Config{}, fmt.Errorf("config: .env: %w", err)
		}
	}
	var c Config
	for _, s := range settings() {
		v, ok := env(s.name)
		if !ok {
			v, ok = file[s.name]
		}
		if !ok || (v == "" && s.def != "") {
			v = s.def
		}
		if err := s.apply(&c, v); err != nil {
			got := v
			if s.secret {
				got = ""
			} else if s.name == "NATS_URL" || s.name == "REDIS_URL" {
				got = maskURLPassword(v)
			}
			return Config{}, &ConfigError{Var: s.name, Want: err.Error(), Got: got}
		}
	}
	return c, c.check()
}

// check the rules that span several variables.
func (c Config) check() error {
	if c.RetentionDays < c.WindowDays {
		return &ConfigError{Var: "RELAIS_RETENTION_DAYS", Want: fmt.Sprintf("want at least RELAIS_WINDOW_DAYS (%d): a replay needs the whole window", c.WindowDays), Got: strconv.Itoa(c.RetentionDays)}
	}
	if c.NATSURL == "" && c.NATSReplicas > 1 {
		return &ConfigError{Var: "RELAIS_NATS_REPLICAS", Want: "want 1 with the embedded NATS server (set NATS_URL to a cluster for more)", Got: strconv.Itoa(c.NATSReplicas)}
	}
	if c.TelegramWebhookURL != "" && c.TelegramWebhookSecret == "" {
		return &ConfigError{Var: "TELEGRAM_WEBHOOK_SECRET", Want: "required with TELEGRAM_WEBHOOK_URL, so forged updates are refused"}
	}
	if err := c.checkAlerts(); err != nil {
		return err
	}
	switch c.CRM {
	case "nationbuilder":
		if c.NBSlug == "" && c.NBBaseURL == "" {
			return &ConfigError{Var: "NATIONBUILDER_SLUG", Want: "required with CRM=nationbuilder"}
		}
		if c.NBToken == "" && c.NBRefreshToken == "" {
			return &ConfigError{Var: "NATIONBUILDER_TOKEN", Want: "required with CRM=nationbuilder (or the OAuth client id, secret and refresh token)"}
		}
		if c.NBRefreshToken != "" && (c.NBClientID == "" || c.NBClientSecret == "") {
			return &ConfigError{Var: "NATIONBUILDER_CLIENT_ID", Want: "NATIONBUILDER_CLIENT_ID and NATIONBUILDER_CLIENT_SECRET are required with a refresh token"}
		}
	case "civicrm":
		if c.CiviURL == "" {
			return &ConfigError{Var: "CIVICRM_URL", Want: "required with CRM=civicrm"}
		}
		if c.CiviAPIKey == "" {
			return &ConfigError{Var: "CIVICRM_API_KEY", Want: "required with CRM=civicrm"}
		}
	case "webhook":
		if c.WebhookURL == "" {
			return &ConfigError{Var: "WEBHOOK_URL", Want: "required with CRM=webhook"}
		}
		if len(c.WebhookSecret) < 16 {
			return &ConfigError{Var: "WEBHOOK_SECRET", Want: "required with CRM=webhook, at least 16 characters"}
		}
	}
	return nil
}

// WriteEffective prints every setting with its effective value, secrets masked.
func (c Config) WriteEffective(w io.Writer) error {
	values := c.values()
	for _, s := range settings() {
		v := values[s.name]
		if s.secret && v != "" {
			v = "****"
		} else if s.name == "NATS_URL" || s.name == "REDIS_URL" {
			v = maskURLPassword(v)
		}
		if v == "" && s.name == "RELAIS_NATS_REPLICAS" {
			v = "(unset: the NATS cluster's size, at most 3; 1 on a single or embedded server)"
		} else if v == "" {
			v = "(unset)"
		}
		if _, err := fmt.Fprintf(w, "%-28s %s\n", s.name, v); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) values() map[string]string {
	itoa := strconv.Itoa
	replicas := ""
	if c.NATSReplicas > 0 {
		replicas = itoa(c.NATSReplicas)
	}
	return c.dpoValues(c.historyValues(c.alertValues(c.organiserValues(map[string]string{
		"RELAIS_DATA_DIR": c.DataDir, "RELAIS_SECRET": c.Secret, "RELAIS_HTTP_ADDR": c.HTTPAddr,
		"RELAIS_LANG": c.Lang, "RELAIS_SYNC_POLICY": c.SyncPolicy, "RELAIS_ORGANISERS": c.Organisers,
		"RELAIS_CONTROLLER": c.Controller, "RELAIS_LOG_LEVEL": c.LogLevel,
		"RELAIS_ACTIVE_MIN_MESSAGES": itoa(c.ActiveMinMessages), "RELAIS_ACTIVE_MIN_DAYS": itoa(c.ActiveMinDays),
		"RELAIS_LEADER_MIN_PEOPLE": itoa(c.LeaderMinPeople), "RELAIS_WINDOW_DAYS": itoa(c.WindowDays),
		"RELAIS_RETENTION_DAYS": itoa(c.RetentionDays), "RELAIS_TAG_PREFIX": c.TagPrefix, "RELAIS_NAMESPACE": c.Namespace,
		"RELAIS_CAMPAIGN_MAX_PER_WEEK": itoa(c.CampaignMaxPerWeek),
		"RELAIS_ERASE_WITHIN":          c.EraseWithin.String(),
		"NATS_URL":                     c.NATSURL, "REDIS_URL": c.RedisURL, "RELAIS_NATS_REPLICAS": replicas,
		"TELEGRAM_TOKEN": c.TelegramToken, "TELEGRAM_API_ENDPOINT": c.TelegramEndpoint,
		"TELEGRAM_WEBHOOK_URL": c.TelegramWebhookURL, "TELEGRAM_WEBHOOK_SECRET": c.TelegramWebhookSecret,
		"WHATSAPP_ENABLED": strconv.FormatBool(c.WhatsAppEnabled), "WHATSAPP_DB": c.WhatsAppDB,
		"CRM": c.CRM, "NATIONBUILDER_SLUG": c.NBSlug, "NATIONBUILDER_TOKEN": c.NBToken, "NATIONBUILDER_BASE_URL": c.NBBaseURL,
		"NATIONBUILDER_CLIENT_ID": c.NBClientID, "NATIONBUILDER_CLIENT_SECRET": c.NBClientSecret,
		"NATIONBUILDER_REFRESH_TOKEN": c.NBRefreshToken, "CIVICRM_URL": c.CiviURL, "CIVICRM_API_KEY": c.CiviAPIKey,
		"CIVICRM_SITE_KEY": c.CiviSiteKey, "WEBHOOK_URL": c.WebhookURL, "WEBHOOK_SECRET": c.WebhookSecret,
		"RELAIS_INSTANCE": c.Instance,
	}))))
}

func maskURLPassword(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "****")
				parts[i] = u.String()
			}
		}
	}
	return strings.Join(parts, ",")
}

// loadFromProcess reads the real environment and ./.env when present.
func loadFromProcess(envFile string) (Config, error) {
	f, err := os.Open(envFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return LoadConfig(os.LookupEnv, nil)
	case err != nil:
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return LoadConfig(os.LookupEnv, f)
}
