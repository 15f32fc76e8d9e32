package api

import (
	"context"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

const securityScheme = "bearer"

// metaErrors keys, in an operation's Metadata, the error statuses the route
// table declares; huma adds 422 for its validation errors, which come out as
// 400 here, so describeProblems drops what was not declared.
const metaErrors = "gitaccess.errors"

// metaSlugs keys, in an operation's Metadata, a map[int][]string of the
// problem types a status carries on that operation, where they differ
// from problemSlugs.
const metaSlugs = "gitaccess.slugs"

// route is one entry of the route table. New registers exactly these, so
// the table is also what tests compare the OpenAPI document against.
type route struct {
	op       huma.Operation
	public   bool
	register func(huma.API, huma.Operation)
}

func publicRoute[I, O any](op huma.Operation, fn func(context.Context, *I) (*O, error)) route {
	return route{op: op, public: true, register: func(a huma.API, op huma.Operation) { huma.Register(a, op, fn) }}
}

// rawRoute serves fn straight from the mux: huma documents the operation
// (op gives its parameters and request body; O is its 200 JSON answer)
// but neither reads, decodes nor validates the request, so fn sees the
// body exactly as sent.
func rawRoute[O any](op huma.Operation, fn http.HandlerFunc) route {
	return route{op: op, public: true, register: func(a huma.API, op huma.Operation) {
		documentErrors(a, &op)
		op.Responses["200"] = &huma.Response{Description: "OK", Content: map[string]*huma.MediaType{
			"application/json": {Schema: a.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[O](), true, "")}}}
		a.OpenAPI().AddOperation(&op)
		a.Adapter().Handle(&op, func(hc huma.Context) {
			r, w := humago.Unwrap(hc)
			fn(w, r)
		})
	}}
}

// documentErrors adds a problem response for each of op's error statuses,
// as huma.Register does for the routes it reads.
func documentErrors(a huma.API, op *huma.Operation) {
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	schema := a.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[Problem](), true, "Problem")
	for _, code := range op.Errors {
		op.Responses[strconv.Itoa(code)] = &huma.Response{Description: http.StatusText(code),
			Content: map[string]*huma.MediaType{"application/problem+json": {Schema: schema}}}
	}
}

// authedRoute runs fn behind authentication with the caller's Principal.
func authedRoute[I, O any](op huma.Operation, fn func(context.Context, access.Principal, *I) (*O, error)) route {
	h := func(ctx context.Context, in *I) (*O, error) {
		p, ok := ctx.Value(principalKey{}).(access.Principal)
		if !ok {
			// Unreachable while authenticate guards every authed route;
			// refusing beats running a use case as nobody.
			return nil, newProblem(http.StatusUnauthorized, slugUnauthenticated, "This endpoint needs an API key.")
		}
		return fn(ctx, p, in)
	}
	return route{op: op, register: func(a huma.API, op huma.Operation) { huma.Register(a, op, h) }}
}

