// Package credhelper is gitaccess's git credential helper: it reads git's
// request (git help credential), asks the server for the token that serves
// the repository (POST /api/v1/credentials), and answers git; on "erase"
// it reports the refusal (POST /api/v1/credentials/reject) and says what
// the server made of it.
//
// Both `gitaccess credential` and the lean git-credential-gitaccess
// program run it. It links only the standard library and small internal
// packages (no cobra, no server), because git starts a helper for every
// clone, fetch and submodule, and a helper's start-up is paid each time.
package credhelper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/gitaccess/gitaccess/internal/client/wire"
	"github.com/gitaccess/gitaccess/internal/gitx/credproto"
	"github.com/gitaccess/gitaccess/internal/login"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Request asks for the credential of one repository; it is the body of
// POST /api/v1/credentials and /credentials/reject (access.CredentialRequest).
type Request struct {
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	Path     string `json:"path"`
	// App, when set, makes its bound token serve its own repository.
	App string `json:"app,omitempty"`
}

// Credential is the basic-auth pair git needs (access.Credential).
type Credential struct {
	Username string
	// Password is the token value: hand it to git only.
	Password secret.Value
	Token    string
	Reason   string
}

// RejectResult is what revalidating a refused token found
// (access.RejectResult).
type RejectResult struct {
	Token  string `json:"token"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// StatusInvalid is the status of a token its provider refuses
// (access.StatusInvalid).
const StatusInvalid = "invalid"

// credentialWire is how a credential arrives; Credential does not decode
// its password from JSON.
type credentialWire struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Token    string `json:"token"`
	Reason   string `json:"reason"`
}

// Resolve asks the server for the basic-auth pair git needs for a
// repository.
func Resolve(ctx context.Context, c *wire.Conn, req Request) (Credential, error) {
	var w credentialWire
	if err := c.Do(ctx, http.MethodPost, "/api/v1/credentials", nil, req, &w); err != nil {
		return Credential{}, err
	}
	if w.Username == "" || w.Password == "" {
		return Credential{}, errors.New("POST /api/v1/credentials: server returned no credential")
	}
	return Credential{Username: w.Username, Password: secret.New(w.Password), Token: w.Token, Reason: w.Reason}, nil
}

// Reject reports that git was refused with the credential resolved for
// req; the server re-inspects the token.
func Reject(ctx context.Context, c *wire.Conn, req Request) (RejectResult, error) {
	var out RejectResult
	err := c.Do(ctx, http.MethodPost, "/api/v1/credentials/reject", nil, req, &out)
	return out, err
}

// Options are the helper's connections to the world.
type Options struct {
	Stdin  io.Reader
	Stdout io.Writer
	// Stderr gets one line when the helper cannot answer, for the person
	// reading git's output.
	Stderr io.Writer
	// Login finds the server and the API key.
	Login login.Source
	// Wire configures the connection to the server (user agent, HTTP
	// client).
	Wire []wire.Option
}

// Run answers git's action: get, store, erase, or one a newer git adds.
// app, when set, is the application being cloned, whose bound token
// serves its own repository. On any failure it prints one line on Stderr
// and answers nothing, so git stops with "could not read Username" (or
// asks the next helper); a helper's exit code is not git's concern.
func Run(ctx context.Context, action, app string, o Options) {
	h := &helper{o: o}
	switch action {
	case "get":
		h.get(ctx, app)
	case "erase":
		h.erase(ctx, app)
	default:
		// store, and any action a newer git adds: a helper ignores what
		// it does not do (gitcredentials(7)).
		_, _ = io.Copy(io.Discard, io.LimitReader(o.Stdin, 1<<20))
	}
}

// helper is one run; secrets are what it read or received, scrubbed from
// every message it prints.
type helper struct {
	o       Options
	secrets []secret.Value
}

func (h *helper) remember(v secret.Value) { h.secrets = append(h.secrets, v) }

// request reads git's request.
func (h *helper) request(app string) (*credproto.Request, Request, error) {
	req, err := credproto.ParseRequest(h.o.Stdin)
	if err != nil {
		return nil, Request{}, fmt.Errorf("reading git's request: %w", err)
	}
	if req.Password.Len() > 0 {
		h.remember(req.Password)
	}
	return req, Request{Protocol: req.Protocol, Host: req.Host, Path: req.Path, App: app}, nil
}

// connect resolves the login and connects to its server.
func (h *helper) connect() (*wire.Conn, error) {
	l, err := h.o.Login.Resolve()
	if err != nil {
		return nil, err
	}
	h.remember(l.APIKey)
	return l.Connect(h.o.Wire...)
}

// get answers git, or explains on stderr why it cannot.
func (h *helper) get(ctx context.Context, app string) {
	req, in, err := h.request(app)
	if err != nil {
		h.say("cannot answer git: %s", h.oneLine(err.Error()))
		return
	}
	c, err := h.connect()
	if err != nil {
		h.say("no credential for %s: %s", clean(req.URL()), h.oneLine(err.Error()))
		return
	}
	cred, err := Resolve(ctx, c, in)
	if err != nil {
		h.say("no credential for %s: %s", clean(req.URL()), h.oneLine(err.Error()))
		return
	}
	h.remember(cred.Password)
	if _, err := (credproto.Response{Username: cred.Username, Password: cred.Password}).WriteTo(h.o.Stdout); err != nil {
		h.say("cannot answer git: %s", h.oneLine(err.Error()))
	}
}

// erase reports a refused credential and what the server made of it.
func (h *helper) erase(ctx context.Context, app string) {
	req, in, err := h.request(app)
	if err != nil {
		h.say("cannot read git's refusal: %s", h.oneLine(err.Error()))
		return
	}
	c, err := h.connect()
	if err == nil {
		var res RejectResult
		if res, err = Reject(ctx, c, in); err == nil {
			if res.Status == StatusInvalid {
				h.say("token %s was refused and is now marked invalid: %s; update it with gitaccess token update %s --value",
					clean(res.Token), strings.TrimRight(h.oneLine(res.Detail), "."), clean(res.Token))
				return
			}
			h.say("git was refused with token %s (status %s): %s", clean(res.Token), clean(res.Status), h.oneLine(res.Detail))
			return
		}
	}
	h.say("git was refused for %s, and reporting it failed: %s", clean(req.URL()), h.oneLine(err.Error()))
}

// say prints one line for the person reading git's output.
func (h *helper) say(format string, args ...any) {
	_, _ = fmt.Fprintf(h.o.Stderr, "gitaccess: "+format+"\n", args...)
}

// oneLine is msg scrubbed and cleaned, its lines joined.
func (h *helper) oneLine(msg string) string {
	for _, s := range h.secrets {
		if v := s.Reveal(); len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[REDACTED]")
		}
	}
	var parts []string
	for l := range strings.SplitSeq(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, clean(l))
		}
	}
	return strings.Join(parts, "; ")
}

// clean replaces control characters, so nothing a server or git sent can
// move the cursor or rewrite the terminal.
func clean(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
