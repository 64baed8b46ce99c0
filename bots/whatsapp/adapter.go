package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"

	"github.com/relais-bot/relais/events"
)

// ErrNotPaired is returned by New when the store holds no WhatsApp device.
var ErrNotPaired = errors.New("whatsapp: not paired: run `relais whatsapp pair`")

// Config configures the adapter.
type Config struct {
	DataDir string // RELAIS_DATA_DIR: the SQLite session store lives here by default
	DB      string // WHATSAPP_DB: "" (SQLite in DataDir), a postgres:// URL, or a SQLite file path
	Log     *slog.Logger
	// Registerer receives the relais_whatsapp_* series; nil registers nothing.
	Registerer prometheus.Registerer
	// Proxy is an optional http://, https:// or socks5:// proxy for the WhatsApp connection.
	Proxy string
	// Throttle bounds replies; the zero value means DefaultThrottle().
	Throttle Throttle
	// Instance is this process's identity (RELAIS_INSTANCE): restarted, it takes the
	// session lock back at once instead of waiting for its own dead lease.
	Instance string
	// History imports WhatsApp's history syncs of followed groups (nil: ignored), as far
	// back as HistorySince says (RELAIS_HISTORY_DAYS).
	History      HistorySink
	HistorySince func() time.Time
}

// Adapter connects one paired WhatsApp device, publishes its group activity and sends the
// bridge's replies.
type Adapter struct {
	log     *slog.Logger
	js      jetstream.JetStream
	names   events.Names
	pub     *events.Publisher
	store   *sqlstore.Container
	device  *store.Device
	cli     *whatsmeow.Client
	health  *healthState
	metrics *metrics
	ingest  *ingest
	replies *replier
	// members answers the bridge's membership questions, from cached participant lists.
	members *participants

	// canSend reports whether this process may send now: it holds the session and is
	// logged in. A field so tests can drive ServeReplies without WhatsApp.
	canSend func() bool

	instance   string
	stops      chan stopSignal // permanent disconnects, from the event handler to Run
	active     atomic.Bool     // this process holds the session lock
	resetArmed atomic.Bool     // a reconnect for redelivery is scheduled
}

// stopSignal ends a session: retry after a delay (temporary ban), or never (permanent).
type stopSignal struct {
	retryAfter time.Duration
	permanent  bool
}

