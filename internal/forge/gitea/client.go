package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/restapi"
)

const (
	// pageLimit is asked of every list: Gitea's default MAX_RESPONSE_ITEMS
	// (50). A server configured lower answers fewer; its Link and
	// X-Total-Count headers still say whether more remain.
	pageLimit = 50
	// maxPages bounds a list so a server that never stops naming a next
	// page cannot keep gitaccess asking: 100,000 items.
	maxPages = 2000
)

// client speaks to one Gitea API root as one access token. It lives for one
// operation, so it can count the requests that operation made (Requests).
// Scrub holds other secrets a refusal must not echo (a hook secret).
type client struct {
	restapi.Client
	base string // https://host[/sub]/api/v1, no trailing slash
}

// answer and statusError are the shared client's; tooLargeError is its
// *restapi.TooLargeError.
type (
	answer        = restapi.Answer
	statusError   = restapi.StatusError
	tooLargeError = restapi.TooLargeError
)

// connect builds a client for a credential: it resolves the endpoint again
// (there is no default Gitea, so a credential without a URL is refused),
// checks it against the egress policy and refuses an empty token before any
// request.
func (f *Forge) connect(cred forge.Credential) (*client, error) {
	if cred.Endpoint.Provider != "" && cred.Endpoint.Provider != Provider {
		return nil, &forge.InvalidInputError{Field: "provider", Reason: fmt.Sprintf("this credential is for %s, not Gitea", forge.Title(cred.Endpoint.Provider))}
	}
	raw := cred.Endpoint.WebURL
	if raw == "" {
		raw = cred.Endpoint.APIURL
	}
	ep, err := f.ResolveEndpoint(raw, "")
	if err != nil {
		return nil, err
	}
	if cred.Token.IsZero() {
		return nil, &forge.InvalidInputError{Field: "token", Reason: "the token is empty; paste the access token Gitea showed when it was created"}
	}
	u, err := url.Parse(ep.APIURL)
	if err != nil {
		return nil, &forge.InvalidInputError{Field: "url", Reason: "the Gitea API URL is not a URL"}
	}
	hc, err := f.policy.Client(cred.Endpoint.CABundle)
	if err != nil {
		return nil, &forge.InvalidInputError{Field: "ca_file", Reason: err.Error()}
	}
	hc.Transport = f.wrap.Wrap(forge.Gitea, cred, hc.Transport)
	// The token goes in the Authorization header only, as "token <value>"
	// (Gitea's AuthorizationHeaderToken security definition).
	return &client{Client: restapi.Client{HTTP: hc, Provider: Provider, Host: u.Host, Scheme: "token", Token: cred.Token,
		Log: f.logger, Now: f.now, ReadError: readError}, base: ep.APIURL}, nil
}

// path joins escaped segments onto the API root.
func (c *client) path(segments ...string) string { return restapi.JoinPath(c.base, segments...) }

// subPath escapes a slash-separated name (a branch or a file path) segment
// by segment, keeping its slashes: Gitea routes /branches/* and /raw/* take
// the rest of the path.
func subPath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// do sends one request with an optional JSON body and reads the whole 2xx
// answer (bounded by the egress policy).
func (c *client) do(ctx context.Context, method, rawURL string, body any) (*answer, error) {
	return c.fetch(ctx, method, rawURL, body, "application/json", -1)
}

// fetch sends one request and reads a 2xx answer; with limit >= 0 a longer
// answer is a *tooLargeError, never a truncation. Everything else is sorted
// by restapi.Client.Send.
func (c *client) fetch(ctx context.Context, method, rawURL string, body any, accept string, limit int64) (*answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("gitea: encoding the %s body: %w", method, err)
		}
		rd = bytes.NewReader(b)
	}
	return c.Fetch(ctx, method, rawURL, rd, accept, limit)
}

