package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
)

func (a *app) appCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "app",
		Aliases: []string{"apps"},
		Short:   "Bind repositories to tokens as applications, and fetch their build contexts",
		Long: `An application is a repository and branch your platform builds, bound to
the token that reads it: the one you name with --token, or else the token
whose URL prefix is the longest match (see gitaccess token add --prefix).
gitaccess proves the token can see the repository and the branch before
it saves the application.`,
	})
	cmd.AddCommand(a.appCreateCmd(), a.appListCmd(), a.appShowCmd(), a.appUpdateCmd(), a.appDeleteCmd(), a.appArchiveCmd())
	return cmd
}

func (a *app) appCreateCmd() *cobra.Command {
	var in access.AppInput
	cmd := &cobra.Command{
		Use:   "create NAME --repo URL",
		Short: "Bind a repository and branch to a token",
		Example: `  gitaccess app create web --repo https://github.com/acme/web
  gitaccess app create api --repo https://gitlab.com/acme/backend/api --branch release --token gl-ci --auto-deploy
  gitaccess app create docs --repo https://github.com/acme/monorepo --path docs --previews`,
		Args: usageArgs(1, "the application NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if in.RepoURL == "" {
				return errors.New("--repo is required: the repository URL, e.g. https://github.com/acme/web")
			}
			in.Name = args[0]
			out, c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			v, err := c.CreateApp(cmd.Context(), in)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), out, v, func(w io.Writer) error {
				_, _ = fmt.Fprintf(w, "Created application %s.\n\n", clean(v.Name))
				writeAppDetails(w, v)
				return nil
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&in.RepoURL, "repo", "", "repository URL, https://HOST/OWNER/NAME")
	fs.StringVar(&in.Branch, "branch", "", "branch to build (default: the repository's default branch)")
	fs.StringVar(&in.Token, "token", "", "name of the token to read it with (default: the token whose URL prefix matches best)")
	fs.StringVar(&in.Path, "path", "", "directory inside the repository to build (default: the whole repository)")
	fs.BoolVar(&in.AutoDeploy, "auto-deploy", false, "ask the platform to deploy on every push to the branch")
	fs.BoolVar(&in.Previews, "previews", false, "ask the platform for preview deployments of pull requests")
	_ = cmd.RegisterFlagCompletionFunc("token", a.completeTokenNames)
	outputFlag(cmd)
	return cmd
}