// New opens the device store and prepares the client; it does not connect (Run does).
func New(ctx context.Context, cfg Config, js jetstream.JetStream, names events.Names, pub *events.Publisher) (*Adapter, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	container, err := openStore(ctx, cfg.DataDir, cfg.DB, newWALogger(log, "whatsmeow/store"))
	if err != nil {
		return nil, err
	}
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		_ = container.Close()
		return nil, fmt.Errorf("whatsapp: load device: %w", err)
	}
	if dev.ID == nil {
		_ = container.Close()
		return nil, ErrNotPaired
	}
	forgetNames(dev)
	cli := whatsmeow.NewClient(dev, newWALogger(log, "whatsmeow"))
	// Acks go to WhatsApp only after every handler returned true (see ingest), and a
	// message left unacked is decrypted again from the buffer when it comes back (its
	// Signal ratchet has moved on, so without the buffer it could not be read twice).
	cli.SynchronousAck = true
	cli.EnableDecryptedEventBuffer = true
	// A network down at start is retried in the background instead of failing Run.
	cli.InitialAutoReconnect = true
	if err := cli.SetProxyAddress(cfg.Proxy); err != nil {
		_ = container.Close()
		return nil, fmt.Errorf("whatsapp: proxy: %w", err)
	}
	throttle := cfg.Throttle
	if throttle == (Throttle{}) {
		throttle = DefaultThrottle()
	}
	a := &Adapter{
		log: log, js: js, names: names, pub: pub,
		store: container, device: dev, cli: cli,
		metrics:  m,
		health:   newHealthState(m, time.Now),
		stops:    make(chan stopSignal, 1),
		instance: cfg.Instance,
	}
	a.canSend = func() bool { return a.active.Load() && cli.IsLoggedIn() }
	a.members = newParticipants(cli, time.Now)
	seen := newRecentSenders(30*24*time.Hour, 100_000, time.Now)
	groups := newGroupBook(cli, time.Now)
	a.ingest = &ingest{
		ctx: context.WithoutCancel(ctx),
		mapper: Mapper{
			LIDs:   dev.LIDs,
			Groups: groups,
			Self:   []types.JID{dev.ID.ToNonAD(), dev.LID.ToNonAD()},
		},
		groups:  groups,
		pub:     pub,
		hash:    pub.Hasher(),
		log:     log,
		metrics: m,
		seen:    seen,
		failed:  a.scheduleRedelivery,
		history: cfg.History, parse: cli.ParseWebMessage, historySince: cfg.HistorySince,
	}
	a.replies = newReplier(clientSender{cli}, knownRecipients{seen: seen, contacts: dev.Contacts, lids: dev.LIDs}, throttle, log)
	a.replies.count = func(outcome string) { m.replies.WithLabelValues(outcome).Inc() }
	a.replies.countCampaign = func(outcome string) { m.campaigns.WithLabelValues(outcome).Inc() }
	// Lifecycle first: it always returns true, so it sees every event.
	cli.AddEventHandlerWithSuccessStatus(a.lifecycle)
	cli.AddEventHandlerWithSuccessStatus(a.ingest.Handle)
	return a, nil
}

// Health is the session's state for /readyz and the logs.
func (a *Adapter) Health() Health { return a.health.get() }

// Close releases the device store. Call it after Run and ServeReplies returned.
func (a *Adapter) Close() error { return a.store.Close() }

// Run takes the device's session lock (waiting while another relais holds it), connects,
// and handles events until ctx is done. A permanent disconnect (logged out, client outdated,
// stream replaced) is logged and shown in Health, and Run then idles until ctx is done
// rather than reconnect-fight; after a temporary ban it reconnects when the ban expires.
// It returns an error only when it cannot start.
func (a *Adapter) Run(ctx context.Context) error {
	defer a.health.set(StateStopped, "")
	kv, err := a.js.KeyValue(ctx, a.names.LocksBucket())
	if err != nil {
		return fmt.Errorf("whatsapp: locks bucket: %w", err)
	}
	lock := events.NewLock(kv, "whatsapp-"+a.device.ID.User, events.LockConfig{Instance: a.instance, Log: a.log})
	for {
		sig, err := a.session(ctx, lock)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			a.log.Warn("whatsapp: session ended", "err", err.Error())
			sig.retryAfter = max(sig.retryAfter, 10*time.Second)
		case sig.permanent:
			<-ctx.Done()
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(sig.retryAfter):
		}
	}
}

