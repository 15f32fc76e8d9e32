package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/forge"
)

const maxCABytes = 1 << 20

func (a *app) tokenCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "token",
		Short: "Add, test, list, update and delete Git provider tokens",
		Long: `Git provider tokens let gitaccess clone, install webhooks and read pull
requests for your organization. Every token is tested with its provider
before it is saved; its value is never shown again.`,
	})
	cmd.AddCommand(a.tokenAddCmd(), a.tokenTestCmd(), a.tokenListCmd(), a.tokenShowCmd(), a.tokenUpdateCmd(), a.tokenRotateCmd(), a.tokenDeleteCmd())
	return cmd
}

// endpointFlags say where a token lives and what it is for.
type endpointFlags struct {
	provider  string
	url       string
	workspace string
	caFile    string
	uses      []string
	prefixes  []string
}

func (f *endpointFlags) register(cmd *cobra.Command, provider bool) {
	fs := cmd.Flags()
	if provider {
		fs.StringVar(&f.provider, "provider", "", "provider: github, gitlab, bitbucket or gitea")
		_ = cmd.RegisterFlagCompletionFunc("provider", cobra.FixedCompletions(providerNames(), cobra.ShellCompDirectiveNoFileComp))
	}
	fs.StringVar(&f.url, "url", "", "provider URL for GitHub Enterprise Server, self-hosted GitLab, or Gitea/Forgejo (default: the provider's cloud)")
	fs.StringVar(&f.workspace, "workspace", "", "Bitbucket workspace the token belongs to")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of CA certificates to trust for this provider, added to the system roots")
	fs.StringSliceVar(&f.uses, "use", nil, "what the token is for: clone, webhooks, pull-requests (default: all)")
	_ = cmd.RegisterFlagCompletionFunc("use", cobra.FixedCompletions([]string{"clone", "webhooks", "pull-requests"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("ca-file", "pem", "crt")
}

// registerPrefix adds --prefix, for the verbs that save a token.
func (f *endpointFlags) registerPrefix(cmd *cobra.Command, usage string) {
	cmd.Flags().StringArrayVar(&f.prefixes, "prefix", nil, usage)
}

// usesAndCA reads --use (when given) and --ca-file.
func (f *endpointFlags) usesAndCA(cmd *cobra.Command) (uses []string, ca string, err error) {
	if cmd.Flags().Changed("use") {
		if uses, err = parseUses(f.uses); err != nil {
			return nil, "", err
		}
	}
	if f.caFile != "" {
		if ca, err = readCABundle(f.caFile); err != nil {
			return nil, "", err
		}
	}
	return uses, ca, nil
}

func (f *endpointFlags) changed(cmd *cobra.Command) bool {
	for _, n := range []string{"provider", "url", "workspace", "ca-file", "use"} {
		if fl := cmd.Flags().Lookup(n); fl != nil && fl.Changed {
			return true
		}
	}
	return false
}

func providerNames() []string {
	out := make([]string, 0, len(forge.Providers))
	for _, p := range forge.Providers {
		out = append(out, string(p))
	}
	return out
}

func checkProvider(p string) error {
	if p == "" {
		return errors.New("--provider is required: github, gitlab, bitbucket or gitea")
	}
	if !slices.Contains(forge.Providers, forge.Provider(p)) {
		return fmt.Errorf("unknown provider %q: use github, gitlab, bitbucket or gitea", clean(p))
	}
	return nil
}

func parseUses(uses []string) ([]string, error) {
	us, err := forge.ParseUses(strings.Join(uses, ","))
	if err != nil {
		return nil, fmt.Errorf("--use: %w", err)
	}
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u)
	}
	return out, nil
}

// readCABundle reads and checks a PEM bundle here, where the user can fix
// the path, rather than letting the server refuse it later.
func readCABundle(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--ca-file: %w", err)
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, maxCABytes+1))
	if err != nil {
		return "", fmt.Errorf("--ca-file: %w", err)
	}
	if len(b) > maxCABytes {
		return "", fmt.Errorf("--ca-file %s is larger than %d bytes", path, maxCABytes)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return "", fmt.Errorf("--ca-file %s holds no PEM certificate", path)
	}
	return string(b), nil
}

func tokenWhat(provider string) string {
	return "the " + forge.Title(forge.Provider(provider)) + " token"
}

