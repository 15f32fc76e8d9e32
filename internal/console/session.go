package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Cookie names. The session cookie carries the random session id; the
// sign-in cookie carries a random value the sign-in form's CSRF token is
// derived from, so even the sign-in form cannot be posted from elsewhere.
const (
	SessionCookie = "gitaccess_session"
	signInCookie  = "gitaccess_signin"
	csrfField     = "csrf"
)

// session is a signed-in request: who, and the CSRF token its forms carry.
type session struct {
	p    access.Principal
	csrf string
	hash []byte
}

func newRandomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// csrfFor derives a form token from a secret only the browser's cookie
// holds. It is a keyed hash, not the stored hash, so neither the database
// nor a page's HTML gives away the other.
func csrfFor(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("gitaccess console csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func sameToken(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// secure says whether cookies get the Secure attribute: the request came
// over TLS, or the server's public URL is https (TLS ends at a proxy).
func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.secureURL }

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r),
	})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	c.setCookie(w, r, name, "", -1)
}

// errNoSession means the request carries no live session; why says what
// the sign-in page should tell the user.
type errNoSession struct{ why string }

func (e errNoSession) Error() string { return "no session: " + e.why }

// load finds the request's session and re-reads its API key: a revoked
// key, a key moved out of the organization or an expired session end it.
func (c *Console) load(ctx context.Context, r *http.Request) (session, error) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return session{}, errNoSession{}
	}
	h := hashID(ck.Value)
	cs, err := c.sessions.GetConsoleSession(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return session{}, errNoSession{why: "ended"}
	}
	if err != nil {
		return session{}, fmt.Errorf("reading the console session: %w", err)
	}
	end := func(why string) (session, error) {
		if err := c.sessions.DeleteConsoleSession(context.WithoutCancel(ctx), h); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("console: ending a session failed", "err", err)
		}
		return session{}, errNoSession{why: why}
	}
	if !c.now().Before(cs.ExpiresAt) {
		return end("expired")
	}
	k, err := c.sessions.GetAPIKey(ctx, cs.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return end("revoked")
	}
	if err != nil {
		return session{}, fmt.Errorf("reading the session's API key: %w", err)
	}
	if k.RevokedAt != nil || k.OrgID != cs.OrgID {
		return end("revoked")
	}
	org, err := c.sessions.GetOrg(ctx, k.OrgID)
	if err != nil {
		return session{}, fmt.Errorf("reading the session's organization: %w", err)
	}
	return session{
		p:    access.Principal{OrgID: org.ID, OrgName: org.Name, KeyID: k.ID, KeyName: k.Name, Role: k.Role},
		csrf: csrfFor(ck.Value),
		hash: h,
	}, nil
}

// authed runs h for a signed-in request. Without a session, a page
// request goes to the sign-in page and a form post is refused; a POST must
// carry the session's CSRF token.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, err := c.load(r.Context(), r)
		var none errNoSession
		switch {
		case errors.As(err, &none):
			if ck, _ := r.Cookie(SessionCookie); ck != nil {
				c.clearCookie(w, r, SessionCookie)
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				q := url.Values{}
				if none.why != "" {
					q.Set("why", none.why)
				}
				if r.URL.Path != "/" {
					q.Set("next", r.URL.RequestURI())
				}
				target := "/console/sign-in"
				if len(q) > 0 {
					target += "?" + q.Encode()
				}
				http.Redirect(w, r, target, http.StatusSeeOther)
				return
			}
			c.renderError(w, r, nil, http.StatusUnauthorized, "You are not signed in (or your session ended), so nothing was changed. Sign in and try again.")
			return
		case err != nil:
			c.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseMultipartForm(maxFormBytes); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				c.renderError(w, r, &s, http.StatusBadRequest, "The form could not be read; reload the page and try again.")
				return
			}
			if !sameToken(r.PostFormValue(csrfField), s.csrf) {
				c.renderError(w, r, &s, http.StatusForbidden, "The form's security token is missing or out of date, so nothing was changed. Reload the page and try again.")
				return
			}
		}
		h(w, r, s)
	}
}

