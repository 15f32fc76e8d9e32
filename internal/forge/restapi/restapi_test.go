package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	tokenValue = "tok_3f9a8c2e1d"
	hookValue  = "hooksecret_77ab"
)

// testClient speaks to a server that answers with handler, reading error
// bodies as {"message": ..., "errors": [...], "required": [...]}.
func testClient(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	return &Client{
		HTTP: srv.Client(), Provider: forge.Gitea, Host: strings.TrimPrefix(srv.URL, "http://"),
		Scheme: "token", Token: secret.New(tokenValue), Scrub: []secret.Value{secret.New(hookValue)},
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
		ReadError: func(raw []byte, status int) Refusal {
			var r struct {
				Message  string   `json:"message"`
				Errors   []string `json:"errors"`
				Required []string `json:"required"`
			}
			_ = json.Unmarshal(raw, &r)
			return Refusal{Message: r.Message, Errors: r.Errors, Required: r.Required}
		},
	}
}

func TestSendSortsRefusals(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		check  func(t *testing.T, err error)
	}{
		{"401", 401, nil, `{"message":"token is required"}`, func(t *testing.T, err error) {
			var ae *forge.AuthError
			if !errors.As(err, &ae) || ae.Status != 401 || ae.Message != "token is required" || ae.Provider != forge.Gitea {
				t.Errorf("%#v, want an AuthError", err)
			}
		}},
		{"429", 429, http.Header{"Retry-After": {"120"}}, `{"message":"slow down"}`, func(t *testing.T, err error) {
			var rl *forge.RateLimitedError
			if !errors.As(err, &rl) || !rl.Reset.Equal(time.Date(2026, 11, 22, 3, 2, 0, 0, time.UTC)) {
				t.Errorf("%#v, want a RateLimitedError resetting in two minutes", err)
			}
		}},
		{"503", 503, nil, `{"message":"down"}`, func(t *testing.T, err error) {
			var pe *forge.ProviderError
			if !errors.As(err, &pe) || pe.Status != 503 || pe.Message != "down" {
				t.Errorf("%#v, want a ProviderError 503", err)
			}
		}},
		{"403 scope", 403, http.Header{"X-Credential-Type": {"repo_access_token"}}, `{"message":"no","required":["webhook"]}`, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || !se.ScopeRefusal() || se.Header.Get("X-Credential-Type") != "repo_access_token" {
				t.Fatalf("%#v, want a scope StatusError keeping its headers", err)
			}
			if d := cmp.Diff([]string{"webhook"}, se.Required); d != "" {
				t.Errorf("required (-want +got):\n%s", d)
			}
		}},
		{"403 role", 403, nil, `{"message":"user should be an owner"}`, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.ScopeRefusal() || se.Status != 403 {
				t.Errorf("%#v, want a StatusError that is no scope refusal", err)
			}
		}},
		{"404 echoing secrets", 404, nil,
			`{"message":"no hook with secret ` + hookValue + ` for ` + tokenValue + `","errors":["token ` + tokenValue + `"]}`,
			func(t *testing.T, err error) {
				var se *StatusError
				if !errors.As(err, &se) || se.Status != 404 || len(se.Errors) != 1 {
					t.Fatalf("%#v, want a StatusError 404 with one cause", err)
				}
				for _, s := range append([]string{se.Message, err.Error()}, se.Errors...) {
					if strings.Contains(s, tokenValue) || strings.Contains(s, hookValue) {
						t.Errorf("a secret is echoed: %q", s)
					}
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testClient(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			_, err := c.Do(context.Background(), http.MethodGet, "http://"+c.Host+"/x", nil)
			if err == nil {
				t.Fatal("no error")
			}
			tc.check(t, err)
		})
	}
}

func TestDoSendsTokenAndJSON(t *testing.T) {
	var got http.Header
	var body string
	c := testClient(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("X-Total-Count", "1")
		_, _ = io.WriteString(w, `[1]`)
	})
	a, err := c.Do(context.Background(), http.MethodPost, "http://"+c.Host+"/x", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("Authorization") != "token "+tokenValue || got.Get("Content-Type") != "application/json" ||
		got.Get("Accept") != "application/json" || body != `{"a":1}` {
		t.Errorf("request headers %v body %q", got, body)
	}
	if a.Status != 200 || string(a.Body) != "[1]" || a.Header.Get("X-Total-Count") != "1" || c.Requests != 1 {
		t.Errorf("answer %+v after %d requests", a, c.Requests)
	}
}

// TestFetchLimit: a body over the limit is refused whether or not the
// server announced its length, never truncated.
func TestFetchLimit(t *testing.T) {
	for _, announce := range []bool{true, false} {
		t.Run(fmt.Sprint("content-length ", announce), func(t *testing.T) {
			c := testClient(t, func(w http.ResponseWriter, r *http.Request) {
				if announce {
					w.Header().Set("Content-Length", "11")
				} else {
					w.(http.Flusher).Flush() // chunked: no length
				}
				_, _ = io.WriteString(w, "hello world")
			})
			_, err := c.Fetch(context.Background(), http.MethodGet, "http://"+c.Host+"/f", nil, "*/*", 10)
			var tl *TooLargeError
			if !errors.As(err, &tl) || tl.Limit != 10 {
				t.Errorf("%v, want TooLargeError", err)
			}
			a, err := c.Fetch(context.Background(), http.MethodGet, "http://"+c.Host+"/f", nil, "*/*", 11)
			if err != nil || string(a.Body) != "hello world" {
				t.Errorf("at the limit: %v %v", a, err)
			}
		})
	}
}

func TestProviderError(t *testing.T) {
	c := &Client{Provider: forge.Bitbucket, Host: "api.bitbucket.org"}
	se := &StatusError{Provider: forge.Bitbucket, Status: 400, Message: "Invalid pagelen"}
	for what, want := range map[string]string{"": "Invalid pagelen", "GET /x": "GET /x: Invalid pagelen"} {
		var pe *forge.ProviderError
		if err := c.ProviderError(what, fmt.Errorf("wrapped: %w", se)); !errors.As(err, &pe) || pe.Status != 400 || pe.Message != want {
			t.Errorf("ProviderError(%q) = %#v, want message %q", what, err, want)
		}
	}
	other := errors.New("other")
	if err := c.ProviderError("x", other); err != other {
		t.Errorf("a non-refusal changed: %v", err)
	}
}

func TestJoinPath(t *testing.T) {
	got := JoinPath("https://h/api/v1/", "repos", "o", "a b/../c?d")
	if want := "https://h/api/v1/repos/o/a%20b%2F..%2Fc%3Fd"; got != want {
		t.Errorf("JoinPath = %q, want %q", got, want)
	}
}

func TestHasRel(t *testing.T) {
	for link, want := range map[string]bool{
		`<https://h/x?page=2>; rel="next", <https://h/x?page=9>; rel="last"`: true,
		`<https://h/x?page=1>; rel="first prev"`:                             false,
		`<https://h/x?page=2>; REL=NEXT`:                                     true,
		`<https://h/x?rel=next>`:                                             false,
		``:                                                                   false,
	} {
		if got := HasRel(link, "next"); got != want {
			t.Errorf("HasRel(%q) = %v, want %v", link, got, want)
		}
	}
}
