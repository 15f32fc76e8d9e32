package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
)

func (a *app) statusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Token health: what expires or was refused, what breaks with it, and when tokens are checked next",
		Long: `Shows the organization's tokens by status; tokens expiring within 30 days
(or expired) with the days left and the applications that depend on them;
tokens their provider refused, in the provider's words; the warnings sent
(token.expiring at 30, 14, 7 and 1 days, token.invalid); and when the
server last revalidated every token and will next.`,
		Example: `  gitaccess status
  gitaccess status -o json | jq '.invalid[].name'`,
		Args: usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (access.StatusView, error) {
				return c.Status(ctx)
			}, func(w io.Writer, v access.StatusView) error {
				return writeStatus(w, v, a.opts.Now())
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

// statusOrder is how token statuses are listed: worst first.
var statusOrder = []string{access.StatusInvalid, access.StatusExpired, access.StatusExpiring, access.StatusLimited, access.StatusValid}

func writeStatus(w io.Writer, v access.StatusView, now time.Time) error {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
	if v.Total == 0 {
		p("Organization %s has no tokens yet; add one with: gitaccess token add NAME --provider PROVIDER\n", clean(v.Organization))
	} else {
		var parts []string
		seen := map[string]bool{}
		for _, s := range statusOrder {
			if n := v.Tokens[s]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, s))
			}
			seen[s] = true
		}
		for _, s := range slices.Sorted(func(yield func(string) bool) {
			for s := range v.Tokens {
				if !seen[s] && !yield(s) {
					return
				}
			}
		}) {
			parts = append(parts, fmt.Sprintf("%d %s", v.Tokens[s], s))
		}
		p("Organization %s: %s: %s\n", clean(v.Organization), plural(v.Total, "token"), clean(strings.Join(parts, ", ")))
	}

	if len(v.Invalid) > 0 {
		p("\nRefused by their provider (rotate them: gitaccess token rotate NAME):\n")
		tw := newTable(w)
		row(tw, "  TOKEN", "HOST", "DETAIL", "APPLICATIONS")
		for _, t := range v.Invalid {
			row(tw, "  "+t.Name, t.Host, orDash(t.StatusDetail), access.AppNames(t.Applications))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(v.Expiring) > 0 {
		p("\nExpiring within 30 days:\n")
		tw := newTable(w)
		row(tw, "  TOKEN", "HOST", "EXPIRES", "APPLICATIONS")
		for _, t := range v.Expiring {
			row(tw, "  "+t.Name, t.Host, expiryCell(t, now), access.AppNames(t.Applications))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(v.Invalid) == 0 && len(v.Expiring) == 0 && v.Total > 0 {
		p("\nNo token is expiring within 30 days or refused by its provider.\n")
	}
	if len(v.Warnings) > 0 {
		p("\nWarnings in the last 30 days:\n")
		tw := newTable(w)
		row(tw, "  WHEN", "TOKEN", "WARNING", "SENT")
		for _, wn := range v.Warnings {
			kind := "invalid"
			if wn.Kind == "expiring" {
				kind = fmt.Sprintf("expiring (%d-day)", wn.ThresholdDays)
			}
			row(tw, "  "+wn.CreatedAt.UTC().Format(dateLayout), wn.Token, kind+": "+wn.Detail, warningSent(wn))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	p("\nRevalidation: ")
	switch r := v.Revalidation; {
	case r.LastRunAt == nil && r.Running:
		p("the first sweep is running now\n")
	case r.LastRunAt == nil:
		p("no sweep yet; the server sweeps when it starts\n")
	default:
		next := "now"
		if r.NextRunAt != nil && r.NextRunAt.After(now) {
			next = fmtWhen(*r.NextRunAt, now)
		}
		running := ""
		if r.Running {
			running = "; a sweep is running now"
		}
		p("last swept %s, next %s%s\n", fmtWhen(*r.LastRunAt, now), next, running)
	}
	return nil
}

// expiryCell is the expiry date with the days left as the server counts
// them (its clock decides the warnings).
func expiryCell(t access.StatusToken, now time.Time) string {
	if t.ExpiresAt == nil || t.DaysLeft == nil {
		return fmtExpiry(t.ExpiresAt, now)
	}
	switch n := *t.DaysLeft; {
	case n < 0:
		return t.ExpiresAt.UTC().Format(dateLayout) + " (expired)"
	case n == 0:
		return t.ExpiresAt.UTC().Format(dateLayout) + " (less than a day left)"
	case n == 1:
		return t.ExpiresAt.UTC().Format(dateLayout) + " (1 day left)"
	default:
		return fmt.Sprintf("%s (%d days left)", t.ExpiresAt.UTC().Format(dateLayout), n)
	}
}

func warningSent(w access.StatusWarning) string {
	switch {
	case w.EventID == "":
		return "passed over (a more urgent one was sent)"
	case w.MailedAt != nil:
		return "event + mail"
	case w.MailError != "":
		return "event; mail failed: " + w.MailError
	}
	return "event"
}

// fmtWhen is a time with how long ago or ahead it is.
func fmtWhen(t, now time.Time) string {
	at := t.UTC().Format("2006-01-02 15:04 UTC")
	d := t.Sub(now)
	if d < 0 {
		return fmt.Sprintf("%s (%s ago)", at, span(-d))
	}
	return fmt.Sprintf("%s (in %s)", at, span(d))
}

// span is a duration as people say it: "2d 3h", "5h 16m", "4m".
func span(d time.Duration) string {
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	}
	return fmt.Sprintf("%dm", mins)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// tokenWarn is `token list`'s WARN column: what needs doing about a
// token, "-" when nothing does.
func tokenWarn(t access.TokenView, now time.Time) string {
	switch t.Status {
	case access.StatusInvalid:
		return "refused by provider: rotate"
	case access.StatusExpired:
		return "expired: rotate"
	case access.StatusExpiring:
		if t.ExpiresAt != nil {
			return "expires in " + plural(max(0, int(t.ExpiresAt.Sub(now).Hours()/24)), "day") + ": rotate"
		}
		return "expiring: rotate"
	case access.StatusLimited:
		return "missing permissions"
	}
	return "-"
}
