package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/credhelper"
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
			credhelper.Run(cmd.Context(), args[0], appName, a.helperOptions(cmd))
			return nil
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "the application being cloned: its bound token serves its own repository")
	_ = cmd.RegisterFlagCompletionFunc("app", a.completeAppNames)
	return cmd
}

// helperOptions connect the credential helper to this invocation.
func (a *app) helperOptions(cmd *cobra.Command) credhelper.Options {
	return credhelper.Options{
		Stdin:  a.opts.Stdin,
		Stdout: cmd.OutOrStdout(),
		Stderr: a.opts.Stderr,
		Login:  a.loginSource(),
		Wire:   a.clientOptions(),
	}
}

// leanHelperName is the credential helper program installed beside
// gitaccess: the same helper as "gitaccess credential", in a program that
// starts several times faster (see cmd/git-credential-gitaccess).
const leanHelperName = "git-credential-gitaccess"

// helperCommand is the credential.helper value for a clone: the lean
// helper beside the gitaccess executable when there is one, else
// "gitaccess credential". Either way git's "store" (sent after every
// successful authentication, and which gitaccess ignores) is answered by
// the shell git runs the helper through, without starting the helper.
func helperCommand(exe string, args ...string) string {
	name := leanHelperName
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	lean := filepath.Join(filepath.Dir(exe), name)
	if fi, err := os.Stat(lean); err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0) {
		return gitx.HelperCommandSkippingStore(lean, args...)
	}
	return gitx.HelperCommandSkippingStore(exe, append([]string{"credential"}, args...)...)
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
repository (or git-credential-gitaccess, the same helper as a faster
program, when it is installed beside gitaccess): no token is ever in a
URL, a command line or .git/config.

APP (an argument without "://") is an application: its repository, its
branch (unless --ref is given), and its bound token. A URL is cloned with
the token whose URL prefix matches best; submodules get their own.

When that token has a CA bundle (token add --ca-file), git trusts it for
the repository's host during this clone only: it goes to git through its
environment from a temporary file deleted afterwards, never .git/config.

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
			repoURL, appName, helperArgs := args[0], "", []string(nil)
			if !strings.Contains(args[0], "://") {
				app, err := c.GetApp(ctx, args[0])
				if err != nil {
					return err
				}
				// The clone URL the server's own mirror fetches use.
				repoURL, appName, helperArgs = strings.TrimSuffix(app.RepoURL, "/")+".git", app.Name, []string{"--app", app.Name}
				if ref == "" {
					ref = app.Branch
				}
			}
			repoURL, _, err = gitx.NormalizeURL(repoURL)
			if err != nil {
				return fmt.Errorf("clone: %w; give an application name or https://HOST/OWNER/NAME", err)
			}
			ca, err := cloneCABundle(ctx, c, repoURL, appName)
			if err != nil {
				return err
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
				HelperCommand: helperCommand(exe, helperArgs...),
				CABundle:      caBytes(ca.CABundle),
				Progress:      func(line string) { _, _ = fmt.Fprintln(stderr, clean(line)) },
			})
			var certErr *gitx.CertificateError
			if errors.As(err, &certErr) && certErr.Host == ca.Host {
				certErr.Token = ca.Token
			}
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

// cloneCABundle asks the server for the CA bundle of the token that serves
// the repository, so the git the clone runs trusts a self-hosted
// provider's private CA for that host (gitx.CloneOptions.CABundle). A
// repository no token serves (a public one git may clone anonymously)
// needs none.
func cloneCABundle(ctx context.Context, c *client.Client, gitURL, appName string) (access.CABundle, error) {
	u, err := url.Parse(gitURL)
	if err != nil {
		return access.CABundle{}, fmt.Errorf("clone: %w", err)
	}
	req := access.CredentialRequest{Protocol: u.Scheme, Host: u.Host, Path: strings.TrimPrefix(u.Path, "/"), App: appName}
	ca, err := c.ResolveCABundle(ctx, req)
	var p *client.Problem
	if errors.As(err, &p) && p.Status == http.StatusNotFound {
		return access.CABundle{}, nil
	}
	if err != nil {
		return access.CABundle{}, fmt.Errorf("clone: finding the CA bundle of the token that serves %s: %w", gitURL, err)
	}
	return ca, nil
}

func caBytes(pem string) []byte {
	if pem == "" {
		return nil
	}
	return []byte(pem)
}

// repoName is the directory git would clone a (normalized) URL into: its
// last path segment without ".git".
func repoName(gitURL string) string {
	return strings.TrimSuffix(path.Base(gitURL), ".git")
}
