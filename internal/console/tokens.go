package console

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// maxListed bounds how many tokens or applications one page lists.
const maxListed = 5000

func (c *Console) allTokens(ctx context.Context, p access.Principal) ([]access.TokenView, error) {
	var out []access.TokenView
	page := store.Page{Limit: store.MaxPageLimit}
	for {
		ts, next, err := c.svc.ListTokens(ctx, p, page)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
		if next == "" || len(out) >= maxListed {
			return out, nil
		}
		page.After = next
	}
}

func (c *Console) allApps(ctx context.Context, p access.Principal) ([]access.AppView, error) {
	var out []access.AppView
	page := store.Page{Limit: store.MaxPageLimit}
	for {
		as, next, err := c.svc.ListApps(ctx, p, page)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
		if next == "" || len(out) >= maxListed {
			return out, nil
		}
		page.After = next
	}
}

// notices are the messages a redirect after a successful post shows; the
// query names one by key, so a link cannot put words in the page.
var notices = map[string]string{
	"saved":         "Token %s was tested and saved.",
	"updated":       "Token %s was updated.",
	"rotated":       "Token %s now uses its new value.",
	"tested":        "Token %s was tested again; its status is up to date.",
	"deleted":       "Token %s was deleted.",
	"app-created":   "Application %s was created.",
	"app-updated":   "Application %s was updated.",
	"app-deleted":   "Application %s was deleted.",
	"hook-checked":  "The webhook of %s was checked with the provider.",
	"nothing-to-do": "Nothing changed on %s.",
}

func noticeOf(r *http.Request) string {
	f, ok := notices[r.URL.Query().Get("notice")]
	if !ok {
		return ""
	}
	return fmt.Sprintf(f, r.URL.Query().Get("name"))
}

func redirectNotice(w http.ResponseWriter, r *http.Request, to, notice, name string) {
	q := url.Values{"notice": {notice}, "name": {name}}
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	http.Redirect(w, r, to+sep+q.Encode(), http.StatusSeeOther)
}

// tokenRow is a token as the list shows it.
type tokenRow struct {
	access.TokenView
	DaysLeft *int
	Apps     []string
}

func daysLeft(t *time.Time, now time.Time) *int {
	if t == nil {
		return nil
	}
	// Whole days, rounded down as access counts them, so the list, the
	// panel and the warnings say the same number.
	d := int(math.Floor(t.Sub(now).Hours() / 24))
	return &d
}

type tokensData struct {
	Tokens    []tokenRow
	Timeline  timeline
	AppsErr   *uiError
	Attention attentionView
}

func (c *Console) tokensPage(w http.ResponseWriter, r *http.Request, s session) {
	tokens, err := c.allTokens(r.Context(), s.p)
	if err != nil {
		u := c.problem(r, err)
		c.render(w, r, u.Status, "tokens", view{Title: "Tokens", Nav: "tokens", Session: sessionOf(&s), Error: u, Data: tokensData{}})
		return
	}
	now := c.now()
	d := tokensData{Timeline: newTimeline(tokens, now), Attention: c.attention(r, s)}
	byToken := map[string][]string{}
	if apps, err := c.allApps(r.Context(), s.p); err != nil {
		d.AppsErr = c.problem(r, err)
	} else {
		for _, a := range apps {
			if a.Token != "" {
				byToken[a.Token] = append(byToken[a.Token], a.Name)
			}
		}
	}
	for _, t := range tokens {
		d.Tokens = append(d.Tokens, tokenRow{TokenView: t, DaysLeft: daysLeft(t.ExpiresAt, now), Apps: byToken[t.Name]})
	}
	c.render(w, r, http.StatusOK, "tokens", view{Title: "Tokens", Nav: "tokens", Session: sessionOf(&s), Notice: noticeOf(r), Data: d})
}

// tokenForm is what the add form keeps across a failed post: every field
// but the value, which is never sent back to the browser.
type tokenForm struct {
	Choice       string
	Name         string
	Description  string
	URL          string
	Workspace    string
	CABundle     string
	AllowMissing bool
}

