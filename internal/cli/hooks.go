package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
)

// Webhooks in (hook), events out (subscription, events).

func (a *app) hookCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "hook",
		Aliases: []string{"hooks", "webhook"},
		Short:   "Check and repair applications' webhooks, and see what their deliveries became",
		Long: `gitaccess installs a webhook on an application's repository when the
application has auto-deploy or previews on, and removes it when neither
is. Each delivery the provider sends is verified, stored, and routed:
a push to the application's branch emits deploy.requested, a pull request
preview.requested or preview.closed (see gitaccess subscription).`,
	})
	cmd.AddCommand(a.hookCheckCmd(), a.hookRepairCmd(), a.hookDeliveriesCmd())
	return cmd
}

// hookState is a hook's state in a phrase, with why and when checked.
func hookState(h access.HookView) string {
	s := h.State
	if h.StateDetail != "" {
		s += ": " + h.StateDetail
	}
	return s + " (checked " + fmtTime(h.CheckedAt, "never") + ")"
}

func writeHook(w io.Writer, h access.HookView) {
	tw := newTable(w)
	row(tw, "URL:", h.URL)
	row(tw, "State:", h.State)
	if h.StateDetail != "" {
		row(tw, "Detail:", h.StateDetail)
	}
	if len(h.Drift) > 0 {
		row(tw, "Drift:", joinList(h.Drift))
	}
	row(tw, "Provider hook id:", orDash(h.ProviderHookID))
	row(tw, "Checked:", fmtTime(h.CheckedAt, "never"))
	_ = tw.Flush()
}

func (a *app) hookCheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check APP",
		Short: "Compare an application's webhook at the provider with what gitaccess installed",
		Long: `Asks the provider for the application's webhook and reports its state:
installed, missing (deleted on the provider's side), altered (and how:
inactive, events turned off...) or error (and why); gitaccess hook repair
APP restores it.`,
		Example:           "  gitaccess hook check web\n  gitaccess hook check web -o json",
		Args:              usageArgs(1, "the application NAME"),
		ValidArgsFunction: a.completeAppNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			h, err := c.CheckHook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), out, h, func(w io.Writer) error {
				writeHook(w, h)
				if h.State != access.HookInstalled {
					_, _ = fmt.Fprintf(w, "\nThe webhook is %s; restore it with: gitaccess hook repair %s\n", clean(h.State), clean(args[0]))
				}
				return nil
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func (a *app) hookRepairCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair APP",
		Short: "Restore an application's webhook exactly, with a new secret",
		Long: `Makes the application's webhook at the provider what gitaccess installs
(URL, events, content type, active) with a fresh secret, creating it
again if it was deleted. Deliveries signed with the old secret are
refused from then on.`,
		Example:           "  gitaccess hook repair web",
		Args:              usageArgs(1, "the application NAME"),
		ValidArgsFunction: a.completeAppNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			h, err := c.RepairHook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), out, h, func(w io.Writer) error {
				_, _ = fmt.Fprintf(w, "Repaired the webhook of %s.\n\n", clean(args[0]))
				writeHook(w, h)
				return nil
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func (a *app) hookDeliveriesCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "deliveries APP",
		Short: "List the webhook deliveries an application received, newest first, and what became of each",
		Long: `Shows each delivery the provider sent for the application: when, which
event, the provider's delivery id, the verdict (accepted, duplicate,
bad-signature, ignored, failed, pending) and why, so you can see why a
push did or did not deploy.`,
		Example:           "  gitaccess hook deliveries web\n  gitaccess hook deliveries web --limit 100 -o json",
		Args:              usageArgs(1, "the application NAME"),
		ValidArgsFunction: a.completeAppNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit must not be negative")
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]access.DeliveryView, error) {
				return c.ListDeliveries(ctx, args[0], client.ListOptions{Limit: limit})
			}, func(w io.Writer, ds []access.DeliveryView) error {
				if len(ds) == 0 {
					_, _ = fmt.Fprintf(w, "No deliveries received for %s yet; the provider sends one on the next push or pull request.\n", clean(args[0]))
					return nil
				}
				tw := newTable(w)
				row(tw, "TIME", "EVENT", "DELIVERY ID", "VERDICT", "DETAIL")
				for _, d := range ds {
					verdict := d.Verdict
					if d.Duplicates > 0 {
						verdict += " (+" + strconv.Itoa(d.Duplicates) + " duplicates)"
					}
					row(tw, fmtTime(&d.ReceivedAt, "-"), orDash(d.Event), orDash(d.DeliveryID), verdict, orDash(strings.TrimSpace(d.Detail)))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many deliveries (0: all)")
	outputFlag(cmd)
	return cmd
}

func (a *app) subscriptionCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "subscription",
		Aliases: []string{"subscriptions", "sub"},
		Short:   "Add, list and delete the endpoints your platform receives events on",
		Long: `A subscription is an HTTPS endpoint of your platform that gitaccess sends
events to (` + strings.Join(access.EventTypes, ", ") + `),
signed per the Standard Webhooks convention (webhook-id,
webhook-timestamp and webhook-signature headers) with the subscription's
whsec_ secret, retried with backoff, and replayable (gitaccess events).`,
	})
	cmd.AddCommand(a.subscriptionAddCmd(), a.subscriptionListCmd(), a.subscriptionDeleteCmd())
	return cmd
}

