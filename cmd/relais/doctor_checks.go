package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bots/telegram"
	"github.com/relais-bot/relais/bots/whatsapp"
	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/events"
	incident "github.com/relais-bot/relais/health"
)

// botAPI calls one Bot API method; its errors never carry the token (it is in the URL).
func botAPI(ctx context.Context, cfg Config, method string, result any) (code int, desc string, err error) {
	endpoint := cfg.TelegramEndpoint
	if endpoint == "" {
		endpoint = telegram.DefaultEndpoint
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf(endpoint, cfg.TelegramToken, method), nil)
	if err != nil {
		return 0, "", errors.New("bad TELEGRAM_API_ENDPOINT")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	var env struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env); err != nil {
		return resp.StatusCode, "", fmt.Errorf("HTTP %d, not a Bot API answer", resp.StatusCode)
	}
	if !env.OK {
		return env.ErrorCode, env.Description, nil
	}
	if err := json.Unmarshal(env.Result, result); err != nil {
		return 0, "", errors.New("unreadable Bot API result")
	}
	return 0, "", nil
}

func checkTelegram(ctx context.Context, cfg Config) []finding {
	if cfg.TelegramToken == "" {
		return []finding{good("telegram", "not configured (TELEGRAM_TOKEN unset)")}
	}
	var me struct {
		Username   string `json:"username"`
		CanReadAll bool   `json:"can_read_all_group_messages"`
	}
	code, desc, err := botAPI(ctx, cfg, "getMe", &me)
	switch {
	case err != nil:
		return []finding{bad("telegram", "check the network to api.telegram.org (or TELEGRAM_API_ENDPOINT)", "getMe failed: %v", err)}
	case code == http.StatusUnauthorized || code == http.StatusNotFound:
		return []finding{bad("telegram", "copy the token again from @BotFather into TELEGRAM_TOKEN", "Telegram refuses the token (%d %s)", code, desc)}
	case code != 0:
		return []finding{bad("telegram", "retry later; if it lasts, see https://t.me/BotNews", "getMe answered %d %s", code, desc)}
	}
	out := []finding{good("telegram", "bot @%s answers", me.Username)}
	if me.CanReadAll {
		out = append(out, good("telegram", "privacy mode off: the bot reads every group message"))
	} else {
		out = append(out, bad("telegram", "in @BotFather: /setprivacy, Disable, then remove and re-add the bot to each group (or make it admin there)",
			"privacy mode on: in groups where the bot is not admin it sees only commands and replies"))
	}
	var hook struct {
		URL          string `json:"url"`
		LastError    string `json:"last_error_message"`
		PendingCount int    `json:"pending_update_count"`
	}
	if code, desc, err := botAPI(ctx, cfg, "getWebhookInfo", &hook); err != nil || code != 0 {
		return append(out, bad("telegram", "retry later", "getWebhookInfo failed: %v %d %s", err, code, desc))
	}
	switch {
	case cfg.TelegramWebhookURL == "" && hook.URL != "":
		out = append(out, good("telegram", "a webhook is set; relais (polling) deletes it when it starts"))
	case cfg.TelegramWebhookURL != "" && hook.URL != cfg.TelegramWebhookURL:
		out = append(out, good("telegram", "webhook not registered yet; relais registers it when it starts"))
	case hook.LastError != "":
		out = append(out, bad("telegram", "check that TELEGRAM_WEBHOOK_URL reaches relais from the internet (TLS, proxy)",
			"Telegram's last webhook delivery failed: %s (%d updates waiting)", hook.LastError, hook.PendingCount))
	default:
		out = append(out, good("telegram", "%d updates waiting", hook.PendingCount))
	}
	return out
}

func checkCRM(ctx context.Context, cfg Config) []finding {
	var (
		check func(context.Context) error
		creds string
	)
	switch cfg.CRM {
	case "nationbuilder":
		c, err := nationBuilderClient(cfg, nil, nil)
		if err != nil {
			return []finding{bad("crm", "fix the NATIONBUILDER_* settings", "%v", err)}
		}
		check, creds = c.Check, "renew NATIONBUILDER_TOKEN (or the OAuth client and refresh token) in the nation's settings, API"
	case "civicrm":
		c, err := civiCRMClient(cfg, nil)
		if err != nil {
			return []finding{bad("crm", "fix the CIVICRM_* settings", "%v", err)}
		}
		check, creds = c.Check, "check CIVICRM_API_KEY (the user's API key) and CIVICRM_SITE_KEY"
	case "webhook":
		return []finding{good("crm", "webhook to %s: not called (it would send a change)", hostOf(cfg.WebhookURL))}
	default:
		return []finding{good("crm", "local CRM in %s", localCRMPath(cfg.DataDir))}
	}
	err := check(ctx)
	if err == nil {
		return []finding{good("crm", "%s accepts relais's credentials", cfg.CRM)}
	}
	if e, ok := crm.AsError(err); ok && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
		return []finding{bad("crm", creds, "%s refuses relais's credentials (HTTP %d)", cfg.CRM, e.Status)}
	}
	return []finding{bad("crm", "check the CRM's address and that it is up", "%s failed: %v", cfg.CRM, err)}
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "?"
}