type newTokenData struct {
	Form    tokenForm
	Choices []providerChoice
	// Tested is set after "Test": the report, and what it lacks.
	Report  *forge.Report
	Missing []string
	// ReportErr is a test that failed (bad credentials, unreachable).
	ReportErr *uiError
	// ValueCleared says a value was posted and is not shown again.
	ValueCleared bool
	// Fragment: only the result area is rendered (the script's Test), so
	// it carries the error itself; a full page shows it at the top.
	Fragment bool
}

func (c *Console) newTokenPage(w http.ResponseWriter, r *http.Request, s session) {
	f := tokenForm{Choice: r.URL.Query().Get("provider")}
	if _, ok := choiceByID(f.Choice); !ok {
		f.Choice = providerChoices[0].ID
	}
	c.render(w, r, http.StatusOK, "token_new", view{Title: "Add a token", Nav: "tokens", Session: sessionOf(&s),
		Data: newTokenData{Form: f, Choices: providerChoices}})
}

func formOf(r *http.Request) tokenForm {
	return tokenForm{
		Choice:       r.PostFormValue("provider"),
		Name:         strings.TrimSpace(r.PostFormValue("name")),
		Description:  strings.TrimSpace(r.PostFormValue("description")),
		URL:          strings.TrimSpace(r.PostFormValue("url")),
		Workspace:    strings.TrimSpace(r.PostFormValue("workspace")),
		CABundle:     strings.TrimSpace(r.PostFormValue("ca_bundle")),
		AllowMissing: r.PostFormValue("allow_missing") == "on",
	}
}

// addToken serves both buttons of the add form: "Test" inspects the value
// and shows the report, "Save" tests and saves. A fragment request (the
// script's Test) gets the report alone, so the page and the typed value
// stay as they are.
func (c *Console) addToken(w http.ResponseWriter, r *http.Request, s session) {
	f := formOf(r)
	value := secret.New(r.PostFormValue("value"))
	fragment := r.PostFormValue("fragment") == "1"
	d := newTokenData{Form: f, Choices: providerChoices, ValueCleared: !value.IsZero(), Fragment: fragment}
	show := func(status int, u *uiError) {
		if fragment {
			c.renderTemplate(w, r, status, "token_new", "report", d)
			return
		}
		c.render(w, r, status, "token_new", view{Title: "Add a token", Nav: "tokens", Session: sessionOf(&s), Error: u, Data: d})
	}
	choice, ok := choiceByID(f.Choice)
	if !ok {
		d.Form.Choice = providerChoices[0].ID
		d.ReportErr = &uiError{Status: http.StatusBadRequest, Message: "provider: choose one of the providers in the list."}
		show(http.StatusBadRequest, d.ReportErr)
		return
	}
	if choice.NeedsURL && f.URL == "" {
		d.ReportErr = &uiError{Status: http.StatusBadRequest, Message: "URL: give the address of your " + choice.Label + " server, such as " + choice.URLHint + "."}
		show(http.StatusBadRequest, d.ReportErr)
		return
	}
	if !choice.NeedsWorkspace {
		f.Workspace = ""
	}
	if r.PostFormValue("action") == "test" {
		rep, err := c.svc.TestValue(r.Context(), s.p, access.TestValueInput{
			Provider: choice.Provider, URL: f.URL, Workspace: f.Workspace, CABundle: f.CABundle, Value: value,
		})
		if err != nil {
			d.ReportErr = c.problem(r, err)
			show(d.ReportErr.Status, d.ReportErr)
			return
		}
		d.Report, d.Missing = &rep, rep.Missing(forge.AllUses)
		show(http.StatusOK, nil)
		return
	}
	res, err := c.svc.AddToken(r.Context(), s.p, access.AddTokenInput{
		Name: f.Name, Description: f.Description, Provider: choice.Provider, URL: f.URL, Workspace: f.Workspace,
		CABundle: f.CABundle, Value: value, AllowMissing: f.AllowMissing,
	})
	if err != nil {
		u := c.problem(r, err)
		d.Report, d.Missing, d.ReportErr = u.Report, u.Missing, u
		show(u.Status, u)
		return
	}
	redirectNotice(w, r, "/", "saved", res.Token.Name)
}

