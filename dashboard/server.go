// Package dashboard serves the organisers' dashboard under /tableau/: per group activity
// trends, a weekday × hour heatmap, leaders and actives with why, new and fading members,
// the CRM sync state. Pages are server-rendered HTML with inline SVG charts; nothing is
// loaded from outside, and a strict Content-Security-Policy says so to the browser.
//
// There is no password: /tableau in a private chat with the bot sends a one-time login link,
// short-lived, bound to that organiser; using it opens a session (an HttpOnly, SameSite=Strict
// cookie, Secure behind https) that expires. The link carries its token after '#', which
// browsers never send: the login page's script posts it, so no access log holds it.
//
// Everything is served under RELAIS_PUBLIC_URL's path: with https://example.org/relais/, the
// pages are /relais/tableau/… on RELAIS_HTTP_ADDR, the reverse proxy forwarding the full path.
//
// Every page applies the organiser's scope, asked again at each request (the platform's
// answer is cached a few minutes), and reads members through the consent gate: objectors and
// erased members never appear.
package dashboard

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/locale"
)

// Source is what pages read, scoped: *commands.Handler has it.
type Source interface {
	// Recheck says whether who is still an organiser, with their admin flag as of now.
	Recheck(who scope.Who) (scope.Who, bool)
	Scope(ctx context.Context, who scope.Who) (scope.Scope, error)
	BuildDigest(ctx context.Context, sc scope.Scope, now time.Time) (commands.Digest, error)
	// Top is the scope's first n members keep keeps, by the ranking's figure.
	Top(ctx context.Context, sc scope.Scope, r bridge.Ranking, n int, keep func(bridge.MemberCard) bool) ([]bridge.MemberCard, error)
}

// Series are a group's counts: *bridge.Query has them.
type Series interface {
	GroupDays(ctx context.Context, group string, n int) ([]int, error)
	GroupHours(ctx context.Context, group string, days int) (bridge.HoursOfWeek, error)
	Bars() bridge.Bars
}

// Defaults.
const (
	DefaultLinkTTL    = 10 * time.Minute
	DefaultSessionTTL = 8 * time.Hour
	cookieName        = "relais_tableau"
	// Prefix is where the dashboard is mounted, under RELAIS_PUBLIC_URL's path.
	Prefix = "/tableau/"
)

// loginJS puts the link's token, read from the fragment, in the login form. It is the only
// script of the dashboard, allowed by its hash: nothing else runs, inline or loaded.
//
//go:embed login.js
var loginJS string

