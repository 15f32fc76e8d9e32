package console

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
)

func (c *Console) appsPage(w http.ResponseWriter, r *http.Request, s session) {
	apps, err := c.allApps(r.Context(), s.p)
	v := view{Title: "Applications", Nav: "apps", Session: sessionOf(&s), Notice: noticeOf(r), Data: apps}
	if err != nil {
		v.Error = c.problem(r, err)
		c.render(w, r, v.Error.Status, "apps", v)
		return
	}
	c.render(w, r, http.StatusOK, "apps", v)
}

// newAppData is the create-application page: a token, then a repository
// from the list the provider gives for it, then one of its branches.
type newAppData struct {
	Tokens   []access.TokenView
	Token    string
	Search   string
	Repos    []forge.Repo
	ReposErr *uiError
	Repo     string
	// RepoName is the chosen repository's full name; DefaultBranch its
	// default branch, preselected.
	RepoName      string
	DefaultBranch string
	Branches      []forge.Branch
	BranchesErr   *uiError
	Form          appForm
}

type appForm struct {
	Name, Branch, Path   string
	AutoDeploy, Previews bool
}

// loadNewApp fills the page from the chosen token and repository (query
// or form values), asking the provider for the lists.
func (c *Console) loadNewApp(r *http.Request, s session, token, search, repo string) (newAppData, error) {
	d := newAppData{Token: token, Search: search, Repo: repo}
	tokens, err := c.allTokens(r.Context(), s.p)
	if err != nil {
		return d, err
	}
	d.Tokens = tokens
	if d.Token == "" && len(tokens) == 1 {
		d.Token = tokens[0].Name
	}
	if d.Token == "" {
		return d, nil
	}
	repos, err := c.svc.ListRepos(r.Context(), s.p, d.Token, search)
	if err != nil {
		d.ReposErr = c.problem(r, err)
		return d, nil
	}
	d.Repos = repos
	if repo == "" {
		return d, nil
	}
	for _, rp := range repos {
		if rp.WebURL == repo {
			d.RepoName, d.DefaultBranch = rp.FullName, rp.DefaultBranch
		}
	}
	if d.RepoName == "" {
		d.RepoName = strings.TrimPrefix(repo, "https://")
	}
	branches, err := c.svc.ListBranches(r.Context(), s.p, repo, d.Token)
	if err != nil {
		d.BranchesErr = c.problem(r, err)
		return d, nil
	}
	d.Branches = branches
	d.Form.Branch = d.DefaultBranch
	d.Form.Name = suggestName(d.RepoName)
	return d, nil
}

// suggestName proposes an application name from a repository's last path
// part, in the characters names allow.
func suggestName(full string) string {
	base := strings.ToLower(path.Base(full))
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	return strings.Trim(b.String(), "-._")
}

func (c *Console) newAppPage(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	d, err := c.loadNewApp(r, s, q.Get("token"), strings.TrimSpace(q.Get("search")), q.Get("repo"))
	if err != nil {
		c.fail(w, r, &s, err)
		return
	}
	c.render(w, r, http.StatusOK, "app_new", view{Title: "Create an application", Nav: "apps", Session: sessionOf(&s), Data: d})
}

func (c *Console) createApp(w http.ResponseWriter, r *http.Request, s session) {
	f := appForm{
		Name:       strings.TrimSpace(r.PostFormValue("name")),
		Branch:     r.PostFormValue("branch"),
		Path:       strings.TrimSpace(r.PostFormValue("path")),
		AutoDeploy: r.PostFormValue("auto_deploy") == "on",
		Previews:   r.PostFormValue("previews") == "on",
	}
	token, repo := r.PostFormValue("token"), r.PostFormValue("repo")
	a, err := c.svc.CreateApp(r.Context(), s.p, access.AppInput{
		Name: f.Name, RepoURL: repo, Branch: f.Branch, Token: token, Path: f.Path, AutoDeploy: f.AutoDeploy, Previews: f.Previews,
	})
	if err != nil {
		u := c.problem(r, err)
		d, lerr := c.loadNewApp(r, s, token, "", repo)
		if lerr != nil {
			c.render(w, r, u.Status, "error", view{Title: "Error", Session: sessionOf(&s), Error: u})
			return
		}
		d.Form = f
		c.render(w, r, u.Status, "app_new", view{Title: "Create an application", Nav: "apps", Session: sessionOf(&s), Error: u, Data: d})
		return
	}
	redirectNotice(w, r, "/console/apps/"+url.PathEscape(a.Name), "app-created", a.Name)
}