// routes is the route table. Errors lists the statuses an operation
// documents besides 401 and 500, which operation adds.
func (h *handlers) routes(humaAPI huma.API) []route {
	tokens, apikeys, apps := prefix+"/tokens", prefix+"/apikeys", prefix+"/apps"
	repos, credentials := prefix+"/repos", prefix+"/credentials"
	subscriptions, events := prefix+"/subscriptions", prefix+"/events"
	return []route{
		publicRoute(huma.Operation{OperationID: "healthz", Method: http.MethodGet, Path: "/healthz",
			Summary: "Liveness: the process serves HTTP", Tags: []string{"health"}}, h.healthz),
		publicRoute(huma.Operation{OperationID: "readyz", Method: http.MethodGet, Path: "/readyz",
			Summary: "Readiness: the store answers", Tags: []string{"health"},
			Errors: []int{503}}, h.readyz),
		publicRoute(huma.Operation{OperationID: "get-openapi", Method: http.MethodGet, Path: prefix + "/openapi.json",
			Summary: "This OpenAPI 3.1 document", Tags: []string{"meta"},
			Responses: map[string]*huma.Response{"200": {Description: "The OpenAPI document.",
				Content: map[string]*huma.MediaType{"application/openapi+json": {Schema: &huma.Schema{Type: huma.TypeObject}}}}},
		}, serveOpenAPI(humaAPI)),

		authedRoute(huma.Operation{OperationID: "whoami", Method: http.MethodGet, Path: prefix + "/whoami",
			Summary: "The caller's API key, organization and role", Tags: []string{"meta"}}, h.whoami),

		authedRoute(huma.Operation{OperationID: "list-tokens", Method: http.MethodGet, Path: tokens,
			Summary: "List the organization's tokens by name", Tags: []string{"tokens"}, Errors: []int{400, 403}}, h.listTokens),
		authedRoute(huma.Operation{OperationID: "add-token", Method: http.MethodPost, Path: tokens, DefaultStatus: http.StatusCreated,
			Summary:     "Test a token with its provider and save it",
			Description: "Nothing is saved unless the provider accepts the token and it holds the permissions its uses need (or allow_missing is set).",
			Tags:        []string{"tokens"}, Errors: []int{400, 403, 409, 413, 422, 502, 503}}, h.addToken),
		authedRoute(huma.Operation{OperationID: "test-value", Method: http.MethodPost, Path: tokens + "/test",
			Summary: "Inspect a token value with its provider without saving it", Tags: []string{"tokens"}, Errors: []int{400, 403, 413, 422, 502, 503}}, h.testValue),
		authedRoute(huma.Operation{OperationID: "get-token", Method: http.MethodGet, Path: tokens + "/{name}",
			Summary: "One token's metadata and last inspection", Tags: []string{"tokens"}, Errors: []int{403, 404}}, h.getToken),
		authedRoute(huma.Operation{OperationID: "update-token", Method: http.MethodPatch, Path: tokens + "/{name}",
			Summary: "Change a token; a new value or URL is tested first", Tags: []string{"tokens"},
			Errors: []int{400, 403, 404, 409, 413, 422, 502, 503}}, h.updateToken),
		authedRoute(huma.Operation{OperationID: "delete-token", Method: http.MethodDelete, Path: tokens + "/{name}",
			Summary: "Delete a token; confirm must repeat its name", Tags: []string{"tokens"},
			Description: "A token in use (applications it serves, repositories resolved through it in the last 30 days) answers 409 with what uses it, " +
				"unless reassign names a token proven to reach every application (422 missing-permissions lists what it cannot, and nothing moves) or force unbinds them.",
			Errors: []int{400, 403, 404, 409, 422, 502, 503}}, h.deleteToken),
		authedRoute(huma.Operation{OperationID: "get-token-impact", Method: http.MethodGet, Path: tokens + "/{name}/impact",
			Summary: "What uses a token: applications, their webhooks, and repositories resolved through it in the last 30 days", Tags: []string{"tokens"},
			Errors: []int{403, 404}}, h.tokenImpact),
		authedRoute(huma.Operation{OperationID: "rotate-token", Method: http.MethodPost, Path: tokens + "/{name}/rotate",
			Summary: "Replace a token's value after proving it serves every application",
			Description: "With value, the new value is inspected and proven on every application the token serves (repository, branch, webhook); " +
				"if any fails the answer is 422 missing-permissions listing every failure, and nothing changes. " +
				"With provider_rotate (GitLab), GitLab revokes the old value as it issues the new one: the new value is stored, " +
				"and unreachable lists what it cannot serve.",
			Tags: []string{"tokens"}, Errors: []int{400, 403, 404, 409, 413, 422, 502, 503}}, h.rotateToken),
		authedRoute(huma.Operation{OperationID: "test-token", Method: http.MethodPost, Path: tokens + "/{name}/test",
			Summary: "Re-inspect a saved token and record the outcome", Tags: []string{"tokens"},
			Errors: []int{403, 404, 422, 502, 503}}, h.testToken),
		authedRoute(huma.Operation{OperationID: "list-token-repos", Method: http.MethodGet, Path: tokens + "/{name}/repos",
			Summary: "Repositories a token can see, every provider page followed", Tags: []string{"repos"},
			Errors: []int{400, 403, 404, 422, 502, 503}}, h.listTokenRepos),
		authedRoute(huma.Operation{OperationID: "list-branches", Method: http.MethodGet, Path: repos + "/branches",
			Summary: "A repository's branches, read with the token that serves it (or the one named)", Tags: []string{"repos"},
			Errors: []int{400, 403, 404, 422, 502, 503}}, h.listBranches),
		authedRoute(huma.Operation{OperationID: "read-file", Method: http.MethodGet, Path: repos + "/file",
			Summary: "One file of a repository, raw", Tags: []string{"repos"},
			Description: "Answers the file's bytes as application/octet-stream (at most 1 MiB); errors are problems as usual.",
			Responses: map[string]*huma.Response{"200": {Description: "The file's bytes.",
				Content: map[string]*huma.MediaType{"application/octet-stream": {Schema: binarySchema()}}}},
			Errors: []int{400, 403, 404, 422, 502, 503}}, h.readFile),

		authedRoute(huma.Operation{OperationID: "list-apps", Method: http.MethodGet, Path: apps,
			Summary: "List the organization's applications by name", Tags: []string{"apps"}, Errors: []int{400, 403}}, h.listApps),
		authedRoute(huma.Operation{OperationID: "create-app", Method: http.MethodPost, Path: apps, DefaultStatus: http.StatusCreated,
			Summary:     "Bind a repository and branch to a token",
			Description: "The token is the one named, or the one whose URL prefix is the longest match; it must see the repository and the branch, which the provider is asked before anything is saved.",
			Tags:        []string{"apps"}, Errors: []int{400, 403, 404, 409, 413, 422, 502, 503}}, h.createApp),
		authedRoute(huma.Operation{OperationID: "get-app", Method: http.MethodGet, Path: apps + "/{name}",
			Summary: "One application, with the token that serves it and why", Tags: []string{"apps"}, Errors: []int{403, 404}}, h.getApp),
		authedRoute(huma.Operation{OperationID: "update-app", Method: http.MethodPatch, Path: apps + "/{name}",
			Summary: "Change an application; a new repository, branch or token is proven first", Tags: []string{"apps"},
			Errors: []int{400, 403, 404, 409, 413, 422, 502, 503}}, h.updateApp),
		authedRoute(huma.Operation{OperationID: "delete-app", Method: http.MethodDelete, Path: apps + "/{name}",
			Summary:     "Delete an application and its webhook",
			Description: "The webhook is deleted at the provider first; when the provider cannot, the application stays unless force is set.",
			Tags:        []string{"apps"}, Errors: []int{403, 404, 422, 502, 503}}, h.deleteApp),
		authedRoute(huma.Operation{OperationID: "get-app-archive", Method: http.MethodGet, Path: apps + "/{name}/archive",
			Summary: "The application's build context as tar.gz, streamed from the mirror cache", Tags: []string{"apps"},
			Description: "The tree at ref (default: the application's branch), under the application's path. " +
				"X-Gitaccess-Commit names the commit. Errors found before the first byte are problems; " +
				"a failure while streaming cuts the connection, so a truncated archive never looks complete.",
			Responses: map[string]*huma.Response{"200": {Description: "The archive.",
				Content: map[string]*huma.MediaType{"application/gzip": {Schema: binarySchema()}}}},
			Errors: []int{400, 403, 404, 422, 502, 503}}, h.appArchive),

		authedRoute(huma.Operation{OperationID: "check-app-hook", Method: http.MethodPost, Path: apps + "/{name}/hook/check",
			Summary:     "Compare the application's webhook at the provider with what gitaccess installed",
			Description: "state is installed, missing (deleted on the provider's side), altered (drift says how) or error (state_detail says why).",
			Tags:        []string{"hooks"}, Errors: []int{403, 404, 422, 502, 503}}, h.checkHook),
		authedRoute(huma.Operation{OperationID: "repair-app-hook", Method: http.MethodPost, Path: apps + "/{name}/hook/repair",
			Summary: "Restore the application's webhook exactly, with a new secret", Tags: []string{"hooks"},
			Errors: []int{400, 403, 404, 422, 502, 503}}, h.repairHook),
		authedRoute(huma.Operation{OperationID: "list-app-deliveries", Method: http.MethodGet, Path: apps + "/{name}/deliveries",
			Summary: "The application's received webhook deliveries, newest first, with their verdicts", Tags: []string{"hooks"},
			Description: "Why a push did or did not deploy: each delivery's event, verdict (accepted, duplicate, bad-signature, ignored, failed, pending) and detail.",
			Errors:      []int{400, 403, 404}}, h.listDeliveries),
		rawRoute[hookReceipt](huma.Operation{OperationID: "receive-hook", Method: http.MethodPost, Path: "/hooks/{hook_id}",
			Summary: "Receive a provider's webhook delivery (called by GitHub, GitLab, Bitbucket, Gitea)", Tags: []string{"hooks"},
			Description: "No API key: the provider's signature over the raw body (any content type, at most 25 MB) authenticates the delivery. " +
				"It is stored once (a redelivery with the same provider delivery id is a duplicate) before the answer; " +
				"routing to events happens afterwards. A 5xx asks the provider to retry.",
			Parameters: []*huma.Param{{Name: "hook_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString},
				Description: "The hook's id, the last segment of the URL gitaccess installed on the repository."}},
			RequestBody: &huma.RequestBody{Required: true, Description: "The provider's payload, byte for byte, in whatever content type it sends (JSON, or GitHub's application/x-www-form-urlencoded); at most 25 MB.",
				Content: map[string]*huma.MediaType{"*/*": {Schema: binarySchema()}}},
			Metadata: map[string]any{metaSlugs: map[int][]string{http.StatusUnauthorized: {slugBadSignature}, http.StatusBadRequest: {slugInvalidInput}, http.StatusRequestTimeout: {slugTimeout}}},
			Errors:   []int{400, 401, 404, 408, 413}}, h.receiveHook),

		authedRoute(huma.Operation{OperationID: "list-subscriptions", Method: http.MethodGet, Path: subscriptions,
			Summary: "The organization's event subscribers, without their secrets", Tags: []string{"events"}, Errors: []int{403}}, h.listSubscriptions),
		authedRoute(huma.Operation{OperationID: "create-subscription", Method: http.MethodPost, Path: subscriptions, DefaultStatus: http.StatusCreated,
			Summary:     "Add an event subscriber; its signing secret is shown only in this response",
			Description: "Events are sent to url signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) with the whsec_ secret.",
			Tags:        []string{"events"}, Errors: []int{400, 403, 409, 413}}, h.createSubscription),
		authedRoute(huma.Operation{OperationID: "delete-subscription", Method: http.MethodDelete, Path: subscriptions + "/{id}",
			Summary: "Remove an event subscriber", Tags: []string{"events"}, Errors: []int{403, 404}}, h.deleteSubscription),
		authedRoute(huma.Operation{OperationID: "list-events", Method: http.MethodGet, Path: events,
			Summary: "The organization's outgoing events, newest first, with each subscriber's delivery status", Tags: []string{"events"},
			Errors: []int{400, 403}}, h.listEvents),
		authedRoute(huma.Operation{OperationID: "replay-event", Method: http.MethodPost, Path: events + "/{id}/replay", DefaultStatus: http.StatusAccepted,
			Summary: "Send an event again to all its subscribers", Tags: []string{"events"}, Errors: []int{403, 404}}, h.replayEvent),

		authedRoute(huma.Operation{OperationID: "resolve-credential", Method: http.MethodPost, Path: credentials,
			Summary: "The basic-auth pair git needs for a repository (git credential helper get)", Tags: []string{"credentials"},
			Description: "The one response that carries a token value. It is never cached (Cache-Control: no-store) nor logged; " +
				"every resolution is audited with the repository and the token chosen.",
			Errors: []int{400, 403, 404, 413, 422, 502, 503}}, h.resolveCredential),
		authedRoute(huma.Operation{OperationID: "reject-credential", Method: http.MethodPost, Path: credentials + "/reject",
			Summary: "Report a credential git was refused with (git credential helper erase); the token is re-inspected", Tags: []string{"credentials"},
			Errors: []int{400, 403, 404, 413, 422, 502, 503}}, h.rejectCredential),
		authedRoute(huma.Operation{OperationID: "resolve-ca-bundle", Method: http.MethodPost, Path: credentials + "/ca-bundle",
			Summary: "The CA bundle (PEM) git must trust for a repository's host: that of the token that would serve it; no token value", Tags: []string{"credentials"},
			Errors: []int{400, 403, 404, 413, 422}}, h.resolveCABundle),

		authedRoute(huma.Operation{OperationID: "list-orgs", Method: http.MethodGet, Path: prefix + "/orgs",
			Summary: "Organizations the caller can see", Tags: []string{"orgs"}, Errors: []int{403}}, h.listOrgs),
		authedRoute(huma.Operation{OperationID: "create-org", Method: http.MethodPost, Path: prefix + "/orgs", DefaultStatus: http.StatusCreated,
			Summary: "Create an organization and its first Owner key (instance Owners)", Tags: []string{"orgs"}, Errors: []int{400, 403, 409, 413}}, h.createOrg),

		authedRoute(huma.Operation{OperationID: "list-apikeys", Method: http.MethodGet, Path: apikeys,
			Summary: "The organization's API keys, without secrets", Tags: []string{"apikeys"}, Errors: []int{403}}, h.listAPIKeys),
		authedRoute(huma.Operation{OperationID: "create-apikey", Method: http.MethodPost, Path: apikeys, DefaultStatus: http.StatusCreated,
			Summary: "Make an API key; the key string is shown only in this response", Tags: []string{"apikeys"}, Errors: []int{400, 403, 409, 413}}, h.createAPIKey),
		authedRoute(huma.Operation{OperationID: "revoke-apikey", Method: http.MethodDelete, Path: apikeys + "/{id}",
			Summary: "Revoke an API key", Tags: []string{"apikeys"}, Errors: []int{403, 404}}, h.revokeAPIKey),

		authedRoute(huma.Operation{OperationID: "get-status", Method: http.MethodGet, Path: prefix + "/status",
			Summary:     "Token health: tokens by status, those expiring or refused with the applications they break, recent warnings, and the revalidation schedule",
			Description: "Every token is re-inspected on a schedule; crossing 30, 14, 7 and 1 days before expiry, or being refused by the provider, emits token.expiring or token.invalid once.",
			Tags:        []string{"tokens"}, Errors: []int{403, 404}}, h.status),
		authedRoute(huma.Operation{OperationID: "list-audit", Method: http.MethodGet, Path: prefix + "/audit",
			Summary: "The organization's audit records, newest first", Tags: []string{"audit"}, Errors: []int{400, 403}}, h.listAudit),
	}
}