var csp = func() string {
	sum := sha256.Sum256([]byte(loginJS))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

// basePath is what a public URL's path may be: segments of unreserved characters, so that
// it is the same escaped or not and means nothing to http.ServeMux's patterns.
var basePath = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)*$`)

// Root is where the dashboard is served for a public URL (RELAIS_PUBLIC_URL): its path, then
// Prefix. A reverse proxy in front forwards that full path, as most do by default.
func Root(publicURL string) (string, error) {
	base, err := url.Parse(strings.TrimRight(publicURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return "", errors.New("dashboard: public url must be an http(s) URL")
	}
	dots := slices.ContainsFunc(strings.Split(base.EscapedPath(), "/"), func(seg string) bool { return seg == "." || seg == ".." })
	if !basePath.MatchString(base.EscapedPath()) || dots || base.RawQuery != "" || base.Fragment != "" {
		return "", errors.New("dashboard: public url's path must be plain segments (letters, digits, . _ ~ -, not . or ..), without query or fragment")
	}
	return base.EscapedPath() + Prefix, nil
}

// originOf is a URL's origin as a browser's Origin header writes it, default port left out.
func originOf(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		host = "[" + host + "]" // an IPv6 literal, as a browser writes it
	}
	return scheme + "://" + host
}

// Config configures a Server.
type Config struct {
	// PublicURL is RELAIS_PUBLIC_URL: links point there; https makes the cookie Secure.
	PublicURL string
	// Lang is RELAIS_LANG, the default language of pages (?lang= overrides it).
	Lang                string
	LinkTTL, SessionTTL time.Duration
	TagPrefix           string
	Now                 func() time.Time
	Log                 *slog.Logger
}

// Server is the dashboard.
type Server struct {
	cfg    Config
	store  store
	secure bool
	base   *url.URL
	root   string // the public path of the dashboard: "/relais/tableau/"
	origin string // RELAIS_PUBLIC_URL's origin: the only one a login form is posted from
	src    atomic.Pointer[sources]
	log    *slog.Logger
	words  map[string]texts // by language
}

type sources struct {
	src    Source
	series Series
}

// New returns a dashboard over kv (events.DashboardBucket). Pages answer 503 until Attach.
func New(cfg Config, kv jetstream.KeyValue) (*Server, error) {
	if kv == nil {
		return nil, errors.New("dashboard: bucket is required")
	}
	root, err := Root(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("dashboard: public url: %w", err)
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = DefaultLinkTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TagPrefix == "" {
		cfg.TagPrefix = "relais-"
	}
	if cfg.Lang, err = locale.Lang(cfg.Lang); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	words, err := textsFor()
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, store: store{kv: kv, now: cfg.Now}, secure: base.Scheme == "https", base: base,
		root: root, origin: originOf(base), log: log, words: words}, nil
}

// Attach gives the server what pages read (the command handler exists after the server).
func (s *Server) Attach(src Source, series Series) { s.src.Store(&sources{src, series}) }

// LoginLink makes a one-time link for who (commands.LoginLinker).
func (s *Server) LoginLink(ctx context.Context, who scope.Who) (string, time.Duration, error) {
	tok, err := newSecret()
	if err != nil {
		return "", 0, err
	}
	g := grant{Platform: who.Platform, ID: who.ID, Phone: who.Phone, Admin: who.Admin, Expires: s.cfg.Now().Add(s.cfg.LinkTTL)}
	if err := s.store.put(ctx, "link", tok, g); err != nil {
		return "", 0, err
	}
	// After '#': browsers never send the fragment, so neither a proxy's access log nor a
	// chat app's link preview ever sees the token.
	return s.base.Scheme + "://" + s.base.Host + s.root + "entree#" + tok, s.cfg.LinkTTL, nil
}

// Root is the dashboard's public path (see Root), where Handler is to be mounted.
func (s *Server) Root() string { return s.root }

// Handler serves the dashboard's routes under Root.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tableau/entree", s.loginPage)
	mux.HandleFunc("POST /tableau/entree", s.login)
	mux.HandleFunc("POST /tableau/sortie", s.logout)
	mux.HandleFunc("GET /tableau/style.css", s.style)
	mux.HandleFunc("GET /tableau/{$}", s.withSession(s.overview))
	mux.HandleFunc("GET /tableau/groupe/{group}", s.withSession(s.groupPage))
	mux.HandleFunc("/tableau/", func(w http.ResponseWriter, r *http.Request) {
		s.page(w, r, http.StatusNotFound, "message", s.texts(r).NotFound)
	})
	h := headers(mux)
	if base := strings.TrimSuffix(s.root, Prefix); base != "" {
		// Routes are written once, from /tableau/; the base is checked here, whole.
		h = http.StripPrefix(base, h)
	}
	return h
}

// headers sets what every answer carries: a CSP allowing nothing from outside and no script
// but loginJS, no caching of pages holding names, and a referrer policy that never sends a
// path: strict-origin rather than no-referrer, because under no-referrer a browser posts
// forms with "Origin: null", and the login checks the Origin.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// secureRequest says whether the browser talks https: RELAIS_PUBLIC_URL says so, or a
// reverse proxy's X-Forwarded-Proto does. The header is believed only because it can only
// make the cookie stricter (Secure), never looser.
func (s *Server) secureRequest(r *http.Request) bool {
	return s.secure || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// loginPage shows a button that uses the link: a GET never uses it, so a link preview (chat
// apps fetch links to show them) does not spend it. The token is in the fragment (loginJS
// reads it), or in ?t= for a link sent before fragments. The form posts to entree?lang=…,
// not to the link's own URL: a browser showing the answer would take a next link, which
// differs from it by its fragment only, as a jump within that answer and not load it.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", map[string]any{"Token": r.URL.Query().Get("t")})
}

// sameOrigin says whether a form was posted from RELAIS_PUBLIC_URL's origin: its Origin, or
// without one its Referer. A request with neither is refused: every browser sends Origin
// with a POST, so what comes without is no browser's, and a page elsewhere (login CSRF:
// logging the victim in as the attacker) is refused by its Origin.
func (s *Server) sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
	}
	u, err := url.Parse(from)
	return err == nil && u.Scheme != "" && originOf(u) == s.origin
}

// tokenOf is the token of what was posted: the token, or the whole link when pasted by hand.
func tokenOf(v string) string {
	v = strings.TrimSpace(v)
	if _, frag, ok := strings.Cut(v, "#"); ok {
		return frag
	}
	if u, err := url.Parse(v); err == nil && u.Query().Has("t") {
		return u.Query().Get("t")
	}
	return v
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		// Nothing of the request is logged: its headers say where the person came from.
		s.log.Warn("dashboard login refused: posted from another origin")
		s.page(w, r, http.StatusForbidden, "message", s.texts(r).Refused)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.page(w, r, http.StatusBadRequest, "message", s.texts(r).LinkInvalid)
		return
	}
	g, err := s.store.get(r.Context(), "link", tokenOf(r.PostForm.Get("t")), true)
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			s.log.Warn("dashboard login", "err", err.Error())
		}
		s.page(w, r, http.StatusForbidden, "message", s.texts(r).LinkInvalid)
		return
	}
	sid, err := newSecret()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	g.Expires = s.cfg.Now().Add(s.cfg.SessionTTL)
	if err := s.store.put(r.Context(), "session", sid, g); err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: sid, Path: s.root, Expires: g.Expires, MaxAge: int(s.cfg.SessionTTL.Seconds()),
		HttpOnly: true, Secure: s.secureRequest(r), SameSite: http.SameSiteStrictMode,
	})
	s.log.Info("dashboard session opened", "platform", string(g.Platform), "admin", g.Admin)
	http.Redirect(w, r, s.root+langQuery(r), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		// A page elsewhere could otherwise clear the cookie (a forced logout).
		s.page(w, r, http.StatusForbidden, "message", s.texts(r).Refused)
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		if err := s.store.drop(r.Context(), "session", c.Value); err != nil {
			s.log.Warn("dashboard logout", "err", err.Error())
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: s.root, MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: s.secureRequest(r), SameSite: http.SameSiteStrictMode})
	s.page(w, r, http.StatusOK, "message", s.texts(r).LoggedOut)
}

// withSession runs h with the session's organiser, or answers that a new link is needed.
func (s *Server) withSession(h func(http.ResponseWriter, *http.Request, scope.Who)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil {
			s.page(w, r, http.StatusUnauthorized, "message", s.texts(r).NeedLink)
			return
		}
		g, err := s.store.get(r.Context(), "session", c.Value, false)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				s.fail(w, r, err)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: s.root, MaxAge: -1, HttpOnly: true,
				Secure: s.secureRequest(r), SameSite: http.SameSiteStrictMode})
			s.page(w, r, http.StatusUnauthorized, "message", s.texts(r).SessionExpired)
			return
		}
		who := g.who()
		if src := s.src.Load(); src != nil {
			var still bool
			if who, still = src.src.Recheck(who); !still {
				// No longer an organiser: the session ends now, not at its expiry.
				_ = s.store.drop(r.Context(), "session", c.Value)
				s.page(w, r, http.StatusUnauthorized, "message", s.texts(r).SessionExpired)
				return
			}
		}
		h(w, r, who)
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("dashboard", "err", err.Error())
	s.page(w, r, http.StatusServiceUnavailable, "message", s.texts(r).Unavailable)
}

func langQuery(r *http.Request) string {
	q := r.URL.Query().Get("lang")
	if l, err := locale.Lang(q); q != "" && err == nil {
		return "?lang=" + l
	}
	return ""
}

// sources returns what pages read, or an error while the bridge is not attached yet.
func (s *Server) sources() (*sources, error) {
	src := s.src.Load()
	if src == nil {
		return nil, fmt.Errorf("dashboard: not attached yet")
	}
	return src, nil
}