// eventPatterns completes --events.
func eventPatterns() []string {
	return append([]string{"*", "deploy.*", "preview.*", "token.*"}, access.EventTypes...)
}

// newSubscriptionOut is how a fresh subscription is printed as JSON or
// YAML: the API's creation response, secret included, since this is its
// only showing.
type newSubscriptionOut struct {
	access.SubscriptionView
	Secret string `json:"secret"`
}

func (a *app) subscriptionAddCmd() *cobra.Command {
	var patterns []string
	cmd := &cobra.Command{
		Use:   "add URL --events PATTERNS",
		Short: "Add an event subscriber; its signing secret is shown once",
		Long: `Subscribes URL to the events matching PATTERNS (comma-separated; * matches
within a segment: deploy.*, preview.*, token.expiring, or * for all).
Prints the signing secret your endpoint verifies signatures with; it is
shown only once.`,
		Example: `  gitaccess subscription add https://deploy.example.com/gitaccess --events 'deploy.*,preview.*'
  gitaccess subscription add https://ops.example.com/hooks --events 'token.*' -o json | jq -r .secret`,
		Args: usageArgs(1, "the subscriber's URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var events []string
			for _, p := range patterns {
				if p = strings.TrimSpace(p); p != "" {
					events = append(events, p)
				}
			}
			if len(events) == 0 {
				return fmt.Errorf("--events is required, e.g. --events 'deploy.*,preview.*' (events: %s)", strings.Join(access.EventTypes, ", "))
			}
			out, c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			sub, err := c.CreateSubscription(cmd.Context(), access.SubscriptionInput{URL: args[0], Events: events})
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), out, newSubscriptionOut{sub.SubscriptionView, sub.Secret.Reveal()}, func(w io.Writer) error {
				_, _ = fmt.Fprintf(w, "Created subscription %s: %s receives %s.\n", clean(sub.ID), clean(sub.URL), clean(strings.Join(sub.Events, ", ")))
				_, _ = fmt.Fprintln(w, "Store this signing secret now, e.g. in your platform's secret store: it is shown only once.")
				_, _ = fmt.Fprintln(w, "Your endpoint verifies each event's webhook-signature header with it (Standard Webhooks).")
				_, _ = fmt.Fprintln(w)
				_, _ = fmt.Fprintln(w, "  "+clean(sub.Secret.Reveal()))
				_, _ = fmt.Fprintln(w)
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&patterns, "events", nil, "event patterns, comma-separated: deploy.*, preview.*, token.*, an event name, or *")
	_ = cmd.RegisterFlagCompletionFunc("events", cobra.FixedCompletions(eventPatterns(), cobra.ShellCompDirectiveNoFileComp))
	outputFlag(cmd)
	return cmd
}

func (a *app) subscriptionListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your organization's event subscribers (never their secrets)",
		Example: "  gitaccess subscription list\n  gitaccess subscription list -o yaml",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]access.SubscriptionView, error) {
				return c.ListSubscriptions(ctx)
			}, func(w io.Writer, subs []access.SubscriptionView) error {
				if len(subs) == 0 {
					_, _ = fmt.Fprintln(w, "No subscriptions yet; add one with: gitaccess subscription add URL --events 'deploy.*,preview.*'")
					return nil
				}
				tw := newTable(w)
				row(tw, "ID", "URL", "EVENTS", "CREATED")
				for _, s := range subs {
					row(tw, s.ID, s.URL, joinList(s.Events), fmtDate(&s.CreatedAt, "-"))
				}
				return tw.Flush()
			})
		},
	}
	outputFlag(cmd)
	return cmd
}