// operation completes a route's operation with what every route shares.
func (h *handlers) operation(r route) huma.Operation {
	op := r.op
	// Huma refuses a body whose length equals its limit, so one more byte
	// lets a body of exactly MaxBodyBytes through.
	op.MaxBodyBytes = MaxBodyBytes + 1
	op.Errors = append(slices.Clone(op.Errors), http.StatusInternalServerError)
	if !r.public {
		op.Errors = append(op.Errors, http.StatusUnauthorized)
		op.Security = []map[string][]string{{securityScheme: {}}}
		op.Middlewares = append(slices.Clone(op.Middlewares), h.authenticate)
	}
	slices.Sort(op.Errors)
	op.Errors = slices.Compact(op.Errors)
	meta := maps.Clone(op.Metadata)
	if meta == nil {
		meta = map[string]any{}
	}
	meta[metaErrors] = slices.Clone(op.Errors)
	op.Metadata = meta
	return op
}

type principalKey struct{}

// authenticate resolves the bearer key to a Principal. The header is read
// here and nowhere else, and never logged.
func (h *handlers) authenticate(ctx huma.Context, next func(huma.Context)) {
	_, w := humago.Unwrap(ctx)
	ri := infoFrom(ctx.Context())
	key, ok := bearerKey(ctx.Header("Authorization"))
	if !ok {
		p := newProblem(http.StatusUnauthorized, slugUnauthenticated, "This endpoint needs an API key: send it as Authorization: Bearer <key>.")
		p.RequestID = ri.id
		writeProblem(w, p)
		return
	}
	pr, err := h.svc.Authenticate(ctx.Context(), key)
	if err != nil {
		p := h.fail(ctx.Context(), err)
		if p.Status == http.StatusUnauthorized {
			// One answer for unknown, malformed and revoked keys.
			p = newProblem(http.StatusUnauthorized, slugUnauthenticated, "The API key is not valid: it is unknown, malformed or revoked. Send a current key as Authorization: Bearer <key>.")
			p.RequestID = ri.id
		}
		writeProblem(w, p)
		return
	}
	ri.keyID = pr.KeyID
	next(huma.WithValue(ctx, principalKey{}, pr))
}