// hintError adds advice after an error's own lines.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "\nhint: " + e.hint }
func (e *hintError) Unwrap() error { return e.err }

// inspectionFailed shows the report behind a refused token (it says what
// the token can and cannot do) and returns err with advice.
func (a *app) inspectionFailed(w io.Writer, format string, err error, saving bool) error {
	var p *client.Problem
	if !errors.As(err, &p) {
		return err
	}
	if p.Report != nil {
		if rerr := render(w, format, p.Report, func(w io.Writer) error {
			writeReport(w, *p.Report, a.opts.Now())
			_, _ = fmt.Fprintln(w)
			return nil
		}); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	switch p.Slug() {
	case client.SlugMissingPermissions:
		if saving {
			return &hintError{err, `grant the missing permissions on the provider and try again, or add --allow-missing to save the token with status "limited"`}
		}
		return &hintError{err, "grant the missing permissions on the provider, or narrow what the token is for with --use"}
	case client.SlugProviderUnreachable:
		return &hintError{err, "check --url, and --ca-file if the provider uses a private certificate authority"}
	}
	return err
}

// lacking is the verdict of a test: the token cannot do all it is for.
func lacking(r forge.Report) error {
	var lines []string
	for _, c := range r.Checks {
		for _, m := range c.Missing {
			lines = append(lines, fmt.Sprintf("  %s: missing %s", c.Use, m))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return errors.New("the token lacks permissions for its uses:\n" + strings.Join(lines, "\n"))
}

func (a *app) tokenAddCmd() *cobra.Command {
	var (
		ep           endpointFlags
		description  string
		allowMissing bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME --provider PROVIDER",
		Short: "Test a token with its provider and save it",
		Long: `Reads the token from stdin (when stdin is not a terminal) or from a prompt
that does not echo, tests it with the provider, prints what the provider says
the token is and can do, and saves it.

A token that lacks permissions for one of its uses is refused, with the
missing permissions in the provider's words; --allow-missing saves it anyway
with status "limited".

A token serves the repositories under its URL prefixes (default: all of its
provider's host, or its Bitbucket workspace); a clone or application with
no token named uses the token with the longest matching prefix.`,
		Example: `  gitaccess token add ci --provider github
  gitaccess token add ci --provider github < token.txt
  pass show github/ci | gitaccess token add ci --provider github --use clone
  gitaccess token add ghe --provider github --url https://ghe.example.com --ca-file corp-ca.pem
  gitaccess token add bb --provider bitbucket --workspace acme
  gitaccess token add tea --provider gitea --url https://gitea.example.com
  gitaccess token add acme-ci --provider github --prefix https://github.com/acme/ --prefix https://github.com/acme-tools/`,
		Args: usageArgs(1, "the token NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkProvider(ep.provider); err != nil {
				return err
			}
			in := access.AddTokenInput{Name: args[0], Description: description, Provider: ep.provider, URL: ep.url, Workspace: ep.workspace,
				Prefixes: ep.prefixes, AllowMissing: allowMissing}
			var err error
			if in.Uses, in.CABundle, err = ep.usesAndCA(cmd); err != nil {
				return err
			}
			out, c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if in.Value, err = a.readSecret(ctx, tokenWhat(ep.provider)); err != nil {
				return err
			}
			return a.saveToken(cmd.OutOrStdout(), out, "Saved", func() (access.TokenResult, error) { return c.AddToken(ctx, in) })
		},
	}
	ep.register(cmd, true)
	ep.registerPrefix(cmd, "repository URL prefix the token serves, e.g. https://github.com/acme/ (repeatable; default: the provider's host)")
	cmd.Flags().StringVar(&description, "description", "", "what the token is for, for people")
	cmd.Flags().BoolVar(&allowMissing, "allow-missing", false, `save the token even if it lacks permissions for its uses (status "limited")`)
	outputFlag(cmd)
	return cmd
}

// saveToken runs save (add or update) and prints the provider's report
// and the token as saved, or the report behind a refusal.
func (a *app) saveToken(w io.Writer, format, verb string, save func() (access.TokenResult, error)) error {
	res, err := save()
	if err != nil {
		return a.inspectionFailed(w, format, err, true)
	}
	return render(w, format, res, func(w io.Writer) error {
		writeReport(w, res.Report, a.opts.Now())
		_, _ = fmt.Fprintln(w)
		writeSaved(w, verb, res.Token)
		return nil
	})
}

func writeSaved(w io.Writer, verb string, t access.TokenView) {
	_, _ = fmt.Fprintf(w, "%s token %s: status %s, fingerprint %s, last 4 %s.\n", verb, clean(t.Name), clean(t.Status), clean(orDash(t.Fingerprint)), clean(orDash(t.Last4)))
	if t.StatusDetail != "" {
		_, _ = fmt.Fprintf(w, "  %s\n", clean(t.StatusDetail))
	}
}

func (a *app) tokenTestCmd() *cobra.Command {
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "test [NAME | --provider PROVIDER]",
		Short: "Test a saved token, or a token value without saving it",
		Long: `With NAME, asks the provider about a saved token again and records the
outcome (status, scopes, expiry).

With --provider, tests a token value read from stdin (or a prompt that does
not echo) and saves nothing.

Exits non-zero when the token lacks a permission one of its uses needs.`,
		Example: `  gitaccess token test ci
  gitaccess token test --provider gitlab --url https://gitlab.example.com < token.txt`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeTokenNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := outputFormat(cmd)
			if err := checkFormat(out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				if ep.changed(cmd) {
					return errors.New("give either NAME (a saved token) or --provider and friends (a value on stdin), not both")
				}
				c, err := a.apiClient()
				if err != nil {
					return err
				}
				res, err := c.TestToken(ctx, args[0])
				if err != nil {
					return a.inspectionFailed(w, out, err, false)
				}
				if err := render(w, out, res, func(w io.Writer) error {
					writeReport(w, res.Report, a.opts.Now())
					_, _ = fmt.Fprintln(w)
					writeSaved(w, "Tested", res.Token)
					return nil
				}); err != nil {
					return err
				}
				if res.Token.Status == access.StatusInvalid || res.Token.Status == access.StatusExpired {
					return fmt.Errorf("token %s is %s", clean(res.Token.Name), res.Token.Status)
				}
				return lacking(res.Report)
			}
			if ep.provider == "" {
				return errors.New("give a token NAME to test a saved token, or --provider to test a value from stdin")
			}
			if err := checkProvider(ep.provider); err != nil {
				return err
			}
			in := access.TestValueInput{Provider: ep.provider, URL: ep.url, Workspace: ep.workspace}
			var err error
			if in.Uses, in.CABundle, err = ep.usesAndCA(cmd); err != nil {
				return err
			}
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			if in.Value, err = a.readSecret(ctx, tokenWhat(ep.provider)); err != nil {
				return err
			}
			rep, err := c.TestValue(ctx, in)
			if err != nil {
				return a.inspectionFailed(w, out, err, false)
			}
			if err := render(w, out, rep, func(w io.Writer) error {
				writeReport(w, rep, a.opts.Now())
				_, _ = fmt.Fprintln(w)
				_, _ = fmt.Fprintln(w, "Nothing was saved.")
				return nil
			}); err != nil {
				return err
			}
			return lacking(rep)
		},
	}
	ep.register(cmd, true)
	outputFlag(cmd)
	return cmd
}