// tokenData is the token page: the token, who depends on it, and the
// edit, rotate and delete forms.
type tokenData struct {
	Token    access.TokenView
	CSRF     string
	DaysLeft *int
	Choice   providerChoice
	Impact   access.TokenImpact
	// Others are the tokens of the same provider the applications could
	// be moved to when this one is deleted.
	Others []string
	Edit   editForm
	// Section names the form an error belongs to: edit, rotate, delete.
	Section string
	// Banner says why the token needs attention; nil when it does not.
	Banner *tokenBanner
}

type editForm struct {
	Name, Description, URL string
}

func editFormOf(t access.TokenView) editForm {
	return editForm{Name: t.Name, Description: t.Description, URL: t.WebURL}
}

func (c *Console) tokenView(ctx context.Context, s session, name string) (tokenData, error) {
	p := s.p
	t, err := c.svc.GetToken(ctx, p, name)
	if err != nil {
		return tokenData{}, err
	}
	choice, _ := choiceByID(choiceFor(t))
	im, others, err := c.impactOf(ctx, p, t)
	if err != nil {
		return tokenData{}, err
	}
	d := tokenData{Token: t, CSRF: s.csrf, DaysLeft: daysLeft(t.ExpiresAt, c.now()), Choice: choice, Impact: im, Others: others, Edit: editFormOf(t)}
	// The banner is a help, not the page: without it the token's details
	// still say its status and expiry.
	if v, err := c.svc.Status(ctx, p); err != nil {
		c.log.WarnContext(ctx, "console: reading token health for the banner failed", "token", t.Name, "err", err)
	} else {
		d.Banner = bannerFor(v, t.Name, canManage(p.Role))
	}
	return d, nil
}

func (c *Console) tokenPage(w http.ResponseWriter, r *http.Request, s session) {
	d, err := c.tokenView(r.Context(), s, r.PathValue("name"))
	if err != nil {
		c.fail(w, r, &s, err)
		return
	}
	c.render(w, r, http.StatusOK, "token", view{Title: "Token " + d.Token.Name, Nav: "tokens", Session: sessionOf(&s), Notice: noticeOf(r), Data: d})
}

// tokenFailed shows the token page again with err beside the form that
// caused it.
func (c *Console) tokenFailed(w http.ResponseWriter, r *http.Request, s session, name, section string, err error, edit *editForm) {
	u := c.problem(r, err)
	d, lerr := c.tokenView(r.Context(), s, name)
	if lerr != nil {
		c.render(w, r, u.Status, "error", view{Title: "Error", Session: sessionOf(&s), Error: u})
		return
	}
	d.Section = section
	if edit != nil {
		d.Edit = *edit
	}
	page := "token"
	if section == "delete" {
		page = "token_delete"
	}
	c.render(w, r, u.Status, page, view{Title: "Token " + d.Token.Name, Nav: "tokens", Session: sessionOf(&s), Error: u, Data: d})
}

func (c *Console) editToken(w http.ResponseWriter, r *http.Request, s session) {
	name := r.PathValue("name")
	t, err := c.svc.GetToken(r.Context(), s.p, name)
	if err != nil {
		c.fail(w, r, &s, err)
		return
	}
	f := editForm{
		Name:        strings.TrimSpace(r.PostFormValue("name")),
		Description: strings.TrimSpace(r.PostFormValue("description")),
		URL:         strings.TrimSpace(r.PostFormValue("url")),
	}
	var in access.UpdateTokenInput
	if f.Name != t.Name {
		in.Name = &f.Name
	}
	if f.Description != t.Description {
		in.Description = &f.Description
	}
	if f.URL != "" && strings.TrimRight(f.URL, "/") != t.WebURL {
		in.URL = &f.URL
	}
	if v := r.PostFormValue("value"); v != "" {
		sv := secret.New(v)
		in.Value = &sv
	}
	in.AllowMissing = r.PostFormValue("allow_missing") == "on"
	if in.Name == nil && in.Description == nil && in.URL == nil && in.Value == nil {
		redirectNotice(w, r, "/console/tokens/"+url.PathEscape(name), "nothing-to-do", name)
		return
	}
	res, err := c.svc.UpdateToken(r.Context(), s.p, name, in)
	if err != nil {
		c.tokenFailed(w, r, s, name, "edit", err, &f)
		return
	}
	redirectNotice(w, r, "/console/tokens/"+url.PathEscape(res.Token.Name), "updated", res.Token.Name)
}