func (a *app) appListCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the organization's applications and the tokens serving them",
		Example: "  gitaccess app list\n  gitaccess app list -o json | jq -r '.[] | select(.token == \"\") | .name'",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]access.AppView, error) {
				return c.ListApps(ctx, client.ListOptions{Limit: limit})
			}, func(w io.Writer, apps []access.AppView) error {
				if len(apps) == 0 {
					_, _ = fmt.Fprintln(w, "No applications yet; add one with: gitaccess app create NAME --repo URL")
					return nil
				}
				tw := newTable(w)
				row(tw, "NAME", "REPOSITORY", "BRANCH", "PATH", "TOKEN", "BINDING", "AUTO-DEPLOY", "PREVIEWS", "LAST USED")
				for _, v := range apps {
					row(tw, v.Name, v.RepoURL, v.Branch, orDash(v.Path), orDash(v.Token), v.Binding, yesNo(v.AutoDeploy), yesNo(v.Previews), fmtDate(v.LastUsedAt, "never"))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many applications (0: all)")
	outputFlag(cmd)
	return cmd
}

func (a *app) appShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show NAME",
		Aliases:           []string{"view", "get"},
		Short:             "Show an application, the token that serves it and why",
		Example:           "  gitaccess app show web\n  gitaccess app show web -o yaml",
		Args:              usageArgs(1, "the application NAME"),
		ValidArgsFunction: a.completeAppNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (access.AppView, error) {
				return c.GetApp(ctx, args[0])
			}, func(w io.Writer, v access.AppView) error {
				writeAppDetails(w, v)
				return nil
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func (a *app) appUpdateCmd() *cobra.Command {
	var (
		name, repo, branch, token, path string
		autoDeploy, previews            bool
	)
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Rename an application or change its repository, branch, token, path or switches",
		Long: `Changes only what is given. A new repository, branch or token is proven
with the provider before anything is saved. --token "" unbinds the named
token, so the longest matching URL prefix serves the application again.`,
		Example: `  gitaccess app update web --branch release
  gitaccess app update web --token acme-ci
  gitaccess app update web --auto-deploy=false --previews`,
		Args:              usageArgs(1, "the application NAME"),
		ValidArgsFunction: a.completeAppNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var in access.AppUpdate
			str := func(flag, v string) *string {
				if !fs.Changed(flag) {
					return nil
				}
				return &v
			}
			flag := func(name string, v bool) *bool {
				if !fs.Changed(name) {
					return nil
				}
				return &v
			}
			in.Name, in.RepoURL, in.Branch, in.Token, in.Path = str("name", name), str("repo", repo), str("branch", branch), str("token", token), str("path", path)
			in.AutoDeploy, in.Previews = flag("auto-deploy", autoDeploy), flag("previews", previews)
			if in == (access.AppUpdate{}) {
				return errors.New("nothing to change: give --name, --repo, --branch, --token, --path, --auto-deploy or --previews")
			}
			out, c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			v, err := c.UpdateApp(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), out, v, func(w io.Writer) error {
				_, _ = fmt.Fprintf(w, "Updated application %s.\n\n", clean(v.Name))
				writeAppDetails(w, v)
				return nil
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "new name")
	fs.StringVar(&repo, "repo", "", "new repository URL")
	fs.StringVar(&branch, "branch", "", "new branch")
	fs.StringVar(&token, "token", "", `name of the token to bind ("": the longest matching URL prefix)`)
	fs.StringVar(&path, "path", "", `directory inside the repository to build ("": all of it)`)
	fs.BoolVar(&autoDeploy, "auto-deploy", false, "deploy on every push to the branch (--auto-deploy=false turns it off)")
	fs.BoolVar(&previews, "previews", false, "preview deployments of pull requests (--previews=false turns them off)")
	_ = cmd.RegisterFlagCompletionFunc("token", a.completeTokenNames)
	outputFlag(cmd)
	return cmd
}

func (a *app) appDeleteCmd() *cobra.Command {
	var force bool
	cmd := a.deleteCmd("app", "application", a.completeAppNames, func(ctx context.Context, c *client.Client, name string) error {
		err := c.DeleteApp(ctx, name, force)
		if err != nil && !force && providerFailed(err) {
			return &hintError{err, "the application's webhook could not be deleted at the provider, so the application was kept; fix the token and try again, " +
				"or pass --force to delete the application anyway and remove the webhook from the repository yourself"}
		}
		return err
	})
	cmd.Long = `Deletes an application after you type its name to confirm (without a
terminal, --yes is required), and its webhook: first at the provider,
then in gitaccess. When the provider cannot delete the webhook, the
application is kept; --force deletes it anyway and leaves the webhook
behind on the repository.`
	cmd.Example = "  gitaccess app delete web\n  gitaccess app delete web --yes\n  gitaccess app delete web --force --yes"
	cmd.Flags().BoolVar(&force, "force", false, "delete the application even when the provider cannot delete its webhook (it is left on the repository)")
	return cmd
}

// providerFailed tells whether err is the provider refusing or failing
// (not gitaccess refusing the caller).
func providerFailed(err error) bool {
	var p *client.Problem
	if !errors.As(err, &p) {
		return false
	}
	switch p.Status {
	case http.StatusUnprocessableEntity, http.StatusBadGateway, http.StatusServiceUnavailable:
		return true
	}
	return false
}

func (a *app) appArchiveCmd() *cobra.Command {
	var ref, output string
	cmd := &cobra.Command{
		Use:   "archive APP [--ref REF] [-o FILE]",
		Short: "Download an application's build context as tar.gz",
		Long: `Downloads the application's tree at REF (default: its branch), under its
path, as a tar.gz the server streams from its mirror cache. The archive is
written to a temporary file beside FILE and renamed into place only when
complete (mode 0600, as it holds private source); "-o -" streams it to
stdout instead.

Prints the commit SHA the archive holds on stdout (on stderr with -o -).
FILE defaults to APP-<12-digit SHA>.tar.gz in the current directory.`,
		Example: `  gitaccess app archive web -o ctx.tar.gz
  sha=$(gitaccess app archive web --ref v1.4.0 -o ctx.tar.gz)
  gitaccess app archive web -o - | docker build -`,
		Args:              usageArgs(1, "the application NAME"),
		ValidArgsFunction: a.completeAppNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			sha, body, err := c.AppArchive(ctx, args[0], ref)
			if err != nil {
				return err
			}
			defer func() { _ = body.Close() }()
			if output == "-" {
				if _, err := io.Copy(cmd.OutOrStdout(), body); err != nil {
					return fmt.Errorf("archive of %s at %s is incomplete: %w", clean(args[0]), sha, err)
				}
				_, err = fmt.Fprintln(a.opts.Stderr, sha)
				return err
			}
			path := output
			if path == "" {
				path = args[0] + "-" + sha[:12] + ".tar.gz"
			}
			var n int64
			if err := writeFileAtomic(path, func(w io.Writer) (err error) {
				n, err = io.Copy(w, body)
				return err
			}); err != nil {
				return fmt.Errorf("archive of %s at %s not written to %s: %w", clean(args[0]), sha, path, err)
			}
			_, _ = fmt.Fprintf(a.opts.Stderr, "Wrote %s (%d bytes): %s at commit %s.\n", filepath.Clean(path), n, clean(args[0]), sha)
			_, err = fmt.Fprintln(cmd.OutOrStdout(), sha)
			return err
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "branch, tag or commit SHA (default: the application's branch)")
	cmd.Flags().StringVarP(&output, "output", "o", "", `file to write ("-": stdout; default APP-<SHA>.tar.gz)`)
	_ = cmd.MarkFlagFilename("output", "tar.gz", "tgz")
	return cmd
}

func writeAppDetails(w io.Writer, v access.AppView) {
	tw := newTable(w)
	row(tw, "Name:", v.Name)
	row(tw, "Repository:", v.RepoURL)
	if v.RepoFullName != "" {
		row(tw, "Full name:", v.RepoFullName)
	}
	row(tw, "Branch:", v.Branch)
	row(tw, "Path:", orDash(v.Path))
	row(tw, "Token:", orDash(v.Token))
	row(tw, "Why:", v.Reason)
	row(tw, "Auto-deploy:", yesNo(v.AutoDeploy))
	row(tw, "Previews:", yesNo(v.Previews))
	if v.Hook != nil {
		row(tw, "Webhook:", v.Hook.URL)
		row(tw, "Webhook state:", hookState(*v.Hook))
	} else {
		row(tw, "Webhook:", "none (only auto-deploy and previews need one)")
	}
	row(tw, "Last used:", fmtTime(v.LastUsedAt, "never"))
	row(tw, "Created:", fmtTime(&v.CreatedAt, "-"))
	row(tw, "Updated:", fmtTime(&v.UpdatedAt, "-"))
	_ = tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) completeAppNames(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return a.completeNames(cmd, args, func(ctx context.Context, c *client.Client) ([]string, error) {
		apps, err := c.ListApps(ctx, client.ListOptions{Limit: 500})
		names := make([]string, 0, len(apps))
		for _, v := range apps {
			names = append(names, v.Name+"\t"+v.RepoURL)
		}
		return names, err
	})
}
