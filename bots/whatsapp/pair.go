package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/socket"
	waevents "go.mau.fi/whatsmeow/types/events"
)

// Pairing failures a user meets; test with errors.Is. Their text is for the operator.
var (
	ErrAlreadyPaired = errors.New("a WhatsApp device is already paired / un appareil WhatsApp est déjà lié " +
		"(use --force to replace it / utilisez --force pour le remplacer)")
	ErrPairTimeout = errors.New("pairing timed out: the code was not used in time / " +
		"délai dépassé : le code n'a pas été utilisé à temps (run the command again / relancez la commande)")
	ErrClientOutdated = errors.New("WhatsApp refuses this client as outdated (405) / WhatsApp refuse ce client, trop ancien : " +
		"upgrade relais / mettez relais à jour")
	ErrPasskeyRequired = errors.New("WhatsApp asks for a passkey to link a device, which relais cannot answer in a terminal / " +
		"WhatsApp demande une clé d'accès (passkey) que relais ne peut pas fournir dans un terminal: " +
		"on the phone, WhatsApp > Settings > Account > Passkeys, remove the passkey and pair again, or use a newer relais / " +
		"sur le téléphone, WhatsApp > Réglages > Compte > Clés d'accès, supprimez la clé puis relancez, ou utilisez un relais plus récent")
	ErrNoMultidevice = errors.New("the phone scanned the code without multi-device support / le téléphone ne gère pas les appareils liés: " +
		"update WhatsApp on the phone / mettez WhatsApp à jour sur le téléphone")
	ErrNetwork = errors.New("cannot reach WhatsApp / impossible de joindre WhatsApp: " +
		"check the network, firewall or proxy / vérifiez le réseau, le pare-feu ou le proxy")
)

// PairConfig configures `relais whatsapp pair`.
type PairConfig struct {
	DataDir string // RELAIS_DATA_DIR
	DB      string // WHATSAPP_DB
	// Phone, in international form (+33…), asks for a pairing code to type on the phone
	// instead of a QR code to scan.
	Phone string
	Out   io.Writer // the operator's terminal
	// Timeout bounds the whole pairing (default 3 minutes: WhatsApp's own window is ~160 s).
	Timeout time.Duration
	// Force replaces an already paired device (unlink it on the phone too).
	Force bool
	Proxy string
	Log   *slog.Logger
}

// dialTimeout bounds connecting to WhatsApp, so a dead network fails instead of hanging.
const dialTimeout = 20 * time.Second

// Pair links relais to a WhatsApp account as a companion device and stores the session.
func Pair(ctx context.Context, cfg PairConfig) error {
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	container, err := openStore(ctx, cfg.DataDir, cfg.DB, newWALogger(log, "whatsmeow/store"))
	if err != nil {
		return err
	}
	defer container.Close()
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		return fmt.Errorf("whatsapp: load device: %w", err)
	}
	if dev.ID != nil {
		if !cfg.Force {
			fmt.Fprintf(out, "Déjà lié au compte %s. / Already paired with %s.\n", displayNumber(dev.ID.User), displayNumber(dev.ID.User))
			return ErrAlreadyPaired
		}
		if err := dev.Delete(ctx); err != nil {
			return fmt.Errorf("whatsapp: forget old device: %w", err)
		}
		fmt.Fprintln(out, "Ancien appareil oublié : retirez aussi « relais » des appareils liés du téléphone.\n"+
			"Old device forgotten: also remove it from Linked devices on the phone.")
		dev = container.NewDevice()
	}

	cli := whatsmeow.NewClient(dev, newWALogger(log, "whatsmeow"))
	cli.EnableAutoReconnect = false // a failed pairing is reported, not retried behind the user's back
	if err := cli.SetProxyAddress(cfg.Proxy); err != nil {
		return fmt.Errorf("whatsapp: proxy: %w", err)
	}
	qr, err := cli.GetQRChannel(ctx)
	if err != nil {
		return fmt.Errorf("whatsapp: pairing: %w", err)
	}
	connected := make(chan struct{}, 1)
	cli.AddEventHandler(func(evt any) {
		if _, ok := evt.(*waevents.Connected); ok {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	})
	if err := connect(ctx, cli); err != nil {
		return err
	}
	defer cli.Disconnect()

	phone := cfg.Phone
	codes := 0
	for {
		var item whatsmeow.QRChannelItem
		var ok bool
		select {
		case <-ctx.Done():
			return pairTimeout(ctx)
		case item, ok = <-qr:
		}
		if !ok {
			return pairTimeout(ctx)
		}
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			codes++
			if phone != "" {
				if codes > 1 {
					continue // the pairing code stays valid; QR codes are not shown in this mode
				}
				code, err := cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
				if err != nil {
					return pairPhoneError(err)
				}
				fmt.Fprintf(out, "\nCode d'association / Pairing code: %s\n\n"+
					"Sur le téléphone : WhatsApp > Appareils connectés > Connecter un appareil > Connecter avec un numéro de téléphone, puis tapez ce code.\n"+
					"On the phone: WhatsApp > Linked devices > Link a device > Link with phone number instead, then type this code.\n", code)
				continue
			}
			if codes == 1 {
				fmt.Fprintln(out, "Scannez ce code avec WhatsApp > Appareils connectés > Connecter un appareil.\n"+
					"Scan this code with WhatsApp > Linked devices > Link a device.")
			} else {
				fmt.Fprintln(out, "\nNouveau code (l'ancien a expiré) / New code (the previous one expired):")
			}
			qrterminal.GenerateHalfBlock(item.Code, qrterminal.L, out)
			fmt.Fprintf(out, "(valable %s / valid for %s)\n", item.Timeout, item.Timeout)
		case whatsmeow.QRChannelSuccess.Event:
			who := ""
			if cli.Store.ID != nil {
				who = displayNumber(cli.Store.ID.User)
			}
			fmt.Fprintf(out, "\nAppareil lié au compte %s. Lancez maintenant `relais run` avec WHATSAPP_ENABLED=true.\n"+
				"Device linked to %s. Now start `relais run` with WHATSAPP_ENABLED=true.\n", who, who)
			// WhatsApp reconnects right after pairing; staying for that first login lets the
			// phone finish linking instead of showing an endless "logging in".
			select {
			case <-connected:
			case <-time.After(15 * time.Second):
			case <-ctx.Done():
			}
			return nil
		case whatsmeow.QRChannelTimeout.Event:
			return ErrPairTimeout
		case whatsmeow.QRChannelClientOutdated.Event:
			return ErrClientOutdated
		case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
			return ErrNoMultidevice
		case whatsmeow.QRChannelEventPasskeyRequest, whatsmeow.QRChannelEventPasskeyResponse:
			return ErrPasskeyRequired
		case whatsmeow.QRChannelErrUnexpectedEvent.Event:
			return fmt.Errorf("whatsapp: pairing interrupted by an unexpected connection state; run the command again / relancez la commande")
		case whatsmeow.QRChannelEventError:
			return fmt.Errorf("whatsapp: pairing failed / échec de l'association: %w", item.Error)
		}
	}
}