// readError reads a refusal: Gitea's words, its "errors" list on a 404
// ("branch does not exist [name: x]"; empty when the route itself found
// nothing), and on a 403 the scopes it says the token lacks.
func readError(raw []byte, status int) restapi.Refusal {
	msg, errs := errorMessage(raw, status)
	r := restapi.Refusal{Message: msg, Errors: errs}
	if status == http.StatusForbidden {
		r.Required = requiredScopes(msg)
	}
	return r
}

// apiError is Gitea's error body (services/context/api.go APIError, and
// NotFound's extra "errors" list).
type apiError struct {
	Message string   `json:"message"`
	URL     string   `json:"url"`
	Errors  []string `json:"errors"`
}

// errorMessage reads Gitea's words from an error body; a body that is not
// Gitea's JSON (a proxy's page) is kept as one short line.
func errorMessage(raw []byte, status int) (string, []string) {
	var e apiError
	msg := ""
	if json.Unmarshal(raw, &e) == nil {
		msg = oneLine(e.Message)
		if len(e.Errors) > 0 && msg != "" {
			msg += " (" + oneLine(strings.Join(e.Errors, "; ")) + ")"
		}
	} else {
		msg = oneLine(string(raw))
	}
	if msg == "" {
		msg = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	return msg, e.Errors
}

// oneLine trims provider text to one short line for an error message.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// scopeList matches the scopes in Gitea's refusal, "token does not have at
// least one of required scope(s): [read:user]" (Go's %v of a slice), and
// the later "required=[read:user], token scope=..." form.
var scopeList = regexp.MustCompile(`required scope\(s\)[^\[]*\[([^\]]*)\]`)

// requiredScopes reads the scopes a 403 names; nil when the refusal is
// about something else (the user's role, public-only tokens...).
func requiredScopes(msg string) []string {
	m := scopeList.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	var out []string
	for _, s := range strings.Fields(strings.ReplaceAll(m[1], ",", " ")) {
		if strings.Contains(s, ":") {
			out = append(out, s)
		}
	}
	return out
}

// decode unmarshals a 2xx body, naming the request when it cannot: an HTML
// page here means the URL is not Gitea's root.
func (c *client) decode(a *answer, what string, v any) error {
	if err := json.Unmarshal(a.Body, v); err != nil {
		return &forge.ProviderError{Provider: Provider, Host: c.Host,
			Message: what + " did not answer Gitea API JSON; check that the URL is the address of Gitea or Forgejo itself"}
	}
	return nil
}

// list GETs every page of a collection. Gitea pages with page and limit
// (1-based; routers/api/v1/utils.GetListOptions) and says whether more
// remain with a Link header (rel="next") and X-Total-Count
// (services/context/api.go SetLinkHeader, SetTotalCountHeader); some lists
// (hooks) send only the count. The Link URLs are built from Gitea's
// configured ROOT_URL, which behind a proxy may name another scheme or
// host, so they are never followed: the next page is asked of this
// client's own root. A list with neither header was not paged.
func list[T any](ctx context.Context, c *client, what, rawPath string) ([]T, error) {
	var out []T
	for page := 1; ; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(pageLimit)}}
		a, err := c.do(ctx, http.MethodGet, rawPath+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var items []T
		if err := c.decode(a, what, &items); err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(items) == 0 || !morePages(a.Header, len(out)) {
			return out, nil
		}
		if page == maxPages {
			return nil, &forge.ProviderError{Provider: Provider, Host: c.Host,
				Message: fmt.Sprintf("%s: still more after %d pages; gitaccess stops there", what, maxPages)}
		}
	}
}

// morePages reads whether a list continues after seen items.
func morePages(h http.Header, seen int) bool {
	if links := h.Values("Link"); len(links) > 0 {
		for _, l := range links {
			if restapi.HasRel(l, "next") {
				return true
			}
		}
		return false
	}
	if total, err := strconv.Atoi(strings.TrimSpace(h.Get("X-Total-Count"))); err == nil {
		return seen < total
	}
	return false
}

// providerError turns a refusal nobody branched on into the forge error.
func (c *client) providerError(what string, err error) error { return c.ProviderError(what, err) }