func checkNATS(ctx context.Context, cfg Config) []finding {
	if cfg.NATSURL == "" {
		return []finding{good("nats", "embedded server, store in %s", filepath.Join(cfg.DataDir, "nats"))}
	}
	opts := []nats.Option{nats.Name("relais-doctor"), nats.Timeout(5 * time.Second), nats.MaxReconnects(0)}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return []finding{bad("nats", "start NATS (with JetStream) or fix NATS_URL", "unreachable at %s: %v", maskURLPassword(cfg.NATSURL), err)}
	}
	defer nc.Close()
	out := []finding{good("nats", "reachable, server %s, %d server(s) known", nc.ConnectedServerVersion(), len(nc.Servers()))}
	js, err := jetstream.New(nc)
	if err != nil {
		return append(out, bad("nats", "enable JetStream (nats-server -js)", "no JetStream: %v", err))
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		return append(out, bad("nats", "enable JetStream (nats-server -js) for relais's account", "JetStream unavailable: %v", err))
	}
	names, err := events.NewNames(cfg.Namespace)
	if err != nil {
		return append(out, bad("nats", "fix RELAIS_NAMESPACE", "%v", err))
	}
	want := cfg.NATSReplicas
	if want == 0 {
		want = events.ClusterReplicas(nc)
	}
	for _, name := range []string{names.EventsStream(), names.CRMStream(), names.DLQStream()} {
		s, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			out = append(out, good("nats", "stream %s not created yet: relais run creates it", name))
			continue
		}
		if err != nil {
			out = append(out, bad("nats", "check NATS's logs", "stream %s: %v", name, err))
			continue
		}
		info, err := s.Info(ctx)
		if err != nil {
			out = append(out, bad("nats", "check NATS's logs", "stream %s: %v", name, err))
			continue
		}
		r := info.Config.Replicas
		lagging := 0
		if info.Cluster != nil {
			for _, p := range info.Cluster.Replicas {
				if !p.Current || p.Offline {
					lagging++
				}
			}
		}
		switch {
		case r < want:
			out = append(out, bad("nats", "restart relais with RELAIS_NATS_REPLICAS unset (or set to the cluster's size, up to 3): it raises the streams' replicas",
				"stream %s has %d replica(s), the cluster allows %d", name, r, want))
		case lagging > 0:
			out = append(out, bad("nats", "check the NATS servers that are down or behind", "stream %s: %d of %d replicas offline or behind", name, lagging, r))
		default:
			out = append(out, good("nats", "stream %s: %d replica(s), %d message(s)", name, r, info.State.Msgs))
		}
	}
	return out
}

func checkRedis(ctx context.Context, cfg Config) []finding {
	if cfg.RedisURL == "" {
		return []finding{good("redis", "embedded, rebuilt from the event log at start")}
	}
	rdb, err := connectRedis(cfg.RedisURL)
	if err != nil {
		return []finding{bad("redis", "fix REDIS_URL", "%v", err)}
	}
	defer rdb.Close()
	if err := pingRedis(ctx, rdb); err != nil {
		return []finding{bad("redis", "start Redis or fix REDIS_URL", "unreachable at %s: %v", maskURLPassword(cfg.RedisURL), err)}
	}
	version := "unknown"
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				version = v
			}
		}
	}
	return []finding{good("redis", "reachable, version %s", version)}
}

func checkDisk(_ context.Context, cfg Config) []finding {
	dir := cfg.DataDir
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		dir = filepath.Dir(filepath.Clean(dir)) // relais creates it: the disk is its parent's
	}
	free, total, err := incident.Statfs(dir)
	if err != nil {
		return []finding{bad("disk", "check RELAIS_DATA_DIR", "%v", err)}
	}
	pct := free * 100 / max(total, 1)
	if incident.DiskLowRule(free, total) {
		return []finding{bad("disk", "free space on the data dir's disk (NATS's store grows with RELAIS_RETENTION_DAYS)",
			"%d %% free (%d MiB) under %s", pct, free>>20, dir)}
	}
	return []finding{good("disk", "%d %% free (%d MiB) under %s", pct, free>>20, dir)}
}

func checkWhatsApp(ctx context.Context, cfg Config) []finding {
	if !cfg.WhatsAppEnabled {
		return []finding{good("whatsapp", "not enabled (WHATSAPP_ENABLED unset)")}
	}
	paired, err := whatsapp.Paired(ctx, cfg.DataDir, cfg.WhatsAppDB)
	switch {
	case err != nil:
		return []finding{bad("whatsapp", "check WHATSAPP_DB and RELAIS_DATA_DIR", "session store: %v", err)}
	case !paired:
		return []finding{bad("whatsapp", "run relais whatsapp pair", "no linked device")}
	}
	return []finding{good("whatsapp", "device linked (a logout or ban shows in /etat and as an incident)")}
}
