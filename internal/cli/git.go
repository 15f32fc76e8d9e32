package cli

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/gitx"
)

func (a *app) credentialCmd() *cobra.Command {
	var appName string
	cmd := &cobra.Command{
		Use:   "credential get|store|erase [--app APP]",
		Short: "Git credential helper: hands git the token that serves a repository",
		Long: `Speaks git's credential-helper protocol (see git help credential) on stdin
and stdout. Git runs it; people rarely do.

  get    asks the server for the token that serves the repository (with
         --app, the application's own token for its repository) and
         answers username= and password=
  store  does nothing: gitaccess keeps the tokens
  erase  tells the server git was refused; it re-inspects the token and
         marks it invalid if its provider refuses it, and the reason is
         printed on stderr

On any failure it prints one line on stderr and answers nothing, so git
stops with "could not read Username" (or asks the next helper). Git must
send the repository's path: set credential.useHttpPath=true (gitaccess
clone does). The server and API key come from the saved login,
GITACCESS_SERVER and GITACCESS_API_KEY, and GITACCESS_CONFIG_DIR.`,
		Example: `  git -c credential.helper='!gitaccess credential' -c credential.useHttpPath=true clone https://github.com/acme/api
  printf 'protocol=https\nhost=github.com\npath=acme/api.git\n\n' | gitaccess credential get`,
		Args: usageArgs(1, "the ACTION git asks for: get, store or erase"),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "get":
				a.credentialGet(cmd, appName)
			case "erase":
				a.credentialErase(cmd, appName)
			default:
				// store, and any action a newer git adds: a helper ignores
				// what it does not do (gitcredentials(7)).
				_, _ = io.Copy(io.Discard, io.LimitReader(a.opts.Stdin, 1<<20))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "the application being cloned: its bound token serves its own repository")
	_ = cmd.RegisterFlagCompletionFunc("app", a.completeAppNames)
	return cmd
}

// credentialRequest reads git's request and asks it of the server.
func (a *app) credentialRequest(appName string) (*gitx.Request, access.CredentialRequest, error) {
	req, err := gitx.ParseRequest(a.opts.Stdin)
	if err != nil {
		return nil, access.CredentialRequest{}, fmt.Errorf("reading git's request: %w", err)
	}
	if req.Password.Len() > 0 {
		a.remember(req.Password)
	}
	return req, access.CredentialRequest{Protocol: req.Protocol, Host: req.Host, Path: req.Path, App: appName}, nil
}

// credentialGet answers git, or explains on stderr why it cannot.
func (a *app) credentialGet(cmd *cobra.Command, appName string) {
	req, in, err := a.credentialRequest(appName)
	if err != nil {
		a.helperSays("cannot answer git: %s", a.oneLine(err.Error()))
		return
	}
	c, err := a.apiClient()
	if err != nil {
		a.helperSays("no credential for %s: %s", clean(req.URL()), a.oneLine(err.Error()))
		return
	}
	cred, err := c.ResolveCredential(cmd.Context(), in)
	if err != nil {
		a.helperSays("no credential for %s: %s", clean(req.URL()), a.oneLine(err.Error()))
		return
	}
	a.remember(cred.Password)
	if _, err := (gitx.Response{Username: cred.Username, Password: cred.Password}).WriteTo(cmd.OutOrStdout()); err != nil {
		a.helperSays("cannot answer git: %s", a.oneLine(err.Error()))
	}
}

// credentialErase reports a refused credential and what the server made
// of it.
func (a *app) credentialErase(cmd *cobra.Command, appName string) {
	req, in, err := a.credentialRequest(appName)
	if err != nil {
		a.helperSays("cannot read git's refusal: %s", a.oneLine(err.Error()))
		return
	}
	c, err := a.apiClient()
	if err == nil {
		var res access.RejectResult
		if res, err = c.RejectCredential(cmd.Context(), in); err == nil {
			if res.Status == access.StatusInvalid {
				a.helperSays("token %s was refused and is now marked invalid: %s; update it with gitaccess token update %s --value",
					clean(res.Token), strings.TrimRight(a.oneLine(res.Detail), "."), clean(res.Token))
				return
			}
			a.helperSays("git was refused with token %s (status %s): %s", clean(res.Token), clean(res.Status), a.oneLine(res.Detail))
			return
		}
	}
	a.helperSays("git was refused for %s, and reporting it failed: %s", clean(req.URL()), a.oneLine(err.Error()))
}

