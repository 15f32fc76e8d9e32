package forge

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// Repo is a repository as its provider describes it.
type Repo struct {
	// FullName is the provider's path: owner/name on GitHub,
	// group/subgroup/name on GitLab, workspace/slug on Bitbucket.
	FullName string `json:"full_name"`
	// CloneURL is the https URL git clones, e.g. https://github.com/acme/api.git.
	CloneURL      string `json:"clone_url"`
	WebURL        string `json:"web_url"`
	DefaultBranch string `json:"default_branch"`
	Private       bool   `json:"private"`
}

// Branch is one branch head.
type Branch struct {
	Name string `json:"name"`
	SHA  string `json:"sha"`
}

// MaxFileBytes bounds ReadFile: it exists to read a Dockerfile or a build
// manifest, not to download blobs.
const MaxFileBytes = 1 << 20

// Browser reads what a token can see. Every list follows every page.
type Browser interface {
	// ListRepos lists the repositories the token can see whose full name
	// contains search (case-insensitive; empty lists all).
	ListRepos(ctx context.Context, cred Credential, search string) ([]Repo, error)
	// GetRepo returns one repository, or *NotFoundError when the token
	// cannot see it.
	GetRepo(ctx context.Context, cred Credential, fullName string) (Repo, error)
	ListBranches(ctx context.Context, cred Credential, fullName string) ([]Branch, error)
	// GetBranch returns one branch, or *NotFoundError.
	GetBranch(ctx context.Context, cred Credential, fullName, branch string) (Branch, error)
	// ReadFile returns a file's bytes at ref (a branch, tag or SHA; empty
	// means the default branch), at most MaxFileBytes, or *NotFoundError.
	ReadFile(ctx context.Context, cred Credential, fullName, path, ref string) ([]byte, error)
}

// GitAuth is the basic-auth pair a provider's smart-HTTP endpoint expects
// for a token: GitHub x-access-token, GitLab oauth2, Bitbucket x-token-auth.
func GitAuth(p Provider, token secret.Value) (username string, password secret.Value) {
	switch p {
	case GitLab:
		return "oauth2", token
	case Bitbucket:
		return "x-token-auth", token
	default:
		return "x-access-token", token
	}
}

// NotFoundError means the provider answered that something does not exist,
// which for a private repository also means "this token cannot see it".
type NotFoundError struct {
	Provider Provider
	Host     string
	// Resource is what was asked for: "acme/api", "branch main of acme/api".
	Resource string
	Status   int
	Message  string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("%s answered %d for %s", Title(e.Provider), e.Status, e.Resource)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// RepoPath splits a repository URL on an endpoint into the provider's full
// name: https://github.com/acme/api.git → acme/api. The URL must be on the
// endpoint's web host (and under its path, for GitLab with a relative root).
func RepoPath(ep Endpoint, repoURL string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(repoURL))
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return "", &InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%q is not a repository URL; give it as https://HOST/OWNER/NAME", repoURL)}
	}
	if u.User != nil {
		return "", &InvalidInputError{Field: "repository", Reason: "the repository URL carries credentials; give the URL without them (gitaccess supplies the token)"}
	}
	web, err := url.Parse(ep.WebURL)
	if err != nil {
		return "", fmt.Errorf("endpoint web URL %q: %w", ep.WebURL, err)
	}
	if !strings.EqualFold(u.Host, web.Host) {
		return "", &InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%s is on %s, not on %s", repoURL, u.Host, web.Host)}
	}
	p := strings.Trim(u.Path, "/")
	root := strings.Trim(web.Path, "/")
	if root != "" {
		if !strings.HasPrefix(p, root+"/") {
			return "", &InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%s is not under %s", repoURL, ep.WebURL)}
		}
		p = strings.TrimPrefix(p, root+"/")
	}
	p = strings.TrimSuffix(p, ".git")
	parts := strings.Split(p, "/")
	if len(parts) < 2 || ep.Provider != GitLab && len(parts) != 2 {
		return "", &InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%s does not name one repository; give https://%s/OWNER/NAME", repoURL, web.Host)}
	}
	for _, s := range parts {
		if s == "" || s == "." || s == ".." {
			return "", &InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%s has an empty or relative path segment", repoURL)}
		}
	}
	return p, nil
}
