// Package console is gitaccess's web page: sign in with an API key, see the
// organization's tokens and when they expire, add, test, edit, rotate and
// delete them, and bind applications to repositories.
//
// It is an adapter beside internal/api: server-rendered html/template pages
// and a little vanilla JavaScript, all embedded in the binary, so nothing is
// built at run time. Every form works with a plain POST; the script only
// enhances (testing a token without reloading, provider-dependent fields,
// filtering the repository list, confirmation dialogs). Every action calls
// an access.Service use case with the signed-in Principal, so roles are
// decided there, once, for the API and the console alike; this package only
// hides the controls a role cannot use.
//
// Sessions: signing in posts the API key once; the browser then holds a
// random session id in an HttpOnly, SameSite=Strict cookie (Secure over
// https) and the store keeps only its SHA-256. The API key never reaches
// the browser again. Every request re-reads the key, so revoking it ends
// the session and a role change applies at once. Every form carries a
// per-session CSRF token, and cross-origin POSTs are refused outright.
package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/accesslog"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Service is what the console needs from the use cases; *access.Service
// satisfies it.
type Service interface {
	Authenticate(ctx context.Context, rawKey secret.Value) (access.Principal, error)

	ListTokens(ctx context.Context, p access.Principal, page store.Page) ([]access.TokenView, string, error)
	GetToken(ctx context.Context, p access.Principal, name string) (access.TokenView, error)
	AddToken(ctx context.Context, p access.Principal, in access.AddTokenInput) (access.TokenResult, error)
	TestValue(ctx context.Context, p access.Principal, in access.TestValueInput) (forge.Report, error)
	TestToken(ctx context.Context, p access.Principal, name string) (access.TokenResult, error)
	UpdateToken(ctx context.Context, p access.Principal, name string, in access.UpdateTokenInput) (access.TokenResult, error)
	DeleteToken(ctx context.Context, p access.Principal, name string, in access.DeleteTokenInput) (access.DeleteTokenResult, error)
	TokenImpact(ctx context.Context, p access.Principal, name string) (access.TokenImpact, error)
	RotateToken(ctx context.Context, p access.Principal, name string, in access.RotateTokenInput) (access.RotateResult, error)
	// Status is the organization's token health: what needs attention,
	// the warnings given and the revalidation schedule.
	Status(ctx context.Context, p access.Principal) (access.StatusView, error)

	ListApps(ctx context.Context, p access.Principal, page store.Page) ([]access.AppView, string, error)
	GetApp(ctx context.Context, p access.Principal, name string) (access.AppView, error)
	CreateApp(ctx context.Context, p access.Principal, in access.AppInput) (access.AppView, error)
	UpdateApp(ctx context.Context, p access.Principal, name string, in access.AppUpdate) (access.AppView, error)
	DeleteApp(ctx context.Context, p access.Principal, name string, force bool) error

	ListRepos(ctx context.Context, p access.Principal, tokenName, search string) ([]forge.Repo, error)
	ListBranches(ctx context.Context, p access.Principal, repoURL, tokenName string) ([]forge.Branch, error)

	CheckHook(ctx context.Context, p access.Principal, app string) (access.HookView, error)
	ListDeliveries(ctx context.Context, p access.Principal, app string, page store.Page) ([]access.DeliveryView, string, error)
}

var _ Service = (*access.Service)(nil)

// Sessions is the console's only window on the store: its own sessions,
// and the API key (with its organization) a session was opened with, read
// again on every request. store.Store satisfies it.
type Sessions interface {
	store.ConsoleStore
	GetAPIKey(ctx context.Context, id string) (store.APIKey, error)
	GetOrg(ctx context.Context, id string) (store.Org, error)
}

// Config assembles the console.
type Config struct {
	Service  Service
	Sessions Sessions
	// Next serves every request outside the console (the API, hooks,
	// health checks).
	Next http.Handler
	// PublicURL is how browsers reach the server; an https URL makes the
	// session cookie Secure even behind a TLS-terminating proxy.
	PublicURL string
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SessionTTL bounds a session from sign-in (default 12 hours).
	SessionTTL time.Duration
}