// helperSays prints one line for the person reading git's output.
func (a *app) helperSays(format string, args ...any) {
	_, _ = fmt.Fprintf(a.opts.Stderr, "gitaccess: "+format+"\n", args...)
}

// oneLine is msg scrubbed and cleaned, its lines joined.
func (a *app) oneLine(msg string) string {
	var parts []string
	for l := range strings.SplitSeq(a.scrub(msg), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, clean(l))
		}
	}
	return strings.Join(parts, "; ")
}

func (a *app) cloneCmd() *cobra.Command {
	var (
		ref     string
		depth   int
		recurse bool
	)
	cmd := &cobra.Command{
		Use:   "clone APP|URL [DIR]",
		Short: "Clone an application's repository, or any URL, with gitaccess as git's credential helper",
		Long: `Clones with git, which asks "gitaccess credential" for the token per
repository: no token is ever in a URL, a command line or .git/config.

APP (an argument without "://") is an application: its repository, its
branch (unless --ref is given), and its bound token. A URL is cloned with
the token whose URL prefix matches best; submodules get their own.

git runs with a controlled environment (no user or system git config, no
prompts, https only); it finds this server through GITACCESS_SERVER and
GITACCESS_CONFIG_DIR, and GITACCESS_API_KEY when you set it. DIR defaults
to the repository's name and must not exist or be empty.`,
		Example: `  gitaccess clone web
  gitaccess clone web build/src --ref v1.4.0 --depth 1
  gitaccess clone https://github.com/acme/api --recurse-submodules`,
		Args: rangeArgs(1, 2, "an application or repository URL, and optionally a DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			l, err := a.resolveLogin()
			if err != nil {
				return err
			}
			c, err := a.newClient(l.Server, l.APIKey, l.AllowInsecureHTTP)
			if err != nil {
				return err
			}
			repoURL, helper := args[0], []string{"credential"}
			if !strings.Contains(args[0], "://") {
				app, err := c.GetApp(ctx, args[0])
				if err != nil {
					return err
				}
				// The clone URL the server's own mirror fetches use.
				repoURL, helper = strings.TrimSuffix(app.RepoURL, "/")+".git", append(helper, "--app", app.Name)
				if ref == "" {
					ref = app.Branch
				}
			}
			repoURL, _, err = gitx.NormalizeURL(repoURL)
			if err != nil {
				return fmt.Errorf("clone: %w; give an application name or https://HOST/OWNER/NAME", err)
			}
			dir := repoName(repoURL)
			if len(args) == 2 {
				dir = args[1]
			}
			exe, err := a.opts.Executable()
			if err != nil {
				return fmt.Errorf("finding the gitaccess program for git to run: %w", err)
			}
			cfg, err := a.configPath()
			if err != nil {
				return err
			}
			env := []string{envServer + "=" + l.Server, envConfigDir + "=" + filepath.Dir(cfg)}
			if key := a.opts.Env(envAPIKey); key != "" {
				// Only a key the user put in the environment goes on there;
				// a saved one stays in the config file.
				env = append(env, envAPIKey+"="+key)
			}
			if l.AllowInsecureHTTP {
				env = append(env, envInsecureHTTP+"=1")
			}
			home, err := os.MkdirTemp("", "gitaccess-git-home-")
			if err != nil {
				return fmt.Errorf("clone: %w", err)
			}
			defer func() { _ = os.RemoveAll(home) }()
			git, err := a.opts.NewCloner(home, env)
			if err != nil {
				return fmt.Errorf("clone: %w", err)
			}
			stderr := a.opts.Stderr
			err = git.Clone(ctx, gitx.CloneOptions{
				URL: repoURL, Dir: dir, Ref: ref, Depth: depth, RecurseSubmodules: recurse,
				HelperCommand: gitx.HelperCommand(exe, helper...),
				Progress:      func(line string) { _, _ = fmt.Fprintln(stderr, clean(line)) },
			})
			if err != nil {
				return err
			}
			at := ""
			if ref != "" {
				at = " at " + ref
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Cloned %s%s into %s.\n", clean(repoURL), clean(at), clean(dir))
			return err
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "branch, tag or commit SHA (default: the application's branch, or the default branch)")
	cmd.Flags().IntVar(&depth, "depth", 0, "shallow clone of this many commits (0: full history)")
	cmd.Flags().BoolVar(&recurse, "recurse-submodules", false, "clone submodules too, each with the token that serves it")
	return cmd
}

// repoName is the directory git would clone a (normalized) URL into: its
// last path segment without ".git".
func repoName(gitURL string) string {
	return strings.TrimSuffix(path.Base(gitURL), ".git")
}