// maxFormBytes bounds a form post: a CA bundle is the largest field.
const maxFormBytes = 1 << 20

var signInReasons = map[string]string{
	"expired":    "Your session expired; sign in again.",
	"revoked":    "The API key this session was opened with was revoked; sign in with another key.",
	"ended":      "Your session ended; sign in again.",
	"signed-out": "You are signed out.",
}

type signInData struct {
	CSRF   string
	Next   string
	Notice string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if _, err := c.load(r.Context(), r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.renderSignIn(w, r, http.StatusOK, nil, signInReasons[r.URL.Query().Get("why")])
}

func (c *Console) renderSignIn(w http.ResponseWriter, r *http.Request, status int, uerr *uiError, notice string) {
	id := newRandomID()
	c.setCookie(w, r, signInCookie, id, 3600)
	c.render(w, r, status, "signin", view{
		Title: "Sign in", Error: uerr,
		Data: signInData{CSRF: csrfFor(id), Next: safeNext(r.FormValue("next")), Notice: notice},
	})
}

// safeNext keeps a post-sign-in destination on this console.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	if next != "/" && !strings.HasPrefix(next, "/console/") {
		return ""
	}
	return next
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.renderSignIn(w, r, http.StatusBadRequest, &uiError{Message: "The form could not be read; try again."}, "")
		return
	}
	ck, err := r.Cookie(signInCookie)
	if err != nil || !sameToken(r.PostFormValue(csrfField), csrfFor(ck.Value)) {
		c.renderSignIn(w, r, http.StatusForbidden, &uiError{Message: "The sign-in form was out of date (or cookies are blocked); it has been reloaded. Paste your API key again."}, "")
		return
	}
	key := strings.TrimSpace(r.PostFormValue("api_key"))
	if key == "" {
		c.renderSignIn(w, r, http.StatusBadRequest, &uiError{Message: "Paste an API key: the bootstrap key is in <data-dir>/admin-api-key, or create one with gitaccess apikey create."}, "")
		return
	}
	p, err := c.svc.Authenticate(r.Context(), secret.New(key))
	if err != nil {
		if access.ErrorKind(err) == access.KindUnauthenticated {
			c.renderSignIn(w, r, http.StatusUnauthorized, &uiError{Message: "That API key is not valid (or was revoked). Check you pasted the whole key, starting with gak_."}, "")
			return
		}
		c.fail(w, r, nil, err)
		return
	}
	now := c.now().UTC()
	if n, err := c.sessions.DeleteExpiredConsoleSessions(r.Context(), now); err != nil {
		c.log.Warn("console: removing expired sessions failed", "err", err)
	} else if n > 0 {
		c.log.Debug("console: removed expired sessions", "count", n)
	}
	// A new sign-in ends the session this browser had, if any: one id
	// per sign-in, so an id planted before it is worth nothing after.
	if old, err := r.Cookie(SessionCookie); err == nil && old.Value != "" {
		if err := c.sessions.DeleteConsoleSession(r.Context(), hashID(old.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("console: ending the previous session failed", "err", err)
		}
	}
	id := newRandomID()
	err = c.sessions.CreateConsoleSession(r.Context(), store.ConsoleSession{
		IDHash: hashID(id), OrgID: p.OrgID, KeyID: p.KeyID, CreatedAt: now, ExpiresAt: now.Add(c.ttl),
	})
	if err != nil {
		c.fail(w, r, nil, fmt.Errorf("creating a console session: %w", err))
		return
	}
	c.clearCookie(w, r, signInCookie)
	c.setCookie(w, r, SessionCookie, id, int(c.ttl.Seconds()))
	c.log.Info("console: signed in", "key_id", p.KeyID, "org", p.OrgName, "role", p.Role)
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s session) {
	if err := c.sessions.DeleteConsoleSession(r.Context(), s.hash); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, &s, fmt.Errorf("ending the console session: %w", err))
		return
	}
	c.clearCookie(w, r, SessionCookie)
	c.log.Info("console: signed out", "key_id", s.p.KeyID)
	http.Redirect(w, r, "/console/sign-in?why=signed-out", http.StatusSeeOther)
}