func (a *app) tokenListCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the organization's tokens",
		Example: `  gitaccess token list
  gitaccess token list -o json | jq -r '.[] | select(.status != "valid") | .name'`,
		Args: usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]access.TokenView, error) {
				return c.ListTokens(ctx, client.ListOptions{Limit: limit})
			}, func(w io.Writer, tokens []access.TokenView) error {
				if len(tokens) == 0 {
					_, _ = fmt.Fprintln(w, "No tokens yet; add one with: gitaccess token add NAME --provider PROVIDER")
					return nil
				}
				tw := newTable(w)
				row(tw, "NAME", "PROVIDER", "HOST", "KIND", "SCOPES", "STATUS", "EXPIRES", "LAST VALIDATED", "LAST USED", "FINGERPRINT", "LAST4", "WARN")
				now := a.opts.Now()
				for _, t := range tokens {
					row(tw, t.Name, t.Provider, t.Host, orDash(t.Kind), strings.Join(t.Scopes, ","), t.Status, fmtExpiry(t.ExpiresAt, now),
						fmtDate(t.LastValidatedAt, "never"), fmtDate(t.LastUsedAt, "never"), orDash(t.Fingerprint), orDash(t.Last4), tokenWarn(t, now))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many tokens (0: all)")
	outputFlag(cmd)
	return cmd
}

func (a *app) tokenShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show NAME",
		Aliases:           []string{"view", "get"},
		Short:             "Show one token: provider, prefixes, scopes, expiry, status, use (never its value)",
		Example:           `  gitaccess token show ci`,
		Args:              usageArgs(1, "the token NAME"),
		ValidArgsFunction: a.completeTokenNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (access.TokenView, error) {
				return c.GetToken(ctx, args[0])
			}, func(w io.Writer, t access.TokenView) error {
				writeTokenDetails(w, t, a.opts.Now())
				return nil
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func (a *app) tokenUpdateCmd() *cobra.Command {
	var (
		ep           endpointFlags
		name, desc   string
		newValue     bool
		allowMissing bool
	)
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Rename, re-describe, re-point or rotate a token",
		Long: `Changes only what is given. With --value, reads the new token value from
stdin (or a prompt that does not echo); the new value, like a new URL, is
tested with the provider before it replaces the old one.

--ca-file "" removes a CA bundle. --prefix replaces the whole set of URL
prefixes the token serves; repeat it to give several.`,
		Example: `  gitaccess token update ci --value < new-token.txt
  gitaccess token update ci --name ci-github --description "CI clones"
  gitaccess token update ci --use clone,webhooks
  gitaccess token update ci --prefix https://github.com/acme/ --prefix https://github.com/acme-tools/`,
		Args:              usageArgs(1, "the token NAME"),
		ValidArgsFunction: a.completeTokenNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := outputFormat(cmd)
			if err := checkFormat(out); err != nil {
				return err
			}
			fs := cmd.Flags()
			in := access.UpdateTokenInput{AllowMissing: allowMissing}
			set := func(flag string, v string) *string {
				if !fs.Changed(flag) {
					return nil
				}
				return &v
			}
			in.Name = set("name", name)
			in.Description = set("description", desc)
			in.URL = set("url", ep.url)
			in.Workspace = set("workspace", ep.workspace)
			if fs.Changed("ca-file") {
				ca := ""
				if ep.caFile != "" {
					var err error
					if ca, err = readCABundle(ep.caFile); err != nil {
						return err
					}
				}
				in.CABundle = &ca
			}
			if fs.Changed("use") {
				uses, err := parseUses(ep.uses)
				if err != nil {
					return err
				}
				in.Uses = uses
			}
			if fs.Changed("prefix") {
				in.Prefixes = ep.prefixes
			}
			if in.Name == nil && in.Description == nil && in.URL == nil && in.Workspace == nil && in.CABundle == nil && in.Uses == nil && in.Prefixes == nil && !newValue {
				return errors.New("nothing to change: give --name, --description, --url, --workspace, --ca-file, --use, --prefix or --value")
			}
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			if newValue {
				v, err := a.readSecret(ctx, "the new token value")
				if err != nil {
					return err
				}
				in.Value = &v
			}
			return a.saveToken(cmd.OutOrStdout(), out, "Updated", func() (access.TokenResult, error) { return c.UpdateToken(ctx, args[0], in) })
		},
	}
	ep.register(cmd, false)
	ep.registerPrefix(cmd, "repository URL prefix the token serves (repeatable; replaces the current set)")
	cmd.Flags().StringVar(&name, "name", "", "new name")
	cmd.Flags().StringVar(&desc, "description", "", "new description")
	cmd.Flags().BoolVar(&newValue, "value", false, "read a new token value from stdin or a prompt (the value itself is never a flag)")
	cmd.Flags().BoolVar(&allowMissing, "allow-missing", false, `keep the token even if it now lacks permissions for its uses (status "limited")`)
	outputFlag(cmd)
	return cmd
}