func bearerKey(header string) (secret.Value, bool) {
	scheme, key, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return secret.Value{}, false
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return secret.Value{}, false
	}
	return secret.New(key), true
}

// Inputs and outputs. Request bodies are the access package's input types;
// huma refuses unknown fields, so a misspelt option fails loudly instead of
// being ignored.

type statusBody struct {
	Status string `json:"status" enum:"ok,ready"`
}

type statusOutput struct{ Body statusBody }

type rawOutput struct {
	ContentType string `header:"Content-Type" hidden:"true"`
	Body        []byte
}

type principalOutput struct{ Body access.Principal }

type pageInput struct {
	Cursor string `query:"cursor" doc:"next_cursor from the previous page; empty for the first page."`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Items per page."`
}

type tokenList struct {
	Items      []access.TokenView `json:"items"`
	NextCursor string             `json:"next_cursor" doc:"Cursor for the next page; empty on the last page."`
}

type tokenListOutput struct{ Body tokenList }

type addTokenInput struct{ Body access.AddTokenInput }

type tokenResultOutput struct{ Body access.TokenResult }

type testValueInput struct{ Body access.TestValueInput }

type reportOutput struct{ Body forge.Report }

type tokenNameInput struct {
	Name string `path:"name" doc:"The token's name."`
}

