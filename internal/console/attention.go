package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/store"
)

// The tokens page's "Needs attention" panel and the token page's banner
// show what `gitaccess status` shows: tokens expiring within 30 days or
// expired, tokens their provider refused, the warnings gitaccess gave and
// when tokens are checked again. Everything comes from access.Status, so
// the console, the CLI and the events agree on which tokens need a hand.

// attentionView is the panel.
type attentionView struct {
	// Err is set when the status could not be read; the rest of the page
	// still shows.
	Err      *uiError
	Total    int
	Expiring []attentionToken
	Invalid  []attentionToken
	Warnings []warningRow
	Sweep    access.StatusSweep
}

// Needs says whether any token needs attention.
func (a attentionView) Needs() bool { return len(a.Expiring)+len(a.Invalid) > 0 }

// attentionToken is a token that needs attention, as the panel lists it.
type attentionToken struct {
	access.StatusToken
	// Apps are its applications' names.
	Apps []string
	// When says, in words, where the token stands: "12 days left",
	// "expired 3 days ago".
	When string
}

// warningRow is one warning gitaccess gave.
type warningRow struct {
	access.StatusWarning
	// Kind reads "expiring (14-day warning)" or "invalid".
	Kind string
	// Sent says what happened to its event; Mail, to its mail.
	Sent, Mail string
}

// attention reads the organization's token health for the panel.
func (c *Console) attention(r *http.Request, s session) attentionView {
	v, err := c.svc.Status(r.Context(), s.p)
	if err != nil {
		return attentionView{Err: c.problem(r, err)}
	}
	a := attentionView{Total: v.Total, Sweep: v.Revalidation}
	for _, t := range v.Expiring {
		a.Expiring = append(a.Expiring, attentionTokenOf(t))
	}
	for _, t := range v.Invalid {
		a.Invalid = append(a.Invalid, attentionTokenOf(t))
	}
	for _, w := range v.Warnings {
		a.Warnings = append(a.Warnings, warningRowOf(w))
	}
	return a
}

func attentionTokenOf(t access.StatusToken) attentionToken {
	at := attentionToken{StatusToken: t, When: daysText(t.DaysLeft)}
	for _, a := range t.Applications {
		at.Apps = append(at.Apps, a.Name)
	}
	return at
}

func warningRowOf(w access.StatusWarning) warningRow {
	row := warningRow{StatusWarning: w, Kind: w.Kind}
	switch w.Kind {
	case store.WarningExpiring:
		row.Kind = fmt.Sprintf("expiring (%d-day warning)", w.ThresholdDays)
	case store.WarningInvalid:
		row.Kind = "invalid (refused by its provider)"
	}
	if w.EventID != "" {
		row.Sent = "event token." + w.Kind + " sent to subscribers"
	} else {
		row.Sent = "no event: a more urgent warning went out instead"
	}
	switch {
	case w.MailedAt != nil:
		row.Mail = "mailed " + w.MailedAt.UTC().Format(dateTimeLayout)
	case w.MailError != "":
		row.Mail = "mail failed: " + w.MailError
	default:
		row.Mail = "not mailed"
	}
	return row
}

// dateTimeLayout is how the console writes an instant.
const dateTimeLayout = "2006-01-02 15:04 UTC"

// tokenBanner is the token page's banner: what is wrong with the token,
// what depends on it and what to do, in words.
type tokenBanner struct {
	// Alert is set for a refused token: it breaks clones now.
	Alert bool
	Text  string
	// Warned is the latest warning given about it, if any.
	Warned *warningRow
	// Manage links to the rotate form, for roles that can use it.
	Manage bool
}

// bannerFor finds the token in the status view; nil when it needs no
// attention.
func bannerFor(v access.StatusView, name string, manage bool) *tokenBanner {
	var b *tokenBanner
	for _, t := range v.Invalid {
		if t.Name == name {
			b = &tokenBanner{Alert: true, Text: attentionSentence(t, manage)}
		}
	}
	for _, t := range v.Expiring {
		if t.Name == name && b == nil {
			b = &tokenBanner{Text: attentionSentence(t, manage)}
		}
	}
	if b == nil {
		return nil
	}
	b.Manage = manage
	// Warnings are newest first: the first one about this token that is
	// still open and went out is the one to mention (one passed over for
	// a more urgent one was never sent).
	for _, w := range v.Warnings {
		if w.Token == name && w.ResolvedAt == nil && w.EventID != "" && (w.Kind == store.WarningInvalid) == b.Alert {
			row := warningRowOf(w)
			b.Warned = &row
			break
		}
	}
	return b
}

// attentionSentence says, in words, what is wrong with t, what breaks
// with it and what to do: "Expires in 12 days (2026-12-04). 2
// applications depend on it: api, web. Rotate it before then."
func attentionSentence(t access.StatusToken, manage bool) string {
	var b strings.Builder
	date := ""
	if t.ExpiresAt != nil {
		date = t.ExpiresAt.UTC().Format(time.DateOnly)
	}
	action := ""
	switch {
	case t.Status == access.StatusInvalid:
		b.WriteString("Its provider refused it")
		if t.StatusDetail != "" {
			b.WriteString(": " + strings.TrimSuffix(t.StatusDetail, "."))
		}
		b.WriteString(".")
		action = "Rotate it to a working value, or test it again if the provider was at fault."
	case t.DaysLeft == nil:
		b.WriteString("It has expired.")
		action = "Rotate it to restore access."
	case *t.DaysLeft < 0:
		n := -*t.DaysLeft
		fmt.Fprintf(&b, "Expired %d %s ago (%s).", n, plural(n, "day", "days"), date)
		action = "Rotate it to restore access."
	case *t.DaysLeft == 0:
		fmt.Fprintf(&b, "Expires today (%s).", date)
		action = "Rotate it now."
	default:
		fmt.Fprintf(&b, "Expires in %d %s (%s).", *t.DaysLeft, plural(*t.DaysLeft, "day", "days"), date)
		action = "Rotate it before then."
	}
	names := make([]string, 0, len(t.Applications))
	for _, a := range t.Applications {
		names = append(names, a.Name)
	}
	switch len(names) {
	case 0:
		b.WriteString(" No application depends on it.")
	case 1:
		b.WriteString(" 1 application depends on it: " + names[0] + ".")
	default:
		fmt.Fprintf(&b, " %d applications depend on it: %s.", len(names), strings.Join(names, ", "))
	}
	if manage {
		b.WriteString(" " + action)
	} else {
		b.WriteString(" Ask someone who manages tokens to rotate it.")
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
