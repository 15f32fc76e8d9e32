// Package api is gitaccess's REST API: huma operations over a net/http
// ServeMux, the OpenAPI document generated from them, bearer-key
// authentication, and RFC 9457 problem responses for every error. It holds no
// business rules: authorization and validation of meaning live in
// internal/access; this package translates HTTP to use cases and back.
package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/accesslog"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/webhook"
)

// Service is what the API needs from the use cases; *access.Service
// satisfies it, and tests can stand in a fake.
type Service interface {
	Ready(ctx context.Context) error
	Authenticate(ctx context.Context, rawKey secret.Value) (access.Principal, error)

	AddToken(ctx context.Context, p access.Principal, in access.AddTokenInput) (access.TokenResult, error)
	TestValue(ctx context.Context, p access.Principal, in access.TestValueInput) (forge.Report, error)
	TestToken(ctx context.Context, p access.Principal, name string) (access.TokenResult, error)
	ListTokens(ctx context.Context, p access.Principal, page store.Page) ([]access.TokenView, string, error)
	GetToken(ctx context.Context, p access.Principal, name string) (access.TokenView, error)
	UpdateToken(ctx context.Context, p access.Principal, name string, in access.UpdateTokenInput) (access.TokenResult, error)
	DeleteToken(ctx context.Context, p access.Principal, name string, in access.DeleteTokenInput) (access.DeleteTokenResult, error)
	TokenImpact(ctx context.Context, p access.Principal, name string) (access.TokenImpact, error)
	RotateToken(ctx context.Context, p access.Principal, name string, in access.RotateTokenInput) (access.RotateResult, error)
	Status(ctx context.Context, p access.Principal) (access.StatusView, error)

	CreateOrg(ctx context.Context, p access.Principal, name string) (access.OrgView, access.NewAPIKey, error)
	ListOrgs(ctx context.Context, p access.Principal) ([]access.OrgView, error)

	CreateAPIKey(ctx context.Context, p access.Principal, name string, role store.Role) (access.NewAPIKey, error)
	ListAPIKeys(ctx context.Context, p access.Principal) ([]access.APIKeyView, error)
	RevokeAPIKey(ctx context.Context, p access.Principal, id string) error

	ListAudit(ctx context.Context, p access.Principal, page store.Page) ([]access.AuditView, string, error)

	CreateApp(ctx context.Context, p access.Principal, in access.AppInput) (access.AppView, error)
	GetApp(ctx context.Context, p access.Principal, name string) (access.AppView, error)
	ListApps(ctx context.Context, p access.Principal, page store.Page) ([]access.AppView, string, error)
	UpdateApp(ctx context.Context, p access.Principal, name string, in access.AppUpdate) (access.AppView, error)
	DeleteApp(ctx context.Context, p access.Principal, name string, force bool) error
	PrepareArchive(ctx context.Context, p access.Principal, app, ref string) (access.Archive, error)

	ListRepos(ctx context.Context, p access.Principal, tokenName, search string) ([]forge.Repo, error)
	ListBranches(ctx context.Context, p access.Principal, repoURL, tokenName string) ([]forge.Branch, error)
	ReadFile(ctx context.Context, p access.Principal, repoURL, path, ref, tokenName string) ([]byte, error)

	ResolveCredential(ctx context.Context, p access.Principal, req access.CredentialRequest) (access.Credential, error)
	RejectCredential(ctx context.Context, p access.Principal, req access.CredentialRequest) (access.RejectResult, error)
	ResolveCABundle(ctx context.Context, p access.Principal, req access.CredentialRequest) (access.CABundle, error)

	CheckHook(ctx context.Context, p access.Principal, app string) (access.HookView, error)
	RepairHook(ctx context.Context, p access.Principal, app string) (access.HookView, error)
	ListDeliveries(ctx context.Context, p access.Principal, app string, page store.Page) ([]access.DeliveryView, string, error)

	CreateSubscription(ctx context.Context, p access.Principal, in access.SubscriptionInput) (access.NewSubscription, error)
	ListSubscriptions(ctx context.Context, p access.Principal) ([]access.SubscriptionView, error)
	DeleteSubscription(ctx context.Context, p access.Principal, id string) error
	ListEvents(ctx context.Context, p access.Principal, page store.Page) ([]access.EventView, string, error)
	ReplayEvent(ctx context.Context, p access.Principal, id string) error
}

var _ Service = (*access.Service)(nil)

// Webhooks receives provider deliveries on POST /hooks/{hook_id};
// *webhook.Service satisfies it. Receive verifies the signature over the
// raw body and stores the delivery; it does nothing slower.
type Webhooks interface {
	Receive(ctx context.Context, hookID string, header http.Header, body []byte) (webhook.Receipt, error)
}

var _ Webhooks = (*webhook.Service)(nil)

// Config assembles the API handler.
type Config struct {
	Service Service
	// Webhooks receives provider deliveries; nil answers 404 for every
	// hook.
	Webhooks Webhooks
	// Logger receives the access log and the causes of internal errors.
	Logger *slog.Logger
	// Version is shown in the OpenAPI document's info.
	Version string
	// Now is the clock behind Retry-After; nil means time.Now.
	Now func() time.Time
}