// DefaultSessionTTL is how long a sign-in lasts.
const DefaultSessionTTL = 12 * time.Hour

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Console serves the web console and hands every other request to Next.
type Console struct {
	svc       Service
	sessions  Sessions
	next      http.Handler
	secureURL bool
	log       *slog.Logger
	now       func() time.Time
	ttl       time.Duration
	pages     *pages
	mux       *http.ServeMux
	origins   *http.CrossOriginProtection
}

// New returns the console.
func New(cfg Config) (*Console, error) {
	c := &Console{
		svc: cfg.Service, sessions: cfg.Sessions, next: cfg.Next, log: cfg.Logger, now: cfg.Now, ttl: cfg.SessionTTL,
		secureURL: strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://"),
		origins:   http.NewCrossOriginProtection(),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.ttl <= 0 {
		c.ttl = DefaultSessionTTL
	}
	if c.next == nil {
		c.next = http.NotFoundHandler()
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.origins.SetDenyHandler(http.HandlerFunc(c.crossOrigin))
	c.mux = http.NewServeMux()
	c.routes()
	return c, nil
}

// StaticPrefix is where the console's CSS and script are served.
const StaticPrefix = "/console/static/"

func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFiles, "static")
	m.Handle("GET "+StaticPrefix, http.StripPrefix(StaticPrefix, staticHandler(static)))

	m.HandleFunc("GET /console/sign-in", c.signInPage)
	m.HandleFunc("POST /console/sign-in", c.signIn)
	m.HandleFunc("POST /console/sign-out", c.authed(c.signOut))

	m.HandleFunc("GET /{$}", c.authed(c.tokensPage))
	m.HandleFunc("GET /console/tokens/new", c.authed(c.newTokenPage))
	m.HandleFunc("POST /console/tokens/new", c.authed(c.addToken))
	m.HandleFunc("GET /console/tokens/{name}", c.authed(c.tokenPage))
	m.HandleFunc("POST /console/tokens/{name}/edit", c.authed(c.editToken))
	m.HandleFunc("POST /console/tokens/{name}/rotate", c.authed(c.rotateToken))
	m.HandleFunc("POST /console/tokens/{name}/test", c.authed(c.retestToken))
	m.HandleFunc("GET /console/tokens/{name}/delete", c.authed(c.deleteTokenPage))
	m.HandleFunc("POST /console/tokens/{name}/delete", c.authed(c.deleteToken))

	m.HandleFunc("GET /console/apps", c.authed(c.appsPage))
	m.HandleFunc("GET /console/apps/new", c.authed(c.newAppPage))
	m.HandleFunc("POST /console/apps/new", c.authed(c.createApp))
	m.HandleFunc("GET /console/apps/{name}", c.authed(c.appPage))
	m.HandleFunc("POST /console/apps/{name}/settings", c.authed(c.appSettings))
	m.HandleFunc("POST /console/apps/{name}/check-hook", c.authed(c.checkHook))
	m.HandleFunc("GET /console/apps/{name}/delete", c.authed(c.deleteAppPage))
	m.HandleFunc("POST /console/apps/{name}/delete", c.authed(c.deleteApp))
}

// ServeHTTP serves "/" and everything under /console/, and passes the
// rest to Next.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/console/") && r.URL.Path != "/console" {
		c.next.ServeHTTP(w, r)
		return
	}
	securityHeaders(w.Header())
	start := time.Now()
	sw := accesslog.NewRecorder(w)
	w = sw
	defer func() {
		c.log.InfoContext(r.Context(), "console request", "method", r.Method, "path", r.URL.Path, "status", sw.Status(), "duration", time.Since(start))
	}()
	if r.URL.Path == "/console" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if _, pattern := c.mux.Handler(r); pattern == "" {
		c.renderError(w, r, nil, http.StatusNotFound, "There is no console page at "+r.URL.Path+".")
		return
	}
	// Cross-origin writes are refused before any handler runs: a page on
	// another site cannot make a signed-in browser act, whatever it sends.
	c.origins.Handler(c.mux).ServeHTTP(w, r)
}

// contentSecurityPolicy allows the console's own script and stylesheet and
// nothing inline or foreign; no site may frame it.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// staticHandler serves the embedded assets; they change only with the
// binary, so browsers may keep them for an hour.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

func (c *Console) crossOrigin(w http.ResponseWriter, r *http.Request) {
	c.renderError(w, r, nil, http.StatusForbidden, "This form was sent from another site, so it was refused. Open the console directly and try again.")
}