type appData struct {
	App           access.AppView
	CSRF          string
	Deliveries    []access.DeliveryView
	DeliveriesErr *uiError
	Section       string
}

// recentDeliveries is how many deliveries the application page lists.
const recentDeliveries = 20

func (c *Console) appView(r *http.Request, s session, name string) (appData, error) {
	a, err := c.svc.GetApp(r.Context(), s.p, name)
	if err != nil {
		return appData{}, err
	}
	d := appData{App: a, CSRF: s.csrf}
	if a.Hook != nil {
		ds, _, err := c.svc.ListDeliveries(r.Context(), s.p, a.Name, store.Page{Limit: recentDeliveries})
		if err != nil {
			d.DeliveriesErr = c.problem(r, err)
		}
		d.Deliveries = ds
	}
	return d, nil
}

func (c *Console) appPage(w http.ResponseWriter, r *http.Request, s session) {
	d, err := c.appView(r, s, r.PathValue("name"))
	if err != nil {
		c.fail(w, r, &s, err)
		return
	}
	c.render(w, r, http.StatusOK, "app", view{Title: "Application " + d.App.Name, Nav: "apps", Session: sessionOf(&s), Notice: noticeOf(r), Data: d})
}

func (c *Console) appFailed(w http.ResponseWriter, r *http.Request, s session, name, section string, err error) {
	u := c.problem(r, err)
	d, lerr := c.appView(r, s, name)
	if lerr != nil {
		c.render(w, r, u.Status, "error", view{Title: "Error", Session: sessionOf(&s), Error: u})
		return
	}
	d.Section = section
	page := "app"
	if section == "delete" {
		page = "app_delete"
	}
	c.render(w, r, u.Status, page, view{Title: "Application " + d.App.Name, Nav: "apps", Session: sessionOf(&s), Error: u, Data: d})
}

func (c *Console) appSettings(w http.ResponseWriter, r *http.Request, s session) {
	name := r.PathValue("name")
	auto, prev := r.PostFormValue("auto_deploy") == "on", r.PostFormValue("previews") == "on"
	if _, err := c.svc.UpdateApp(r.Context(), s.p, name, access.AppUpdate{AutoDeploy: &auto, Previews: &prev}); err != nil {
		c.appFailed(w, r, s, name, "settings", err)
		return
	}
	redirectNotice(w, r, "/console/apps/"+url.PathEscape(name), "app-updated", name)
}

func (c *Console) checkHook(w http.ResponseWriter, r *http.Request, s session) {
	name := r.PathValue("name")
	if _, err := c.svc.CheckHook(r.Context(), s.p, name); err != nil {
		c.appFailed(w, r, s, name, "hook", err)
		return
	}
	redirectNotice(w, r, "/console/apps/"+url.PathEscape(name), "hook-checked", name)
}

func (c *Console) deleteAppPage(w http.ResponseWriter, r *http.Request, s session) {
	d, err := c.appView(r, s, r.PathValue("name"))
	if err != nil {
		c.fail(w, r, &s, err)
		return
	}
	c.render(w, r, http.StatusOK, "app_delete", view{Title: "Delete application " + d.App.Name, Nav: "apps", Session: sessionOf(&s), Data: d})
}

func (c *Console) deleteApp(w http.ResponseWriter, r *http.Request, s session) {
	name := r.PathValue("name")
	if strings.TrimSpace(r.PostFormValue("confirm")) != confirmWord {
		c.appFailed(w, r, s, name, "delete", &access.Error{Kind: access.KindConfirmationRequired,
			Message: "Type delete in the box to confirm; application " + name + " was not deleted."})
		return
	}
	if err := c.svc.DeleteApp(r.Context(), s.p, name, false); err != nil {
		c.appFailed(w, r, s, name, "delete", err)
		return
	}
	redirectNotice(w, r, "/console/apps", "app-deleted", name)
}