// MaxBodyBytes caps request bodies: generous for a CA bundle, small enough
// that a client cannot make the server buffer much.
const MaxBodyBytes = 1 << 20

// prefix is where the versioned API lives; responses under it are never
// cached, since they describe credentials.
const prefix = "/api/v1"

type handlers struct {
	svc   Service
	hooks Webhooks
	log   *slog.Logger
	now   func() time.Time
}

// New returns the API as an http.Handler.
func New(cfg Config) http.Handler {
	h := &handlers{svc: cfg.Service, hooks: cfg.Webhooks, log: cfg.Logger, now: cfg.Now}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	mux := http.NewServeMux()
	humaAPI := newHumaAPI(mux, cfg.Version)
	for _, r := range h.routes(humaAPI) {
		r.register(humaAPI, h.operation(r))
	}
	describeProblems(humaAPI.OpenAPI())
	return &server{h: h, mux: mux}
}

func newHumaAPI(mux *http.ServeMux, version string) huma.API {
	if version == "" {
		version = "dev"
	}
	hc := huma.DefaultConfig("gitaccess", version)
	hc.Info.Description = "Git provider tokens for an organization: test, save, rotate and delete them; bind applications to them; " +
		"browse repositories; hand git a credential; stream build contexts; receive provider webhooks and send events to subscribers; manage API keys. " +
		"Errors are application/problem+json (RFC 9457) with type urn:gitaccess:problem:<slug>."
	// Every route is listed in the route table; huma's own spec, docs and
	// schema routes would be undocumented extras, and its schema-link
	// transformer would add a $schema member to every body.
	hc.OpenAPIPath, hc.DocsPath, hc.SchemasPath = "", "", ""
	hc.CreateHooks = nil
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {Type: "http", Scheme: "bearer", Description: "An API key: Authorization: Bearer <key>."},
	}
	// secret.Value carries no huma knowledge; here it is documented as a
	// write-only password string and validated as a string.
	hc.Components.Schemas.RegisterTypeAlias(reflect.TypeFor[secret.Value](), reflect.TypeFor[passwordString]())
	return humago.New(mux, hc)
}

// passwordString is secret.Value's schema stand-in.
type passwordString string

// Schema implements huma.SchemaProvider.
func (passwordString) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeString, Format: "password", WriteOnly: true}
}

// serveOpenAPI answers with the generated document, marshalled once: it does
// not change after New.
func serveOpenAPI(humaAPI huma.API) func(context.Context, *struct{}) (*rawOutput, error) {
	doc := sync.OnceValues(func() ([]byte, error) { return json.Marshal(humaAPI.OpenAPI()) })
	return func(context.Context, *struct{}) (*rawOutput, error) {
		b, err := doc()
		if err != nil {
			return nil, fmt.Errorf("marshal OpenAPI document: %w", err)
		}
		return &rawOutput{ContentType: "application/openapi+json", Body: b}, nil
	}
}

// requestInfo is per-request state shared between the outer handler (access
// log), authentication and error mapping. It lives and dies on one goroutine.
type requestInfo struct {
	id    string
	log   *slog.Logger
	keyID string
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{log: slog.Default()}
}

// server wraps the mux with what every response needs: security headers, a
// request id, panic recovery, problem bodies for the mux's own 404 and 405,
// and the access log.
type server struct {
	h   *handlers
	mux *http.ServeMux
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := &requestInfo{id: rand.Text(), log: s.h.log}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))

	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Request-Id", ri.id)
	if r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, prefix+"/") {
		hdr.Set("Cache-Control", "no-store")
	}
	sw := accesslog.NewRecorder(w)

	defer func() {
		v := recover()
		// ErrAbortHandler is a deliberate cut (a stream that failed half
		// way): logged as such, then passed on for net/http to close the
		// connection.
		aborted := v == http.ErrAbortHandler
		if v != nil && !aborted {
			s.h.log.ErrorContext(r.Context(), "panic serving request",
				"request_id", ri.id, "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !sw.Written() {
				writeProblem(sw, internalProblem(ri.id))
			}
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.Status(),
			"duration", time.Since(start), "key_id", ri.keyID, "request_id", ri.id}
		if aborted {
			attrs = append(attrs, "aborted", true)
		}
		s.h.log.InfoContext(r.Context(), "http request", attrs...)
		if aborted {
			panic(v)
		}
	}()

	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unrouted(sw, r, ri.id)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// unrouted answers what the mux would answer in text/plain (404, 405) as a
// problem; anything else it does (redirects to a cleaned path) passes as is.
func (s *server) unrouted(w http.ResponseWriter, r *http.Request, requestID string) {
	rec := &headerRecorder{header: http.Header{}}
	s.mux.ServeHTTP(rec, r)
	var p *Problem
	switch rec.status {
	case http.StatusNotFound:
		p = newProblem(http.StatusNotFound, slugNotFound, "There is no endpoint at "+r.URL.Path+"; the API is described at "+prefix+"/openapi.json.")
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		p = newProblem(http.StatusMethodNotAllowed, slugMethodNotAllowed, r.URL.Path+" does not accept "+r.Method+"; it accepts "+allow+".")
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		return
	}
	p.RequestID = requestID
	writeProblem(w, p)
}

// headerRecorder keeps the status and headers the mux would send and drops
// its plain-text body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
func (h *headerRecorder) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}
