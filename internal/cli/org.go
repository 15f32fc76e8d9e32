package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/store"
)

// newKeyOut is how a fresh key is printed as JSON or YAML: the API's
// creation response, key included, since this is its only showing.
type newKeyOut struct {
	access.APIKeyView
	Org string `json:"org"`
	Key string `json:"key"`
}

func revealKey(k access.NewAPIKey) newKeyOut { return newKeyOut{k.APIKeyView, k.Org, k.Key.Reveal()} }

// writeNewKey prints a new key once, with the warning that it will not be
// shown again.
func writeNewKey(w io.Writer, k access.NewAPIKey) {
	_, _ = fmt.Fprintf(w, "API key %s (id %s, role %s) in organization %s.\n", clean(k.Name), clean(k.ID), clean(string(k.Role)), clean(k.Org))
	_, _ = fmt.Fprintln(w, "Store this key now, e.g. in a password manager: it is shown only once.")
	_, _ = fmt.Fprintln(w)
	_, _ = fmt.Fprintln(w, "  "+clean(k.Key.Reveal()))
	_, _ = fmt.Fprintln(w)
}

func (a *app) orgCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "org",
		Short: "Create and list organizations",
		Long:  "Organizations keep their tokens, API keys and audit records apart. Only the instance's owners (Owners of the bootstrap organization) may create them.",
	})
	cmd.AddCommand(a.orgCreateCmd(), a.orgListCmd())
	return cmd
}

func (a *app) orgCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an organization and its first Owner API key",
		Example: "  gitaccess org create acme",
		Args:    usageArgs(1, "the organization NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			org, key, err := c.CreateOrg(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			v := struct {
				Org    access.OrgView `json:"org"`
				APIKey newKeyOut      `json:"api_key"`
			}{org, revealKey(key)}
			return render(cmd.OutOrStdout(), out, v, func(w io.Writer) error {
				_, _ = fmt.Fprintf(w, "Created organization %s (id %s).\n", clean(org.Name), clean(org.ID))
				writeNewKey(w, key)
				_, _ = fmt.Fprintln(w, "Give it to the organization's owner; they log in with: gitaccess login --server URL")
				return nil
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func (a *app) orgListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the organizations you can see",
		Example: "  gitaccess org list\n  gitaccess org list -o yaml",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]access.OrgView, error) {
				return c.ListOrgs(ctx)
			}, func(w io.Writer, orgs []access.OrgView) error {
				tw := newTable(w)
				row(tw, "ID", "NAME", "CREATED")
				for _, o := range orgs {
					row(tw, o.ID, o.Name, fmtTime(&o.CreatedAt, "-"))
				}
				return tw.Flush()
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func (a *app) apikeyCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "apikey",
		Aliases: []string{"apikeys", "key"},
		Short:   "Create, list and revoke API keys of your organization",
		Long: `API keys authenticate people and machines to gitaccess. Roles, from most
to least: owner, admin, devops (manages tokens and applications), member
(reads and browses), builder (only clones and fetches build contexts, for
build workers). Nobody can create a key with a role above their own.`,
	})
	cmd.AddCommand(a.apikeyCreateCmd(), a.apikeyListCmd(), a.apikeyRevokeCmd())
	return cmd
}

func roleNames() []string {
	return []string{string(store.RoleOwner), string(store.RoleAdmin), string(store.RoleDevOps), string(store.RoleMember), string(store.RoleBuilder)}
}

func (a *app) apikeyCreateCmd() *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "create NAME --role ROLE",
		Short: "Create an API key (shown once)",
		Example: `  gitaccess apikey create deploy-bot --role devops
  gitaccess apikey create alice --role admin -o json | jq -r .key
  gitaccess apikey create build-worker --role builder`,
		Args: usageArgs(1, "the key NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(roleNames(), role) {
				return fmt.Errorf("--role must be one of %s (got %q)", strings.Join(roleNames(), ", "), clean(role))
			}
			out, c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			key, err := c.CreateAPIKey(cmd.Context(), args[0], store.Role(role))
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), out, revealKey(key), func(w io.Writer) error {
				_, _ = fmt.Fprint(w, "Created ")
				writeNewKey(w, key)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "owner, admin, devops, member or builder")
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions(roleNames(), cobra.ShellCompDirectiveNoFileComp))
	outputFlag(cmd)
	return cmd
}

func (a *app) apikeyListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your organization's API keys (never their secrets)",
		Example: "  gitaccess apikey list",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]access.APIKeyView, error) {
				return c.ListAPIKeys(ctx)
			}, func(w io.Writer, keys []access.APIKeyView) error {
				tw := newTable(w)
				row(tw, "ID", "NAME", "ROLE", "CREATED", "CREATED BY", "LAST USED", "REVOKED")
				for _, k := range keys {
					row(tw, k.ID, k.Name, string(k.Role), fmtDate(&k.CreatedAt, "-"), orDash(k.CreatedBy), fmtDate(k.LastUsedAt, "never"), fmtDate(k.RevokedAt, "-"))
				}
				return tw.Flush()
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func (a *app) apikeyRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an API key; it stops working at once",
		Example: "  gitaccess apikey revoke key_01HZY3",
		Args:    usageArgs(1, "the key ID (see gitaccess apikey list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			if err := c.RevokeAPIKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Revoked API key %s.\n", clean(args[0]))
			return err
		},
	}
}

func (a *app) auditCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "audit",
		Short: "Read your organization's audit records",
	})
	var limit int
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List audit records, newest first",
		Example: "  gitaccess audit list\n  gitaccess audit list --limit 500 -o json",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit must not be negative")
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]access.AuditView, error) {
				return c.ListAudit(ctx, client.ListOptions{Limit: limit})
			}, func(w io.Writer, recs []access.AuditView) error {
				tw := newTable(w)
				row(tw, "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL")
				for _, r := range recs {
					row(tw, fmtTime(&r.At, "-"), r.Actor, r.Action, r.Target, r.Outcome, strings.TrimSpace(r.Detail))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "show at most this many records (0: all)")
	outputFlag(list)
	cmd.AddCommand(list)
	return cmd
}
