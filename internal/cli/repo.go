package cli

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/forge"
)

func (a *app) repoCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "repo",
		Aliases: []string{"repos"},
		Short:   "Browse the repositories, branches and files your tokens can see",
		Long: `Reads through the provider's API with a saved token: the one named with
--token, or else the token whose URL prefix matches the repository best.`,
	})
	cmd.AddCommand(a.repoListCmd(), a.repoBranchesCmd(), a.repoFileCmd())
	return cmd
}

func (a *app) repoListCmd() *cobra.Command {
	var token, search string
	cmd := &cobra.Command{
		Use:     "list --token NAME",
		Aliases: []string{"ls"},
		Short:   "List the repositories a token can see",
		Example: "  gitaccess repo list --token acme-ci\n  gitaccess repo list --token acme-ci --search api -o json",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				return errors.New("--token is required: the name of the token whose repositories to list")
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]forge.Repo, error) {
				return c.ListRepos(ctx, token, search)
			}, func(w io.Writer, repos []forge.Repo) error {
				if len(repos) == 0 {
					_, err := io.WriteString(w, "The token sees no repositories"+matching(search)+".\n")
					return err
				}
				tw := newTable(w)
				row(tw, "REPOSITORY", "DEFAULT BRANCH", "PRIVATE", "URL")
				for _, r := range repos {
					row(tw, r.FullName, orDash(r.DefaultBranch), yesNo(r.Private), r.WebURL)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "name of the token whose repositories to list")
	cmd.Flags().StringVar(&search, "search", "", "only repositories whose full name contains this")
	_ = cmd.RegisterFlagCompletionFunc("token", a.completeTokenNames)
	outputFlag(cmd)
	return cmd
}

func (a *app) repoBranchesCmd() *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:     "branches URL",
		Short:   "List a repository's branches",
		Example: "  gitaccess repo branches https://github.com/acme/api\n  gitaccess repo branches https://gitlab.com/acme/api --token gl-ci -o json",
		Args:    usageArgs(1, "the repository URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]forge.Branch, error) {
				return c.ListBranches(ctx, args[0], token)
			}, func(w io.Writer, branches []forge.Branch) error {
				tw := newTable(w)
				row(tw, "BRANCH", "COMMIT")
				for _, b := range branches {
					row(tw, b.Name, b.SHA)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "name of the token to read with (default: the token whose URL prefix matches best)")
	_ = cmd.RegisterFlagCompletionFunc("token", a.completeTokenNames)
	outputFlag(cmd)
	return cmd
}

func (a *app) repoFileCmd() *cobra.Command {
	var token, ref string
	cmd := &cobra.Command{
		Use:   "file URL PATH",
		Short: "Print one file of a repository, raw",
		Long: `Prints the file's bytes exactly as stored (at most 1 MiB), for reading a
Dockerfile or a build manifest without cloning.`,
		Example: "  gitaccess repo file https://github.com/acme/api Dockerfile\n  gitaccess repo file https://github.com/acme/api deploy/app.yaml --ref v1.4.0 > app.yaml",
		Args:    usageArgs(2, "the repository URL and the file's PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			data, err := c.ReadFile(cmd.Context(), args[0], args[1], ref, token)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "branch, tag or commit SHA (default: the default branch)")
	cmd.Flags().StringVar(&token, "token", "", "name of the token to read with (default: the token whose URL prefix matches best)")
	_ = cmd.RegisterFlagCompletionFunc("token", a.completeTokenNames)
	return cmd
}

func matching(search string) string {
	if search == "" {
		return ""
	}
	return " matching " + clean(search)
}
