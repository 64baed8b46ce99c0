package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/store"

	"github.com/relais-bot/relais/bots/whatsapp"
)

// whatsappDeviceName is what the phone lists under "Linked devices". whatsmeow keeps it in
// a package variable of its own, so it is set once, before pairing or connecting.
func setWhatsAppDeviceName() { store.SetOSInfo("relais", [3]uint32{1, 0, 0}) }

// whatsappRole connects the paired device and sends the bridge's private answers.
func whatsappRole(ctx context.Context, rt *runtime) ([]task, error) {
	setWhatsAppDeviceName()
	a, err := whatsapp.New(ctx, whatsapp.Config{
		DataDir: rt.cfg.DataDir, DB: rt.cfg.WhatsAppDB, Log: rt.log.With("role", "whatsapp"), Registerer: rt.reg,
		Instance: rt.instanceID(),
		History:  historySink(rt), HistorySince: func() time.Time { return rt.cfg.HistorySince(time.Now()) },
	}, rt.js, rt.names, rt.pub)
	if err != nil {
		// Only a session store on a server (PostgreSQL) can be down for a while; an unpaired
		// device or a local store that fails is the operator's to fix.
		onServer := strings.HasPrefix(rt.cfg.WhatsAppDB, "postgres://") || strings.HasPrefix(rt.cfg.WhatsAppDB, "postgresql://")
		if errors.Is(err, whatsapp.ErrNotPaired) || !onServer {
			return nil, fatalError{err}
		}
		return nil, err
	}
	rt.addCloser(func() { _ = a.Close() })
	rt.probes.add("whatsapp", a)
	rt.health.add("whatsapp", func(context.Context) error {
		if h := a.Health(); !h.Ready() {
			if h.LastError != "" {
				return errors.New(h.State + ": " + h.LastError)
			}
			return errors.New(h.State)
		}
		return nil
	})
	return []task{{"whatsapp", a.Run}, {"whatsapp-replies", a.ServeReplies}, {"whatsapp-campaigns", a.ServeCampaigns}, {"whatsapp-membership", a.ServeMembership}}, nil
}

// whatsappError carries the pairing outcome's exit code (3 timeout, 4 network, ...).
type whatsappError struct {
	err  error
	code int
}

func (e whatsappError) Error() string { return e.err.Error() }
func (e whatsappError) Unwrap() error { return e.err }
func (e whatsappError) ExitCode() int { return e.code }

func cmdWhatsApp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "pair" {
		return usageError{"usage: relais whatsapp pair [--phone +33612345678] [--force] [--timeout 3m] [--proxy url]"}
	}
	fs := flag.NewFlagSet("whatsapp pair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	phone := fs.String("phone", "", "pair with a code typed on the phone instead of a QR code (international form, +33...)")
	force := fs.Bool("force", false, "forget the paired device and pair again")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	proxy := fs.String("proxy", "", "reach WhatsApp through this http://, https:// or socks5:// proxy")
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	setWhatsAppDeviceName()
	err = whatsapp.Pair(ctx, whatsapp.PairConfig{
		DataDir: cfg.DataDir, DB: cfg.WhatsAppDB, Phone: *phone, Out: stdout, Timeout: *timeout, Force: *force, Proxy: *proxy,
		Log: newLogger(cfg.LogLevel).With("role", "whatsapp-pair"),
	})
	if err != nil {
		return whatsappError{err: err, code: whatsapp.PairExitCode(err)}
	}
	return nil
}
