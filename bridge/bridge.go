package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// Bridge consumes group events, keeps activity in Redis and publishes contact changes.
// Any number of replicas may run against the same Redis and NATS.
type Bridge struct {
	cfg      Config
	bars     bars
	barsArg  string
	keys     keys
	rdb      redis.UniversalClient
	js       jetstream.JetStream
	pub      *events.Publisher
	names    events.Names
	hash     events.Hasher
	consent  Consent
	aliases  Aliases // nil: every token is a member of its own
	commands CommandHandler
	scripts  scripts
	metrics  *metrics
	settler  events.Settler

	groups groupsSeen

	settleMu sync.Mutex // see settleAll

	rebuild rebuild
	dedup   memoryDedup // the applied sequences of a single writer (dedup.go)

	bgOnce sync.Once
	bgSem  chan struct{}
	bgWG   sync.WaitGroup
}

// New returns a bridge. consent nil means PolicyOnly(cfg.Policy); commands nil acks and
// ignores commands and consent events.
func New(cfg Config, rdb redis.UniversalClient, js jetstream.JetStream, pub *events.Publisher, consent Consent, commands CommandHandler) (*Bridge, error) {
	if js == nil || pub == nil {
		return nil, errors.New("bridge: jetstream and publisher are required")
	}
	b, err := newBridge(cfg, rdb, pub.Hasher())
	if err != nil {
		return nil, err
	}
	b.js, b.pub, b.names = js, pub, pub.Names()
	if consent != nil {
		b.consent = consent
		b.aliases, _ = consent.(Aliases)
	}
	b.commands = commands
	b.settler = events.Settler{Pub: pub, Log: b.cfg.Log, BaseDelay: 500 * time.Millisecond, MaxDelay: time.Minute}
	return b, nil
}

// newBridge is the Redis half of a bridge: enough to apply events and evaluate members.
func newBridge(cfg Config, rdb redis.UniversalClient, h events.Hasher) (*Bridge, error) {
	if rdb == nil {
		return nil, errors.New("bridge: redis client is required")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Bridge{
		cfg:     cfg,
		bars:    cfg.bars(),
		keys:    keys{prefix: cfg.KeyPrefix},
		rdb:     rdb,
		hash:    h,
		consent: PolicyOnly(cfg.Policy),
		scripts: newScripts(),
		metrics: newMetrics(cfg.Registerer),
	}
	b.barsArg = b.bars.arg()
	return b, nil
}

// Config returns the bridge's configuration with its defaults filled in.
func (b *Bridge) Config() Config { return b.cfg }

// Query returns the read side over the same Redis and configuration.
func (b *Bridge) Query() *Query {
	return &Query{cfg: b.cfg, keys: b.keys, rdb: b.rdb, consent: b.consent}
}

// LoadScripts loads the bridge's Lua scripts into Redis. Run and Replay load them too; a
// caller that loads them first can wait out a Redis outage and say what it waits for.
func (b *Bridge) LoadScripts(ctx context.Context) error {
	if err := b.scripts.load(ctx, b.rdb); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	return nil
}
