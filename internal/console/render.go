package console

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/api"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
)

// view is what every page template receives.
type view struct {
	Title string
	// Nav marks the current section ("tokens", "apps").
	Nav string
	// Session is nil on the sign-in and error pages of a signed-out user.
	Session *sessionView
	Notice  string
	Error   *uiError
	Data    any
}

// sessionView is the signed-in user as pages show it.
type sessionView struct {
	Org, KeyName string
	Role         store.Role
	CSRF         string
	// CanManage shows the add, edit, rotate and delete controls. It only
	// hides them: the use cases refuse those actions to other roles anyway.
	CanManage bool
}

func sessionOf(s *session) *sessionView {
	if s == nil {
		return nil
	}
	return &sessionView{Org: s.p.OrgName, KeyName: s.p.KeyName, Role: s.p.Role, CSRF: s.csrf, CanManage: canManage(s.p.Role)}
}

// canManage mirrors the roles access lets manage tokens and applications,
// for hiding controls only.
func canManage(r store.Role) bool {
	return r == store.RoleOwner || r == store.RoleAdmin || r == store.RoleDevOps
}

// uiError is a failure shown in the page: what went wrong, in words a user
// can act on, and the inspection behind a refused token.
type uiError struct {
	Status  int
	Message string
	Missing []string
	// Failures are sentences, one per application a rotated or reassigned
	// value cannot serve.
	Failures []string
	Report   *forge.Report
}

// describe turns a use-case or provider error into a status and a message
// a user can act on; ok is false for faults the user cannot fix, whose
// text stays in the log.
func describe(err error) (*uiError, bool) {
	p, ok := api.ProblemFor(err, time.Now())
	if !ok {
		return nil, false
	}
	u := &uiError{Status: p.Status, Message: p.Detail, Missing: p.Missing, Report: p.Report}
	var ce *access.CoverageError
	if errors.As(err, &ce) {
		u.Message = "Nothing was changed: the value cannot serve every application that depends on the token."
		u.Missing, u.Failures = nil, p.Missing
	}
	return u, true
}

// problem describes err for the page; an unexpected fault is logged with
// a reference the user can quote, and its text never reaches the page.
func (c *Console) problem(r *http.Request, err error) *uiError {
	if u, ok := describe(err); ok {
		return u
	}
	ref := strings.ToLower(rand.Text()[:10])
	c.log.ErrorContext(r.Context(), "console: request failed", "method", r.Method, "path", r.URL.Path, "ref", ref, "err", err)
	return &uiError{Status: http.StatusInternalServerError, Message: "Something went wrong on the server; nothing you typed was wrong. The server log has the details under reference " + ref + "."}
}

// fail shows err on an error page of its own.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	u := c.problem(r, err)
	c.render(w, r, u.Status, "error", view{Title: "Error", Session: sessionOf(s), Error: u})
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.render(w, r, status, "error", view{Title: http.StatusText(status), Session: sessionOf(s), Error: &uiError{Status: status, Message: msg}})
}

// pages holds one template set per page, each with the shared layout.
type pages struct {
	byName map[string]*template.Template
}

func parsePages() (*pages, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFiles, "templates/_*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/[a-z]*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	ps := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		if t, err = t.ParseFS(templateFiles, n); err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		ps.byName[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return ps, nil
}

// render writes a page; the template runs into a buffer first, so a
// template failure cannot leave half a page behind.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	c.renderTemplate(w, r, status, name, "layout", v)
}

func (c *Console) renderTemplate(w http.ResponseWriter, r *http.Request, status int, page, tmpl string, data any) {
	t, ok := c.pages.byName[page]
	var buf bytes.Buffer
	var err error
	if !ok {
		err = fmt.Errorf("no template %q", page)
	} else {
		err = t.ExecuteTemplate(&buf, tmpl, data)
	}
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: rendering failed", "page", page, "err", err)
		http.Error(w, "The page could not be rendered; the server log has the details.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"date": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.DateOnly)
	},
	"datetime": func(t any) string {
		switch v := t.(type) {
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"iso": func(t any) string {
		switch v := t.(type) {
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format(time.RFC3339)
		case time.Time:
			return v.UTC().Format(time.RFC3339)
		}
		return ""
	},
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	"sub":  func(a, b int) int { return a - b },
	"days": daysText,
	"reportOf": func(r *forge.Report, uses []string) reportView {
		v := reportView{Report: r}
		if r != nil {
			us := make([]forge.Use, 0, len(uses))
			for _, u := range uses {
				us = append(us, forge.Use(u))
			}
			if len(us) == 0 {
				us = forge.AllUses
			}
			v.Missing = r.Missing(us)
		}
		return v
	},
	"providerTitle": func(p string) string { return forge.Title(forge.Provider(p)) },
	"statusLabel":   statusLabel,
}

// statusLabel is a token status as a badge reads.
func statusLabel(s string) string {
	switch s {
	case access.StatusValid:
		return "Valid"
	case access.StatusLimited:
		return "Limited"
	case access.StatusExpiring:
		return "Expiring"
	case access.StatusExpired:
		return "Expired"
	case access.StatusInvalid:
		return "Invalid"
	}
	return s
}

// reportView is what the report template shows: an inspection and what
// it lacks for the token's uses.
type reportView struct {
	Report  *forge.Report
	Missing []string
}

// daysText says how far an expiry is, in words.
func daysText(d *int) string {
	switch {
	case d == nil:
		return ""
	case *d < -1:
		return fmt.Sprintf("expired %d days ago", -*d)
	case *d < 0:
		return "expired"
	case *d == 0:
		return "expires today"
	case *d == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", *d)
}
