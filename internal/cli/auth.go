package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/login"
)

func (a *app) loginCmd() *cobra.Command {
	var (
		serverURL    string
		insecureHTTP bool
	)
	cmd := &cobra.Command{
		Use:   "login --server URL",
		Short: "Log in to a gitaccess server with an API key",
		Long: `Reads an API key from stdin (when stdin is not a terminal) or from a prompt
that does not echo, checks it with the server, and saves the server and key
in <config dir>/gitaccess/config.json, readable only by you.

GITACCESS_SERVER and GITACCESS_API_KEY, when set, override the saved login.`,
		Example: `  gitaccess login --server https://gitaccess.example.com
  printf '%s' "$KEY" | gitaccess login --server https://gitaccess.example.com`,
		Args: usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if serverURL == "" {
				serverURL = a.opts.Env(envServer)
			}
			if serverURL == "" {
				return fmt.Errorf("--server is required: the URL of your gitaccess server")
			}
			envInsecure, _ := strconv.ParseBool(a.opts.Env(envInsecureHTTP))
			insecure := insecureHTTP || envInsecure
			srv, err := client.NormalizeServerURL(serverURL, insecure)
			if err != nil {
				return fmt.Errorf("%w (on a trusted network, add --allow-insecure-http)", err)
			}
			key, err := a.readSecret(ctx, "the API key")
			if err != nil {
				return err
			}
			c, err := a.newClient(srv, key, insecure)
			if err != nil {
				return err
			}
			p, err := c.Whoami(ctx)
			if err != nil {
				return fmt.Errorf("the server did not accept the key: %w", err)
			}
			path, err := a.saveLogin(login.Login{Server: srv, APIKey: key, AllowInsecureHTTP: insecureHTTP})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s in organization %s (role %s).\nSaved to %s.\n",
				srv, clean(p.KeyName), clean(p.OrgName), clean(string(p.Role)), path)
			return err
		},
	}
	cmd.Flags().StringVar(&serverURL, "server", "", "gitaccess server URL, e.g. https://gitaccess.example.com (default $GITACCESS_SERVER)")
	cmd.Flags().BoolVar(&insecureHTTP, "allow-insecure-http", false, "allow a plain-http server on another host (the key crosses the network unencrypted)")
	return cmd
}

func (a *app) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "Forget the saved server and API key",
		Long:    "Removes the saved login. The API key itself stays valid until an admin revokes it (gitaccess apikey revoke ID).",
		Example: "  gitaccess logout",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, existed, err := a.removeLogin()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if existed {
				_, _ = fmt.Fprintf(w, "Logged out; removed %s.\n", path)
			} else {
				_, _ = fmt.Fprintln(w, "Not logged in.")
			}
			if a.opts.Env(envAPIKey) != "" {
				_, _ = fmt.Fprintf(a.opts.Stderr, "note: %s is still set in your environment\n", envAPIKey)
			}
			return nil
		},
	}
}

func (a *app) whoamiCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "whoami",
		Short:   "Show the organization, API key and role you act as",
		Example: "  gitaccess whoami\n  gitaccess whoami -o json",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			var server string
			return show(a, cmd, func(ctx context.Context, c *client.Client) (access.Principal, error) {
				server = c.Server()
				return c.Whoami(ctx)
			}, func(w io.Writer, p access.Principal) error {
				writePrincipal(w, server, p)
				return nil
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func writePrincipal(w io.Writer, server string, p access.Principal) {
	tw := newTable(w)
	row(tw, "Server:", server)
	row(tw, "Organization:", p.OrgName+" ("+p.OrgID+")")
	row(tw, "API key:", p.KeyName+" ("+p.KeyID+")")
	row(tw, "Role:", string(p.Role))
	_ = tw.Flush()
}
