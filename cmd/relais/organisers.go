package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/dashboard"
	"github.com/relais-bot/relais/events"
)

// organiserParts are the organisers' view's parts the bridge role wires: admins, scopes,
// the dashboard's login links and the weekly digest.
type organiserParts struct {
	rt       *runtime
	admins   commands.Organisers
	scopes   *scope.Resolver
	links    commands.LoginLinker
	schedule commands.Schedule
	// dashboard, when set, starts serving once the handler exists.
	dashboard func(h *commands.Handler, q *bridge.Query) error
}

func organiserView(ctx context.Context, rt *runtime) (*organiserParts, error) {
	admins, err := commands.ParseOrganisers(rt.cfg.Admins)
	if err != nil {
		return nil, &ConfigError{Var: "RELAIS_ADMINS", Want: err.Error()}
	}
	sched, err := commands.ParseSchedule(rt.cfg.DigestAt)
	if err != nil {
		return nil, &ConfigError{Var: "RELAIS_DIGEST_AT", Want: err.Error()}
	}
	checker := events.MembershipClient{NC: rt.nc, Names: rt.names}
	o := &organiserParts{
		rt: rt, admins: admins, schedule: sched,
		scopes: scope.NewResolver(checker, scope.DefaultTTL, nil, rt.log.With("role", "scope")),
	}
	if err := o.setupDashboard(ctx); err != nil {
		return nil, err
	}
	return o, nil
}

// tasks are the weekly digest's and the dashboard's.
func (o *organiserParts) tasks(h *commands.Handler, q *bridge.Query) []task {
	var out []task
	if !o.schedule.Off {
		out = append(out, task{"digest", func(ctx context.Context) error {
			kv, err := events.OrganiserBucket(ctx, o.rt.js, o.rt.names, o.rt.names.DigestBucket(), 21*24*time.Hour)
			if err != nil {
				return err
			}
			return h.RunDigests(ctx, kv, o.schedule)
		}})
	}
	if o.dashboard != nil {
		if err := o.dashboard(h, q); err != nil {
			o.rt.log.Error("dashboard not served", "err", err.Error())
		}
	}
	return out
}

// digestZone is the zone of RELAIS_DIGEST_AT (UTC when off or absent): organisers read the
// weekday × hour counts in the time they live in.
func digestZone(at string) *time.Location {
	s, err := commands.ParseSchedule(at)
	if err != nil || s.Zone == nil {
		return time.UTC
	}
	return s.Zone
}

// setupDashboard builds the dashboard when this process serves HTTP (relais run): its
// login links go out with /tableau, and its pages read the handler once it exists.
func (o *organiserParts) setupDashboard(ctx context.Context) error {
	rt := o.rt
	if rt.dashboard == nil {
		return nil
	}
	ttl := max(rt.cfg.DashboardSession, dashboard.DefaultLinkTTL) + time.Hour
	kv, err := events.OrganiserBucket(ctx, rt.js, rt.names, rt.names.DashboardBucket(), ttl)
	if err != nil {
		return err
	}
	srv, err := dashboard.New(dashboard.Config{
		PublicURL: rt.cfg.publicURL(), Lang: rt.cfg.Lang, SessionTTL: rt.cfg.DashboardSession,
		TagPrefix: rt.cfg.TagPrefix, Log: rt.log.With("role", "dashboard"),
	}, kv)
	if err != nil {
		return &ConfigError{Var: "RELAIS_PUBLIC_URL", Want: err.Error()}
	}
	o.links = srv
	o.dashboard = func(h *commands.Handler, q *bridge.Query) error {
		srv.Attach(h, q)
		rt.dashboard.set(srv.Handler())
		return nil
	}
	return nil
}

// swapHandler serves the dashboard once built: a restarted bridge role replaces it
// without mounting the route twice.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.h.Load()
	if h == nil {
		http.Error(w, "dashboard not available on this process", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}