// connect dials WhatsApp within dialTimeout. The client keeps ctx (not the dial deadline)
// for the session, so the deadline is enforced by racing the dial.
func connect(ctx context.Context, cli *whatsmeow.Client) error {
	done := make(chan error, 1)
	go func() { done <- cli.ConnectContext(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		if isNetworkError(err) {
			return fmt.Errorf("%w (%w)", ErrNetwork, err)
		}
		return fmt.Errorf("whatsapp: connect: %w", err)
	case <-time.After(dialTimeout):
		go cli.Disconnect()
		return fmt.Errorf("%w (no answer in %s)", ErrNetwork, dialTimeout)
	case <-ctx.Done():
		go cli.Disconnect()
		return pairTimeout(ctx)
	}
}

func isNetworkError(err error) bool {
	var netErr net.Error
	return errors.Is(err, socket.ErrDialFailed) || errors.As(err, &netErr)
}

func pairTimeout(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return ErrPairTimeout
}

func pairPhoneError(err error) error {
	switch {
	case errors.Is(err, whatsmeow.ErrPhoneNumberTooShort), errors.Is(err, whatsmeow.ErrPhoneNumberIsNotInternational):
		return fmt.Errorf("whatsapp: phone number must be international, e.g. +33612345678 / "+
			"le numéro doit être au format international, ex. +33612345678: %w", err)
	case errors.Is(err, whatsmeow.ErrIQRateOverLimit):
		return fmt.Errorf("whatsapp: too many pairing attempts, wait a few minutes / trop de tentatives, attendez quelques minutes: %w", err)
	}
	return fmt.Errorf("whatsapp: pairing code: %w", err)
}

// displayNumber shows the bot's own number to its operator with the middle hidden, enough to
// recognise it on screen.
func displayNumber(user string) string {
	if len(user) < 6 {
		return "+" + user
	}
	return "+" + user[:3] + strings.Repeat("∙", len(user)-5) + user[len(user)-2:]
}

// Exit codes of `relais whatsapp pair`, for scripts: PairExitCode maps Pair's error.
const (
	ExitPaired         = 0
	ExitFailed         = 1
	ExitAlreadyPaired  = 2
	ExitTimeout        = 3
	ExitNetwork        = 4
	ExitClientOutdated = 5
	ExitPhoneAction    = 6 // passkey or multi-device: something to change on the phone
)

// PairExitCode is the process exit code for Pair's result.
func PairExitCode(err error) int {
	switch {
	case err == nil:
		return ExitPaired
	case errors.Is(err, ErrAlreadyPaired):
		return ExitAlreadyPaired
	case errors.Is(err, ErrPairTimeout), errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	case errors.Is(err, ErrNetwork):
		return ExitNetwork
	case errors.Is(err, ErrClientOutdated):
		return ExitClientOutdated
	case errors.Is(err, ErrPasskeyRequired), errors.Is(err, ErrNoMultidevice):
		return ExitPhoneAction
	}
	return ExitFailed
}