func (c *Console) rotateToken(w http.ResponseWriter, r *http.Request, s session) {
	name := r.PathValue("name")
	v := r.PostFormValue("value")
	byProvider := r.PostFormValue("provider_rotate") == "on"
	if strings.TrimSpace(v) == "" && !byProvider {
		c.tokenFailed(w, r, s, name, "rotate", &access.Error{Kind: access.KindInvalid, Message: "value: paste the new token value to rotate to."}, nil)
		return
	}
	in := access.RotateTokenInput{AllowMissing: r.PostFormValue("allow_missing") == "on", ProviderRotate: byProvider}
	if !byProvider {
		in.Value = secret.New(v)
	}
	// RotateToken proves the new value on every application before it
	// switches; a refusal lists each one it cannot serve.
	if _, err := c.svc.RotateToken(r.Context(), s.p, name, in); err != nil {
		c.tokenFailed(w, r, s, name, "rotate", err, nil)
		return
	}
	redirectNotice(w, r, "/console/tokens/"+url.PathEscape(name), "rotated", name)
}

func (c *Console) retestToken(w http.ResponseWriter, r *http.Request, s session) {
	name := r.PathValue("name")
	if _, err := c.svc.TestToken(r.Context(), s.p, name); err != nil {
		c.tokenFailed(w, r, s, name, "test", err, nil)
		return
	}
	redirectNotice(w, r, "/console/tokens/"+url.PathEscape(name), "tested", name)
}

// confirmWord is what the delete dialogs ask the user to type.
const confirmWord = "delete"

func (c *Console) deleteTokenPage(w http.ResponseWriter, r *http.Request, s session) {
	d, err := c.tokenView(r.Context(), s, r.PathValue("name"))
	if err != nil {
		c.fail(w, r, &s, err)
		return
	}
	c.render(w, r, http.StatusOK, "token_delete", view{Title: "Delete token " + d.Token.Name, Nav: "tokens", Session: sessionOf(&s), Data: d})
}

func (c *Console) deleteToken(w http.ResponseWriter, r *http.Request, s session) {
	name := r.PathValue("name")
	if strings.TrimSpace(r.PostFormValue("confirm")) != confirmWord {
		c.tokenFailed(w, r, s, name, "delete", &access.Error{Kind: access.KindConfirmationRequired,
			Message: "Type delete in the box to confirm; token " + name + " was not deleted."}, nil)
		return
	}
	// The typed word is the console's confirmation; the use case takes
	// the token's name as its own. What happens to the applications that
	// depend on it is the user's choice: refuse, move them, or unbind them.
	in := access.DeleteTokenInput{Confirm: name}
	switch then := r.PostFormValue("then"); {
	case then == "force":
		in.Force = true
	case strings.HasPrefix(then, "reassign:"):
		in.Reassign = strings.TrimPrefix(then, "reassign:")
	}
	if _, err := c.svc.DeleteToken(r.Context(), s.p, name, in); err != nil {
		c.tokenFailed(w, r, s, name, "delete", err, nil)
		return
	}
	redirectNotice(w, r, "/", "deleted", name)
}

// impactOf asks what depends on the token, and the other tokens the
// applications could move to when it goes.
func (c *Console) impactOf(ctx context.Context, p access.Principal, t access.TokenView) (access.TokenImpact, []string, error) {
	im, err := c.svc.TokenImpact(ctx, p, t.Name)
	if err != nil {
		return access.TokenImpact{}, nil, err
	}
	var others []string
	if len(im.Applications) > 0 {
		all, err := c.allTokens(ctx, p)
		if err != nil {
			return access.TokenImpact{}, nil, err
		}
		for _, o := range all {
			if o.Name != t.Name && o.Provider == t.Provider {
				others = append(others, o.Name)
			}
		}
	}
	return im, others, nil
}