type tokenOutput struct{ Body access.TokenView }

type updateTokenInput struct {
	Name string `path:"name" doc:"The token's current name."`
	Body access.UpdateTokenInput
}

type orgList struct {
	Items []access.OrgView `json:"items"`
}

type orgListOutput struct{ Body orgList }

type createOrgBody struct {
	Name string `json:"name" doc:"The new organization's name."`
}

type createOrgInput struct{ Body createOrgBody }

// createdAPIKey is the one response that carries a key string.
type createdAPIKey struct {
	access.APIKeyView
	Org string `json:"org"`
	Key string `json:"key" doc:"The API key. It is shown only in this response: store it now."`
}

func revealKey(k access.NewAPIKey) createdAPIKey {
	return createdAPIKey{APIKeyView: k.APIKeyView, Org: k.Org, Key: k.Key.Reveal()}
}

type createdOrg struct {
	Org    access.OrgView `json:"org"`
	APIKey createdAPIKey  `json:"api_key"`
}

type createdOrgOutput struct{ Body createdOrg }

type apiKeyList struct {
	Items []access.APIKeyView `json:"items"`
}

type apiKeyListOutput struct{ Body apiKeyList }

type createAPIKeyBody struct {
	Name string     `json:"name" doc:"What the key is for, e.g. ci-deploy."`
	Role store.Role `json:"role" enum:"owner,admin,devops,member,builder" doc:"At most the caller's own role; builder keys only clone and fetch archives."`
}