func (a *app) completeTokenNames(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return a.completeNames(cmd, args, func(ctx context.Context, c *client.Client) ([]string, error) {
		tokens, err := c.ListTokens(ctx, client.ListOptions{Limit: 500})
		names := make([]string, 0, len(tokens))
		for _, t := range tokens {
			names = append(names, t.Name+"\t"+t.Provider+" "+t.Host)
		}
		return names, err
	})
}

func outputFormat(cmd *cobra.Command) string {
	f, err := cmd.Flags().GetString("output")
	if err != nil {
		return formatTable
	}
	return f
}

// writeReport prints what inspecting a token found.
func writeReport(w io.Writer, r forge.Report, now time.Time) {
	tw := newTable(w)
	id := r.Identity
	if r.IdentityName != "" {
		id += " (" + r.IdentityName + ")"
	}
	row(tw, "Provider:", string(r.Provider)+" ("+r.Host+")")
	row(tw, "Identity:", orDash(id))
	row(tw, "Kind:", orDash(string(r.Kind)))
	row(tw, "Scopes:", joinList(r.Scopes))
	if r.Role != "" {
		row(tw, "Role:", r.Role)
	}
	row(tw, "Expires:", fmtExpiry(r.ExpiresAt, now))
	if rl := r.RateLimit; rl != nil {
		row(tw, "Rate limit:", fmt.Sprintf("%d of %d left, resets %s", rl.Remaining, rl.Limit, fmtTime(&rl.Reset, "-")))
	}
	_ = tw.Flush()
	writeChecks(w, r.Checks)
	writeNotes(w, r.Notes)
}

