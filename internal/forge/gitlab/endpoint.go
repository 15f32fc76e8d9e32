package gitlab

import (
	"net/url"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
)

const (
	cloudHost = "gitlab.com"
	cloudWeb  = "https://gitlab.com"
	apiPath   = "/api/v4"
)

// ResolveEndpoint turns what a user typed into GitLab's web root and API
// root. Empty means gitlab.com. A self-managed URL may carry a relative URL
// root (https://host/gitlab); a trailing /api/v4 is accepted and dropped.
func (f *Forge) ResolveEndpoint(rawURL, workspace string) (forge.Endpoint, error) {
	if strings.TrimSpace(workspace) != "" {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "workspace",
			Reason: "GitLab has no workspaces; leave it empty (it is for Bitbucket)"}
	}
	raw := strings.TrimSpace(rawURL)
	if raw == "" {
		raw = cloudWeb
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	bad := func(reason string) (forge.Endpoint, error) {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: reason}
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parse error quotes the URL, which may hold a password: not echoed.
		return bad("the GitLab URL cannot be parsed; give its address, such as https://gitlab.example.com")
	}
	switch {
	case u.User != nil:
		return bad("the GitLab URL carries a user name or password; give the address alone (the token goes in its own field)")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("the GitLab URL has a query (?...); give the address alone, such as https://gitlab.example.com")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("the GitLab URL has a fragment (#...); give the address alone, such as https://gitlab.example.com")
	case u.Opaque != "" || u.Host == "":
		return bad("the GitLab URL has no host; give its address, such as https://gitlab.example.com")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return bad("the GitLab URL must start with https://")
	}
	host := strings.ToLower(u.Host)
	path := strings.TrimRight(u.Path, "/")
	path = strings.TrimRight(strings.TrimSuffix(path, apiPath), "/")
	if strings.Contains(path+"/", "/-/") {
		return bad("the URL is a page inside GitLab; give GitLab's address alone, such as https://gitlab.example.com")
	}
	if strings.TrimSuffix(host, ":443") == cloudHost {
		if path != "" {
			return bad("gitlab.com is served from its root; give https://gitlab.com (repository paths belong to applications, not tokens)")
		}
		scheme, host = "https", cloudHost
	}
	web := scheme + "://" + host + path
	ep := forge.Endpoint{Provider: forge.GitLab, WebURL: web, APIURL: web + apiPath}
	if err := f.policy.CheckURL(ep.APIURL); err != nil {
		return bad(err.Error())
	}
	return ep, nil
}
