// Package whatsapp is relais's WhatsApp adapter, built on go.mau.fi/whatsmeow (a companion
// "linked device" of a real WhatsApp account).
//
// Pair links the account once (QR code or pairing code). Adapter.Run then connects the
// stored device under a NATS KV lock (one active session per device), maps group activity
// to events.Event with Mapper and publishes it; whatsmeow acknowledges a message to
// WhatsApp only after JetStream stored its event (SynchronousAck), so a crash or a NATS
// outage loses nothing. Adapter.ServeReplies sends the bridge's answers: privately, to
// people who wrote first, throttled with jitter.
//
// Message text never leaves this package: events carry its length only, and whatsmeow's
// own log lines are redacted before they reach slog.
//
// whatsmeow depends on go.mau.fi/libsignal, which is GPL-3.0: relais is GPL-3.0 for it.
package whatsapp