func (a *app) subscriptionDeleteCmd() *cobra.Command {
	return a.deleteCmdBy("subscription", "subscription", "id", "sub_01HZY3", a.completeSubscriptionIDs, func(ctx context.Context, c *client.Client, id string) error {
		return c.DeleteSubscription(ctx, id)
	})
}

func (a *app) completeSubscriptionIDs(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return a.completeNames(cmd, args, func(ctx context.Context, c *client.Client) ([]string, error) {
		subs, err := c.ListSubscriptions(ctx)
		ids := make([]string, 0, len(subs))
		for _, s := range subs {
			ids = append(ids, s.ID+"\t"+s.URL)
		}
		return ids, err
	})
}

func (a *app) eventsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "events",
		Aliases: []string{"event"},
		Short:   "List the events gitaccess sent your subscribers, and send one again",
	})
	cmd.AddCommand(a.eventsListCmd(), a.eventsReplayCmd())
	return cmd
}

// eventApp is the application (or token) an event is about, from its
// payload; "-" when it names none.
func eventApp(e access.EventView) string {
	var p struct {
		Data struct {
			App   string `json:"app"`
			Token string `json:"token"`
		} `json:"data"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	switch {
	case p.Data.App != "":
		return p.Data.App
	case p.Data.Token != "":
		return "token " + p.Data.Token
	case e.AppID != "":
		return e.AppID
	}
	return "-"
}

func (a *app) eventsListCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List outgoing events, newest first, with each subscriber's delivery status",
		Long: `One line per event and subscriber: the event's id, type, application and
time, then that subscriber's delivery status (pending, delivered,
failed), attempts so far, and the last error. Send an event again with
gitaccess events replay ID.`,
		Example: "  gitaccess events list\n  gitaccess events list --limit 200 -o json",
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit must not be negative")
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]access.EventView, error) {
				return c.ListEvents(ctx, client.ListOptions{Limit: limit})
			}, func(w io.Writer, evs []access.EventView) error {
				if len(evs) == 0 {
					_, _ = fmt.Fprintln(w, "No events yet.")
					return nil
				}
				tw := newTable(w)
				row(tw, "ID", "TYPE", "APP", "CREATED", "SUBSCRIPTION", "STATUS", "ATTEMPTS", "LAST ERROR")
				for _, e := range evs {
					ev := []string{e.ID, e.Type, eventApp(e), fmtTime(&e.CreatedAt, "-")}
					if len(e.Deliveries) == 0 {
						row(tw, append(ev, "-", "no subscriber", "-", "-")...)
						continue
					}
					for _, d := range e.Deliveries {
						status := d.Status
						if d.NextAttemptAt != nil {
							status += ", next " + fmtTime(d.NextAttemptAt, "-")
						}
						lastErr := strings.TrimSpace(d.LastError)
						if d.LastStatus != 0 && !strings.Contains(lastErr, strconv.Itoa(d.LastStatus)) {
							lastErr = strings.TrimSpace("HTTP " + strconv.Itoa(d.LastStatus) + " " + lastErr)
						}
						row(tw, append(ev, d.Subscription, status, strconv.Itoa(d.Attempts), orDash(lastErr))...)
					}
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many events (0: all)")
	outputFlag(cmd)
	return cmd
}

func (a *app) eventsReplayCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "replay ID",
		Short:   "Send an event again to all its subscribers",
		Long:    "Queues the event for every subscriber it went to, now; gitaccess events list shows how the new attempts go.",
		Example: "  gitaccess events replay evt_01HZY3",
		Args:    usageArgs(1, "the event ID (see gitaccess events list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			if err := c.ReplayEvent(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Queued event %s for its subscribers again; follow it with: gitaccess events list\n", clean(args[0]))
			return err
		},
	}
}