// session runs one connected session under the lock.
func (a *Adapter) session(ctx context.Context, lock *events.Lock) (stopSignal, error) {
	err := lock.Acquire(ctx, func() {
		a.health.set(StateWaitingLock, "")
		a.log.Info("whatsapp: another relais holds this WhatsApp session; waiting for it")
	})
	if err != nil {
		return stopSignal{}, err
	}
	a.active.Store(true)
	defer func() {
		a.active.Store(false)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := lock.Release(rctx); err != nil {
			a.log.Debug("whatsapp: release lock", "err", err.Error())
		}
	}()
	for len(a.stops) > 0 { // a signal from an earlier session is stale
		<-a.stops
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kept := make(chan error, 1)
	go func() { kept <- lock.Keep(sctx) }()

	a.health.set(StateConnecting, "")
	if err := a.cli.ConnectContext(sctx); err != nil {
		return stopSignal{retryAfter: 30 * time.Second}, fmt.Errorf("whatsapp: connect: %w", err)
	}
	defer a.cli.Disconnect()
	select {
	case <-ctx.Done():
		return stopSignal{}, nil
	case err := <-kept:
		if err == nil {
			return stopSignal{}, nil
		}
		a.log.Error("whatsapp: session lock lost; disconnecting so two processes never share the session", "err", err.Error())
		return stopSignal{retryAfter: events.LockLease}, nil
	case sig := <-a.stops:
		return sig, nil
	}
}

// lifecycle follows the connection: it never fails, so it never holds back an ack.
func (a *Adapter) lifecycle(evt any) bool {
	switch e := evt.(type) {
	case *waevents.Connected:
		a.health.set(StateConnected, "")
		a.log.Info("whatsapp: connected")
		// Without one presence after connecting, members see "-" as the bot's name.
		// Unavailable keeps notifications on the phone.
		go func() { _ = a.cli.SendPresence(context.Background(), types.PresenceUnavailable) }()
	case *waevents.Disconnected:
		a.health.set(StateConnecting, "")
		a.log.Info("whatsapp: disconnected; reconnecting")
	case *waevents.LoggedOut:
		msg := fmt.Sprintf("WhatsApp logged this device out (%s): run `relais whatsapp pair` to link it again", e.Reason)
		a.stop(StateLoggedOut, msg, stopSignal{permanent: true})
	case *waevents.TemporaryBan:
		msg := fmt.Sprintf("WhatsApp temporarily banned this number (code %d: %s); relais reconnects in %s. Send less, and only to people who wrote first",
			int(e.Code), e.Code, e.Expire)
		a.stop(StateTemporaryBan, msg, stopSignal{retryAfter: e.Expire + time.Minute})
		a.health.banFor(e.Expire)
	case *waevents.ClientOutdated:
		a.stop(StateClientOutdated, "WhatsApp refuses this client as outdated (405): upgrade relais (it pins whatsmeow; a newer build follows WhatsApp's protocol)", stopSignal{permanent: true})
	case *waevents.StreamReplaced:
		a.stop(StateStreamReplaced, "another client connected with this WhatsApp session; relais stopped instead of fighting for it. Make sure only one relais runs this device, then restart", stopSignal{permanent: true})
	case *waevents.ConnectFailure:
		msg := fmt.Sprintf("WhatsApp refused the connection (%d); retrying in 5 minutes", int(e.Reason))
		a.stop(StateConnecting, msg, stopSignal{retryAfter: 5 * time.Minute})
	case *waevents.OfflineSyncPreview:
		a.log.Info("whatsapp: receiving messages sent while offline", "messages", e.Messages, "notifications", e.Notifications)
	case *waevents.OfflineSyncCompleted:
		a.log.Info("whatsapp: offline messages received", "count", e.Count)
	case *waevents.NotifyAccountReachoutTimelock:
		if e.IsActive {
			a.log.Warn("whatsapp: WhatsApp limits messages to new contacts for this number for a while")
		}
	}
	return true
}

func (a *Adapter) stop(state, msg string, sig stopSignal) {
	a.health.set(state, msg)
	a.log.Error("whatsapp: " + msg)
	select {
	case a.stops <- sig:
	default:
	}
}

// scheduleRedelivery reconnects a while after a publish failed: WhatsApp redelivers the
// messages it got no ack for when the client connects again.
func (a *Adapter) scheduleRedelivery() {
	if !a.resetArmed.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(time.Minute, func() {
		a.resetArmed.Store(false)
		if a.active.Load() && a.cli.IsConnected() {
			a.log.Info("whatsapp: reconnecting so WhatsApp redelivers unacknowledged messages")
			a.cli.ResetConnection()
		}
	})
}

// errNotActive: this process does not hold the session (another replica does, or it is
// not connected): the reply waits for the one that does.
var errNotActive = errors.New("whatsapp: session not active in this process")

// ServeReplies sends the bridge's replies from relais.reply.whatsapp until ctx is done.
func (a *Adapter) ServeReplies(ctx context.Context) error {
	cfg := events.DurableConfig(a.names.ReplyConsumer(events.WhatsApp), a.names.ReplySubject(events.WhatsApp))
	settler := events.Settler{Pub: a.pub, Log: a.log, BaseDelay: 5 * time.Second, MaxDelay: 5 * time.Minute}
	return a.serveOneByOne(ctx, "replies", a.names.RepliesStream(), cfg, settler,
		func(ctx context.Context, rep events.Reply, _ uint64) error { return a.replies.Handle(ctx, rep) })
}

// serveOneByOne sends the replies of one stream through send until ctx is done: one at a
// time, with time for a reply to wait its turn, its jitter and the send. A sent reply is
// securely deleted before its ack (see replies.go). send is given the message's stream
// sequence (0 when unknown).
func (a *Adapter) serveOneByOne(ctx context.Context, what, streamName string, cfg jetstream.ConsumerConfig,
	settler events.Settler, send func(context.Context, events.Reply, uint64) error) error {
	cfg.AckWait = 3 * time.Minute
	cfg.MaxAckPending = 1
	cons, err := a.js.CreateOrUpdateConsumer(ctx, streamName, cfg)
	if err != nil {
		return fmt.Errorf("whatsapp: %s consumer: %w", what, err)
	}
	stream, err := a.js.Stream(ctx, streamName)
	if err != nil {
		return fmt.Errorf("whatsapp: %s stream: %w", what, err)
	}
	return events.Consume(ctx, cons, settler, events.ErasingHandler(stream, a.pub, a.log, func(ctx context.Context, msg jetstream.Msg) error {
		rep, err := events.DecodeReply(msg.Data())
		if err != nil {
			return err
		}
		if rep.Text == "" {
			return nil // only a deletion: WhatsApp lets only a message's sender delete it
		}
		if !a.canSend() {
			return events.RetryAfter(errNotActive, 30*time.Second)
		}
		var seq uint64
		if md, err := msg.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return send(sctx, rep, seq)
	}))
}

// knownRecipients: someone wrote first if relais saw them write since it started, or the
// device store knows them by a name (a push name WhatsApp sent with one of their messages,
// or the bot phone's address book).
type knownRecipients struct {
	seen     *recentSenders
	contacts store.ContactStore
	lids     LIDs
}

func (k knownRecipients) WroteFirst(ctx context.Context, j types.JID) (bool, error) {
	forms := []types.JID{j}
	var alt types.JID
	var err error
	switch j.Server {
	case types.HiddenUserServer:
		alt, err = k.lids.GetPNForLID(ctx, j)
	case types.DefaultUserServer:
		alt, err = k.lids.GetLIDForPN(ctx, j)
	}
	if err != nil {
		return false, err
	}
	if !alt.IsEmpty() {
		forms = append(forms, alt)
	}
	for _, f := range forms {
		if k.seen.has(f) {
			return true, nil
		}
	}
	for _, f := range forms {
		c, err := k.contacts.GetContact(ctx, f)
		if err != nil {
			return false, err
		}
		if c.Found && (c.PushName != "" || c.FullName != "" || c.FirstName != "") {
			return true, nil
		}
	}
	return false, nil
}

// IsMember asks WhatsApp whether user is a participant of group (the bridge's scope check).
func (a *Adapter) IsMember(ctx context.Context, group, user string) (bool, error) {
	if !a.canSend() {
		return false, events.ErrNotHere
	}
	return groupMember(ctx, a.members, group, user)
}

// ServeMembership answers the bridge's membership questions until ctx ends.
func (a *Adapter) ServeMembership(ctx context.Context) error {
	return events.ServeMembership(ctx, a.js.Conn(), a.names, events.WhatsApp, "", a.IsMember)
}
