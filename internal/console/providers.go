package console

import (
	"strings"

	"github.com/gitaccess/gitaccess/internal/access"
)

// providerChoice is one entry of the add-token form's provider list: a
// provider as users think of it (github.com and Enterprise Server are two
// choices of one adapter), with the fields it needs and what to select when
// creating the token on the provider's side.
type providerChoice struct {
	ID       string // the form value
	Label    string
	Provider string // the adapter: github, gitlab, bitbucket, gitea
	// NeedsURL: the server's address must be given (no cloud default).
	NeedsURL       bool
	URLHint        string
	NeedsWorkspace bool
	// TokenPage is where the token is created, for cloud providers; for
	// self-hosted ones, the path under the server's URL.
	TokenPage string
	TokenPath string
	// Steps say what to select there, permission names in the provider's
	// own words (what the inspection report will name when one is missing).
	Steps []string
}

// providerChoices lists the add-token choices in display order.
var providerChoices = []providerChoice{
	{
		ID: "github", Label: "GitHub (github.com)", Provider: "github",
		TokenPage: "https://github.com/settings/tokens",
		Steps: []string{
			"Classic token: select the scopes repo (clone, pull requests) and admin:repo_hook (webhooks for auto-deploy and previews).",
			"Fine-grained token: choose the repositories, then Contents: Read-only, Webhooks: Read and write, Pull requests: Read and write.",
			"Set an expiry: gitaccess warns before it ends.",
		},
	},
	{
		ID: "github-enterprise", Label: "GitHub Enterprise Server", Provider: "github", NeedsURL: true,
		URLHint: "https://ghe.example.com", TokenPath: "/settings/tokens",
		Steps: []string{
			"On your server, open Settings → Developer settings → Personal access tokens.",
			"Classic token: select repo and admin:repo_hook.",
			"If your server uses a private CA, paste its certificate in CA bundle.",
		},
	},
	{
		ID: "gitlab", Label: "GitLab (gitlab.com)", Provider: "gitlab",
		TokenPage: "https://gitlab.com/-/user_settings/personal_access_tokens",
		Steps: []string{
			"Select the scopes read_repository (clone) and api (webhooks, merge requests).",
			"A group or project access token needs the Maintainer role to manage webhooks.",
		},
	},
	{
		ID: "gitlab-self-managed", Label: "GitLab (self-managed)", Provider: "gitlab", NeedsURL: true,
		URLHint: "https://gitlab.example.com", TokenPath: "/-/user_settings/personal_access_tokens",
		Steps: []string{
			"Select the scopes read_repository and api.",
			"A group or project access token needs the Maintainer role to manage webhooks.",
			"If your server uses a private CA, paste its certificate in CA bundle.",
		},
	},
	{
		ID: "bitbucket", Label: "Bitbucket Cloud", Provider: "bitbucket", NeedsWorkspace: true,
		TokenPage: "https://bitbucket.org/account/settings/",
		Steps: []string{
			"Create a repository or workspace access token (Repository settings or Workspace settings → Access tokens).",
			"Select the scopes repository (clone), webhook (webhooks) and pullrequest (pull requests).",
			"Give the workspace the token belongs to, e.g. acme.",
		},
	},
	{
		ID: "gitea", Label: "Gitea or Forgejo", Provider: "gitea", NeedsURL: true,
		URLHint: "https://gitea.example.com", TokenPath: "/user/settings/applications",
		Steps: []string{
			"On your server, open Settings → Applications → Generate new token.",
			"Select read:user and write:repository (read:repository is enough to clone only).",
			"Webhooks need admin access to each repository.",
		},
	},
}

func choiceByID(id string) (providerChoice, bool) {
	for _, c := range providerChoices {
		if c.ID == id {
			return c, true
		}
	}
	return providerChoice{}, false
}

// choiceFor guesses the form choice a saved token was made with.
func choiceFor(t access.TokenView) string {
	for _, c := range providerChoices {
		if c.Provider != t.Provider {
			continue
		}
		cloud := t.Host == "github.com" || t.Host == "gitlab.com" || t.Provider == "bitbucket"
		if cloud != c.NeedsURL || t.Provider == "gitea" {
			return c.ID
		}
	}
	return t.Provider
}

// TokenURL is the page to create a token on, given the server's address
// for self-hosted providers ("" when that address is not known yet).
func (c providerChoice) TokenURL(serverURL string) string {
	if c.TokenPage != "" {
		return c.TokenPage
	}
	serverURL = strings.TrimRight(strings.TrimSpace(serverURL), "/")
	if !strings.HasPrefix(serverURL, "https://") && !strings.HasPrefix(serverURL, "http://") {
		return ""
	}
	return serverURL + c.TokenPath
}