type createAPIKeyInput struct{ Body createAPIKeyBody }

type createdAPIKeyOutput struct{ Body createdAPIKey }

type apiKeyIDInput struct {
	ID string `path:"id" doc:"The key's id."`
}

type auditList struct {
	Items      []access.AuditView `json:"items"`
	NextCursor string             `json:"next_cursor" doc:"Cursor for the next page; empty on the last page."`
}

type auditListOutput struct{ Body auditList }

// Handlers.

func (h *handlers) healthz(context.Context, *struct{}) (*statusOutput, error) {
	return &statusOutput{Body: statusBody{Status: "ok"}}, nil
}

func (h *handlers) readyz(ctx context.Context, _ *struct{}) (*statusOutput, error) {
	if err := h.svc.Ready(ctx); err != nil {
		ri := infoFrom(ctx)
		h.log.WarnContext(ctx, "not ready", "request_id", ri.id, "error", err)
		p := newProblem(http.StatusServiceUnavailable, slugNotReady, "gitaccess cannot reach its database; try again shortly, or ask the operator to check the server log.")
		p.RequestID = ri.id
		return nil, p
	}
	return &statusOutput{Body: statusBody{Status: "ready"}}, nil
}

func (h *handlers) whoami(_ context.Context, p access.Principal, _ *struct{}) (*principalOutput, error) {
	return &principalOutput{Body: p}, nil
}

