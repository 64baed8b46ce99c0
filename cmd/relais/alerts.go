package main

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/relais-bot/relais/events"
	incident "github.com/relais-bot/relais/health"
)

// healthBucketTTL bounds how long an incident's record lives unwritten: an incident open
// longer than that may be announced again by a replica that sees it start anew.
const healthBucketTTL = 30 * 24 * time.Hour

// probeSet holds the probes roles registered, by name: a role rebuilt after a failure
// replaces its probe instead of adding a second.
type probeSet struct {
	mu     sync.Mutex
	probes map[string]incident.Probe
}

func (p *probeSet) add(name string, probe incident.Probe) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.probes == nil {
		p.probes = map[string]incident.Probe{}
	}
	p.probes[name] = probe
}

// Conditions asks every probe, in name order.
func (p *probeSet) Conditions(ctx context.Context) []incident.Condition {
	p.mu.Lock()
	names := make([]string, 0, len(p.probes))
	for n := range p.probes {
		names = append(names, n)
	}
	probes := make([]incident.Probe, 0, len(names))
	sort.Strings(names)
	for _, n := range names {
		probes = append(probes, p.probes[n])
	}
	p.mu.Unlock()
	var out []incident.Condition
	for _, pr := range probes {
		out = append(out, pr.Conditions(ctx)...)
	}
	return out
}

// startMonitor runs the health monitor of this process once NATS is connected: the probes
// of the servers and the disk here, the roles' probes as they register. Incidents go to
// RELAIS_ALERT_WEBHOOK and privately to the admins in chat (alerts_chat.go).
func (in *instance) startMonitor(ctx context.Context) error {
	rt := in.rt
	cfg := incident.Config{AlertAfter: rt.cfg.AlertAfter, Probes: []incident.Probe{rt.probes}, Log: rt.log, Registerer: rt.reg}
	if rt.cfg.AlertWebhook != "" {
		wh, err := incident.NewWebhook(rt.cfg.AlertWebhook, rt.cfg.AlertSecret, rt.instanceID(), nil)
		if err != nil {
			return &ConfigError{Var: "RELAIS_ALERT_WEBHOOK", Want: err.Error()}
		}
		cfg.Webhook = wh
	}
	kv, err := events.OrganiserBucket(ctx, rt.js, rt.names, rt.names.HealthBucket(), healthBucketTTL)
	if err != nil {
		rt.log.Warn("health bucket unavailable: this process announces incidents without asking other replicas", "err", err.Error())
	} else {
		cfg.Claims = incident.NewClaims(kv)
	}
	rt.probes.add("nats", incident.Reachable(incident.NATSUnreachable, "nats", func(ctx context.Context) error {
		return rt.nc.FlushWithContext(ctx)
	}))
	rt.probes.add("disk", incident.DiskProbe(rt.cfg.DataDir, nil))
	rt.probes.add("dead-letters", incident.DeadLetterProbe(rt.js, rt.names.DLQStream(), time.Hour, nil))
	if rt.rdb != nil {
		rt.probes.add("redis", incident.Reachable(incident.RedisUnreachable, "redis", func(ctx context.Context) error {
			return rt.rdb.Ping(ctx).Err()
		}))
	}
	rt.monitor = incident.NewMonitor(cfg)
	chat, err := adminAlerts(rt)
	if err != nil {
		return err
	}
	rt.monitor.SetNotifier(chat)
	in.tasks.Add(1)
	go func() {
		defer in.tasks.Done()
		in.supervise(ctx, task{"health", func(ctx context.Context) error {
			err := rt.monitor.Run(ctx)
			if err == nil && ctx.Err() == nil {
				err = errors.New("health monitor stopped")
			}
			return err
		}})
	}()
	return nil
}

// tokenRefused stands for the Telegram adapter while Telegram refuses its token: the role
// cannot be built, and relais retries it, so the incident lasts until the token works.
type tokenRefused struct{}

func (tokenRefused) Conditions(context.Context) []incident.Condition {
	return []incident.Condition{{Kind: incident.TelegramTokenRefused, Subject: "telegram", Detail: "HTTP 401"}}
}