func writeNotes(w io.Writer, notes []string) {
	if len(notes) == 0 {
		return
	}
	_, _ = fmt.Fprintln(w, "Notes:")
	for _, n := range notes {
		_, _ = fmt.Fprintf(w, "  - %s\n", clean(n))
	}
}

// writeChecks lists each use's verdict with the permissions behind it, in
// the provider's words, one per line.
func writeChecks(w io.Writer, checks []forge.UseCheck) {
	if len(checks) == 0 {
		return
	}
	_, _ = fmt.Fprintln(w, "Uses:")
	tw := newTable(w)
	for _, c := range checks {
		var lines []string
		for _, m := range c.Missing {
			lines = append(lines, "missing: "+m)
		}
		for _, u := range c.Unknown {
			lines = append(lines, "unproven: "+u)
		}
		if c.Detail != "" {
			lines = append(lines, c.Detail)
		}
		first := ""
		if len(lines) > 0 {
			first, lines = lines[0], lines[1:]
		}
		if first == "" {
			// No empty last cell: tabwriter would pad it with trailing spaces.
			row(tw, "  "+string(c.Use), string(c.Status))
		} else {
			row(tw, "  "+string(c.Use), string(c.Status), first)
		}
		for _, l := range lines {
			row(tw, "", "", l)
		}
	}
	_ = tw.Flush()
}

func writeTokenDetails(w io.Writer, t access.TokenView, now time.Time) {
	tw := newTable(w)
	row(tw, "Name:", t.Name)
	if t.Description != "" {
		row(tw, "Description:", t.Description)
	}
	row(tw, "Provider:", t.Provider)
	row(tw, "Host:", t.Host)
	row(tw, "Web URL:", orDash(t.WebURL))
	row(tw, "API URL:", orDash(t.APIURL))
	if t.Workspace != "" {
		row(tw, "Workspace:", t.Workspace)
	}
	if t.HasCABundle {
		row(tw, "CA bundle:", "yes")
	}
	row(tw, "Uses:", joinList(t.Uses))
	row(tw, "Prefixes:", joinList(t.Prefixes))
	row(tw, "Kind:", orDash(t.Kind))
	row(tw, "Identity:", orDash(t.Identity))
	row(tw, "Scopes:", joinList(t.Scopes))
	if t.Role != "" {
		row(tw, "Role:", t.Role)
	}
	row(tw, "Expires:", fmtExpiry(t.ExpiresAt, now))
	status := t.Status
	if t.StatusDetail != "" {
		status += ": " + t.StatusDetail
	}
	row(tw, "Status:", status)
	row(tw, "Last validated:", fmtTime(t.LastValidatedAt, "never"))
	row(tw, "Last used:", fmtTime(t.LastUsedAt, "never"))
	if t.RateLimit != nil {
		row(tw, "Rate limit:", fmtRateLimit(t.RateLimit, now))
	}
	row(tw, "Fingerprint:", orDash(t.Fingerprint))
	row(tw, "Last 4:", orDash(t.Last4))
	row(tw, "Created:", fmtTime(&t.CreatedAt, "-"))
	row(tw, "Updated:", fmtTime(&t.UpdatedAt, "-"))
	_ = tw.Flush()
	if t.Report != nil {
		writeChecks(w, t.Report.Checks)
		writeNotes(w, t.Report.Notes)
	}
	writeServedApps(w, t.Applications)
}