func (h *handlers) listTokens(ctx context.Context, p access.Principal, in *pageInput) (*tokenListOutput, error) {
	items, next, err := h.svc.ListTokens(ctx, p, store.Page{After: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &tokenListOutput{Body: tokenList{Items: nonNil(items), NextCursor: next}}, nil
}

func (h *handlers) addToken(ctx context.Context, p access.Principal, in *addTokenInput) (*tokenResultOutput, error) {
	res, err := h.svc.AddToken(ctx, p, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &tokenResultOutput{Body: res}, nil
}

func (h *handlers) testValue(ctx context.Context, p access.Principal, in *testValueInput) (*reportOutput, error) {
	rep, err := h.svc.TestValue(ctx, p, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &reportOutput{Body: rep}, nil
}

func (h *handlers) getToken(ctx context.Context, p access.Principal, in *tokenNameInput) (*tokenOutput, error) {
	v, err := h.svc.GetToken(ctx, p, in.Name)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &tokenOutput{Body: v}, nil
}

func (h *handlers) updateToken(ctx context.Context, p access.Principal, in *updateTokenInput) (*tokenResultOutput, error) {
	res, err := h.svc.UpdateToken(ctx, p, in.Name, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &tokenResultOutput{Body: res}, nil
}

func (h *handlers) testToken(ctx context.Context, p access.Principal, in *tokenNameInput) (*tokenResultOutput, error) {
	res, err := h.svc.TestToken(ctx, p, in.Name)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &tokenResultOutput{Body: res}, nil
}

func (h *handlers) listOrgs(ctx context.Context, p access.Principal, _ *struct{}) (*orgListOutput, error) {
	orgs, err := h.svc.ListOrgs(ctx, p)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &orgListOutput{Body: orgList{Items: nonNil(orgs)}}, nil
}

func (h *handlers) createOrg(ctx context.Context, p access.Principal, in *createOrgInput) (*createdOrgOutput, error) {
	org, key, err := h.svc.CreateOrg(ctx, p, in.Body.Name)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &createdOrgOutput{Body: createdOrg{Org: org, APIKey: revealKey(key)}}, nil
}

func (h *handlers) listAPIKeys(ctx context.Context, p access.Principal, _ *struct{}) (*apiKeyListOutput, error) {
	keys, err := h.svc.ListAPIKeys(ctx, p)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &apiKeyListOutput{Body: apiKeyList{Items: nonNil(keys)}}, nil
}

func (h *handlers) createAPIKey(ctx context.Context, p access.Principal, in *createAPIKeyInput) (*createdAPIKeyOutput, error) {
	key, err := h.svc.CreateAPIKey(ctx, p, in.Body.Name, in.Body.Role)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &createdAPIKeyOutput{Body: revealKey(key)}, nil
}

func (h *handlers) revokeAPIKey(ctx context.Context, p access.Principal, in *apiKeyIDInput) (*struct{}, error) {
	if err := h.svc.RevokeAPIKey(ctx, p, in.ID); err != nil {
		return nil, h.fail(ctx, err)
	}
	return &struct{}{}, nil
}

func (h *handlers) listAudit(ctx context.Context, p access.Principal, in *pageInput) (*auditListOutput, error) {
	recs, next, err := h.svc.ListAudit(ctx, p, store.Page{After: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &auditListOutput{Body: auditList{Items: nonNil(recs), NextCursor: next}}, nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
