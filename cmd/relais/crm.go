package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/crm/civicrm"
	"github.com/relais-bot/relais/crm/local"
	"github.com/relais-bot/relais/crm/nationbuilder"
	"github.com/relais-bot/relais/crm/webhook"
	incident "github.com/relais-bot/relais/health"
)

func localCRMPath(dataDir string) string { return filepath.Join(dataDir, "crm.db") }

// localExportPath is where relais export writes by default: the local CRM rewrites it at
// each erasure, so an erased contact does not stay in a CSV on disk.
func localExportPath(dataDir string) string { return filepath.Join(dataDir, "export.csv") }

// crmPaces are the request limits relais keeps per CRM, in any window, summed over every CRM
// worker of the deployment: NationBuilder's published 250 per 10 s per token; CiviCRM and
// webhooks publish none, so relais keeps to 10 a second to spare the server.
var crmPaces = map[string]struct {
	limit  int
	window time.Duration
}{
	"nationbuilder": {250, 10 * time.Second},
	"civicrm":       {10, time.Second},
	"webhook":       {10, time.Second},
}

// pacedClient is the HTTP client of an HTTP CRM: every request takes its turn in the pace
// all the deployment's CRM workers share, kept in the NATS locks bucket.
func pacedClient(ctx context.Context, rt *runtime, name string) (*http.Client, error) {
	kv, err := rt.js.KeyValue(ctx, rt.names.LocksBucket())
	if err != nil {
		return nil, fmt.Errorf("locks bucket: %w", err)
	}
	p := crmPaces[name]
	return crm.NewHTTPClient(crm.NewSharedThrottle(kv, "crm-pace-"+name, p.limit, p.window, rt.log.With("crm", name))), nil
}

// openSink connects the configured CRM; close releases it.
func openSink(ctx context.Context, rt *runtime) (sink crm.Sink, close func(), err error) {
	cfg := rt.cfg
	var hc *http.Client
	if _, paced := crmPaces[cfg.CRM]; paced {
		if hc, err = pacedClient(ctx, rt, cfg.CRM); err != nil {
			return nil, nil, err
		}
	}
	switch cfg.CRM {
	case "nationbuilder":
		c, err := nationBuilderClient(cfg, hc, rt.log.With("crm", "nationbuilder"))
		return c, func() {}, err
	case "civicrm":
		c, err := civiCRMClient(cfg, hc)
		return c, func() {}, err
	case "webhook":
		c, err := webhook.New(webhook.Config{URL: cfg.WebhookURL, Secret: cfg.WebhookSecret, HTTPClient: hc})
		return c, func() {}, err
	default:
		s, err := local.Open(ctx, localCRMPath(cfg.DataDir), local.WithExportPath(localExportPath(cfg.DataDir)))
		if err != nil {
			return nil, nil, err
		}
		return s, func() { _ = s.Close() }, nil
	}
}

// nationBuilderClient and civiCRMClient build the HTTP CRMs' clients from the settings, for
// the worker and for relais doctor; hc nil is http.DefaultClient.
func nationBuilderClient(cfg Config, hc *http.Client, log *slog.Logger) (*nationbuilder.Client, error) {
	return nationbuilder.New(nationbuilder.Config{
		Slug: cfg.NBSlug, Token: cfg.NBToken, BaseURL: cfg.NBBaseURL,
		ClientID: cfg.NBClientID, ClientSecret: cfg.NBClientSecret, RefreshToken: cfg.NBRefreshToken,
		TokenStore: nationbuilder.FileTokenStore{Path: filepath.Join(cfg.DataDir, "nationbuilder-token.json")},
		HTTPClient: hc, Log: log,
	})
}

func civiCRMClient(cfg Config, hc *http.Client) (*civicrm.Client, error) {
	return civicrm.New(civicrm.Config{URL: cfg.CiviURL, APIKey: cfg.CiviAPIKey, SiteKey: cfg.CiviSiteKey, HTTPClient: hc})
}

// crmRole runs the sync worker; it returns the worker so commands can report its status.
func crmRole(ctx context.Context, rt *runtime) (*crm.Worker, []task, error) {
	sink, closeSink, err := openSink(ctx, rt)
	if err != nil {
		// Opening a sink reads only its settings and, for the local CRM, a file: nothing a
		// retry would fix.
		return nil, nil, fatalError{fmt.Errorf("crm %s: %w", rt.cfg.CRM, err)}
	}
	rt.addCloser(closeSink)
	w, err := crm.NewWorker(crm.WorkerConfig{Log: rt.log.With("role", "crm"), Registerer: rt.reg, Instance: rt.instanceID()}, rt.js, rt.names, rt.pub, sink)
	if err != nil {
		return nil, nil, err
	}
	rt.log.Info("crm sync", "crm", rt.cfg.CRM)
	rt.probes.add("crm", incident.CRMProbe(w))
	return w, []task{{"crm", w.Run}}, nil
}

// cmdExport writes the local CRM as a CSV NationBuilder's people import accepts.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "CSV file to write (- for standard output); default RELAIS_DATA_DIR/export.csv")
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	if err := journalExportOf(ctx, cfg, stderr); err != nil {
		return err
	}
	path, err := exportLocalCRM(ctx, cfg.DataDir, *out, stdout)
	if err != nil {
		return err
	}
	if path != "-" {
		fmt.Fprintln(stdout, path)
	}
	return nil
}

func exportLocalCRM(ctx context.Context, dataDir, out string, stdout io.Writer) (string, error) {
	db := localCRMPath(dataDir)
	if _, err := os.Stat(db); err != nil {
		return "", fmt.Errorf("export: no local CRM at %s (CRM=local keeps one once relais has synced a contact)", db)
	}
	store, err := local.Open(ctx, db)
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	defer store.Close()
	if out == "-" {
		return "-", store.Export(ctx, stdout)
	}
	if out == "" {
		out = localExportPath(dataDir)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	if err := store.Export(ctx, f); err != nil {
		f.Close()
		return "", fmt.Errorf("export: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return out, nil
	}
	return abs, nil
}
