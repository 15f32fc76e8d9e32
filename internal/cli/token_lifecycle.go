package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
)

func (a *app) tokenRotateCmd() *cobra.Command {
	var (
		providerRotate bool
		expiresAt      string
		allowMissing   bool
	)
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Replace a token's value after proving it serves every application",
		Long: `Reads the new value from stdin (or a prompt that does not echo), inspects it
with the token's provider, URL and CA bundle, then proves it on every
application the token serves (bound by name or by URL prefix): the
repository and branch are visible, and an application's webhook can be read
so gitaccess can keep managing it. Every application is checked; if the new
value cannot serve any of them, the command lists them all and changes
nothing. Otherwise the value is switched in one step, audited with the old
and new fingerprints. Clones already running keep the credential they got.

--provider-rotate (GitLab only) asks GitLab to rotate the token through its
own API instead (POST .../access_tokens/self/rotate; the token needs the api
or self_rotate scope). GitLab revokes the old value at once as it issues the
new one, so coverage cannot be proven first: the new value is always stored
(the old one no longer works), then proven, and whatever it cannot serve is
listed and the command exits non-zero. --expires-at sets the new expiry;
without it GitLab chooses (one week, on many versions).`,
		Example: `  gitaccess token rotate ci < new-token.txt
  pass show github/ci-2 | gitaccess token rotate ci
  gitaccess token rotate gl-ci --provider-rotate --expires-at 2027-01-31`,
		Args:              usageArgs(1, "the token NAME"),
		ValidArgsFunction: a.completeTokenNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := outputFormat(cmd)
			if err := checkFormat(out); err != nil {
				return err
			}
			in := access.RotateTokenInput{ProviderRotate: providerRotate, AllowMissing: allowMissing}
			if expiresAt != "" {
				if !providerRotate {
					return errors.New("--expires-at goes with --provider-rotate: a value you give carries its own expiry")
				}
				d, err := time.Parse(time.DateOnly, expiresAt)
				if err != nil {
					return fmt.Errorf("--expires-at %q: give a date as YYYY-MM-DD", clean(expiresAt))
				}
				in.ExpiresAt = &d
			}
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			if !providerRotate {
				if in.Value, err = a.readSecret(ctx, "the new token value"); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			res, err := c.RotateToken(ctx, args[0], in)
			if err != nil {
				return a.rotateFailed(w, out, args[0], err)
			}
			if err := render(w, out, res, func(w io.Writer) error {
				writeReport(w, res.Report, a.opts.Now())
				_, _ = fmt.Fprintln(w)
				_, _ = fmt.Fprintf(w, "Rotated token %s: fingerprint %s -> %s, last 4 %s; proven on %d application(s).\n",
					clean(res.Token.Name), clean(orDash(res.PreviousFingerprint)), clean(res.Token.Fingerprint), clean(res.Token.Last4), res.Checked)
				if res.Token.ExpiresAt != nil {
					_, _ = fmt.Fprintf(w, "  expires %s\n", fmtExpiry(res.Token.ExpiresAt, a.opts.Now()))
				}
				writeUnreachable(w, "The new value cannot serve:", res.Unreachable)
				return nil
			}); err != nil {
				return err
			}
			if len(res.Unreachable) > 0 {
				return fmt.Errorf("GitLab revoked the old value of token %s and the new one is stored, but it cannot serve %d application(s); grant it access or move them (gitaccess app update APP --token OTHER)",
					clean(res.Token.Name), len(res.Unreachable))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&providerRotate, "provider-rotate", false, "rotate through the provider's API (GitLab); the old value is revoked at once")
	cmd.Flags().StringVar(&expiresAt, "expires-at", "", "with --provider-rotate: the new value's expiry date, YYYY-MM-DD")
	cmd.Flags().BoolVar(&allowMissing, "allow-missing", false, `accept a value lacking permissions for the token's uses (status "limited"); it must still serve every application`)
	outputFlag(cmd)
	return cmd
}

// rotateFailed shows what a refused rotation could not do, one line each.
func (a *app) rotateFailed(w io.Writer, format, name string, err error) error {
	var p *client.Problem
	if errors.As(err, &p) && p.Slug() == client.SlugMissingPermissions && len(p.Missing) > 0 && p.Report != nil && strings.Contains(p.Detail, "cannot serve") {
		if format == formatTable {
			_, _ = fmt.Fprintf(w, "The new value cannot serve every application of token %s:\n", clean(name))
			for _, m := range p.Missing {
				_, _ = fmt.Fprintf(w, "  - %s\n", clean(m))
			}
			_, _ = fmt.Fprintln(w, "Nothing was changed: the token keeps its current value.")
		}
		return &hintError{errors.New("rotation refused"), "grant the new value access to those repositories (and webhooks), or move those applications to another token first"}
	}
	return a.inspectionFailed(w, format, err, true)
}

func writeUnreachable(w io.Writer, lead string, fs []access.RotateFailure) {
	if len(fs) == 0 {
		return
	}
	_, _ = fmt.Fprintln(w, lead)
	for _, f := range fs {
		_, _ = fmt.Fprintf(w, "  - %s\n", clean(f.String()))
	}
}

// writeServedApps lists the applications a token serves, for token show.
func writeServedApps(w io.Writer, apps []access.ImpactApp) {
	if len(apps) == 0 {
		_, _ = fmt.Fprintln(w, "Applications: none")
		return
	}
	_, _ = fmt.Fprintln(w, "Applications:")
	tw := newTable(w)
	row(tw, "  NAME", "REPOSITORY", "BRANCH", "BINDING", "HOOK", "LAST USED")
	for _, ap := range apps {
		hook := "no"
		if ap.HasHook {
			hook = "yes"
		}
		row(tw, "  "+ap.Name, ap.RepoURL, ap.Branch, ap.Binding, hook, fmtTime(ap.LastUsedAt, "never"))
	}
	_ = tw.Flush()
}

// writeImpact shows what uses a token.
func writeImpact(w io.Writer, imp access.TokenImpact) {
	if !imp.InUse {
		_, _ = fmt.Fprintf(w, "Token %s serves no application, and nothing was resolved through it in the last 30 days.\n", clean(imp.Token))
		return
	}
	_, _ = fmt.Fprintf(w, "Token %s is in use:\n", clean(imp.Token))
	if len(imp.Applications) > 0 {
		writeServedApps(w, imp.Applications)
	}
	if len(imp.Hooks) > 0 {
		_, _ = fmt.Fprintln(w, "Webhooks managed with it:")
		tw := newTable(w)
		for _, h := range imp.Hooks {
			row(tw, "  "+h.App, h.URL, orDash(h.ProviderHookID), h.State)
		}
		_ = tw.Flush()
	}
	if len(imp.SubmoduleResolutions) > 0 {
		_, _ = fmt.Fprintln(w, "Other repositories resolved through it since "+imp.Since.UTC().Format(time.DateOnly)+" (submodules, ad-hoc clones):")
		tw := newTable(w)
		for _, r := range imp.SubmoduleResolutions {
			last := r.LastResolvedAt
			row(tw, "  "+r.RepoURL, fmt.Sprintf("%d time(s)", r.Count), "last "+fmtTime(&last, "-"))
		}
		_ = tw.Flush()
	}
}

func (a *app) tokenDeleteCmd() *cobra.Command {
	var (
		yes      bool
		reassign string
		force    bool
	)
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a token, showing first what uses it",
		Long: `Shows what uses the token (the applications it serves, their webhooks, and
other repositories resolved through it in the last 30 days, such as
submodules), then deletes it after you type its name. Without a terminal,
--yes is required.

A token in use is not deleted unless:
  --reassign OTHER  proves OTHER reaches every application's repository and
                    branch and can manage its webhook, then binds each
                    application to OTHER and deletes the token. If OTHER
                    cannot serve one of them, nothing moves and nothing is
                    deleted.
  --force           deletes it anyway: applications bound to it by name are
                    unbound and, like those bound by prefix, use whichever
                    token then has the longest matching URL prefix (if any).`,
		Example: `  gitaccess token delete old-ci
  gitaccess token delete old-ci --reassign new-ci
  gitaccess token delete old-ci --force --yes`,
		Args:              usageArgs(1, "the token NAME"),
		ValidArgsFunction: a.completeTokenNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			if reassign != "" && force {
				return errors.New("give --reassign OTHER or --force, not both")
			}
			if !yes && !a.opts.IsTerminal() {
				return fmt.Errorf("refusing to delete token %s without confirmation: stdin is not a terminal; pass --yes to delete it", clean(name))
			}
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			imp, err := c.TokenImpact(ctx, name)
			if err != nil {
				return err
			}
			writeImpact(w, imp)
			if imp.InUse && reassign == "" && !force {
				return &hintError{fmt.Errorf("token %s is in use; nothing was deleted", clean(name)),
					"move what uses it with --reassign OTHER (proven first), or delete it anyway with --force"}
			}
			if err := a.confirmTyped(ctx, yes, "token", "name", name); err != nil {
				return err
			}
			if err := c.DeleteToken(ctx, name, access.DeleteTokenInput{Confirm: name, Reassign: reassign, Force: force}); err != nil {
				var p *client.Problem
				if errors.As(err, &p) && p.Slug() == client.SlugMissingPermissions && len(p.Missing) > 0 {
					_, _ = fmt.Fprintf(w, "Token %s cannot take over:\n", clean(reassign))
					for _, m := range p.Missing {
						_, _ = fmt.Fprintf(w, "  - %s\n", clean(m))
					}
					return &hintError{fmt.Errorf("nothing was moved and token %s was not deleted", clean(name)),
						"grant token " + clean(reassign) + " access to those repositories (and webhooks), or choose another token"}
				}
				return err
			}
			_, _ = fmt.Fprintf(w, "Deleted token %s.\n", clean(name))
			switch {
			case reassign != "" && len(imp.Applications) > 0:
				names := make([]string, len(imp.Applications))
				for i, ap := range imp.Applications {
					names[i] = ap.Name
				}
				_, _ = fmt.Fprintf(w, "Applications %s are now bound to token %s.\n", clean(strings.Join(names, ", ")), clean(reassign))
			case force && len(imp.Applications) > 0:
				var bound, byPrefix []string
				for _, ap := range imp.Applications {
					if ap.Binding == "explicit" {
						bound = append(bound, ap.Name)
					} else {
						byPrefix = append(byPrefix, ap.Name)
					}
				}
				if len(bound) > 0 {
					_, _ = fmt.Fprintf(w, "Applications %s were bound to it and are now unbound: they resolve by URL prefix.\n", clean(strings.Join(bound, ", ")))
				}
				if len(byPrefix) > 0 {
					_, _ = fmt.Fprintf(w, "Applications %s resolve by URL prefix to another token, if one matches.\n", clean(strings.Join(byPrefix, ", ")))
				}
				_, _ = fmt.Fprintln(w, "Check them with: gitaccess app show APP")
			}
			if len(imp.SubmoduleResolutions) > 0 {
				_, _ = fmt.Fprintln(w, "Repositories resolved through it lately (submodules) now resolve by URL prefix.")
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	cmd.Flags().StringVar(&reassign, "reassign", "", "move the applications to token `OTHER` (proven first), then delete")
	cmd.Flags().BoolVar(&force, "force", false, "delete even though the token is in use; bound applications fall back to prefix resolution")
	return cmd
}
