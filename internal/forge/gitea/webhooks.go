package gitea

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Delivery headers (services/webhook/deliver.go). Gitea sends X-Gitea-*
// (and the same values as X-Gogs-*); Forgejo sends X-Forgejo-* as well.
// Forgejo's are read first.
func signatureHeaders() []string { return []string{"X-Forgejo-Signature", "X-Gitea-Signature"} }
func deliveryHeaders() []string {
	return []string{"X-Forgejo-Delivery", "X-Gitea-Delivery", "X-Gogs-Delivery"}
}
func eventHeaders() []string { return []string{"X-Forgejo-Event", "X-Gitea-Event", "X-Gogs-Event"} }

const (
	// maxDeliveryBytes bounds what ParseDelivery reads; the receiver
	// bounds the body before, this keeps the parser safe on its own.
	maxDeliveryBytes = 25 << 20
	// maxDeliveryID bounds a delivery id (Gitea sends a UUID).
	maxDeliveryID = 128
)

// VerifyDelivery checks the HMAC-SHA256 of the raw body under the hook's
// secret against X-Forgejo-Signature and X-Gitea-Signature, bare lowercase
// hex (deliver.go: hex.EncodeToString(sig.Sum(nil))), in constant time.
// Every signature header present must match. Old Gitea versions (before
// 1.14) also copied the secret into the body as "secret"; that field is
// never read.
func (f *Forge) VerifyDelivery(h http.Header, body []byte, key secret.Value) error {
	var sigs []string
	for _, name := range signatureHeaders() {
		for _, v := range h.Values(name) {
			if v = strings.TrimSpace(v); v != "" {
				sigs = append(sigs, v)
			}
		}
	}
	if len(sigs) == 0 {
		return fmt.Errorf("gitea: no X-Gitea-Signature or X-Forgejo-Signature header: %w", forge.ErrUnsigned)
	}
	if key.IsZero() {
		return fmt.Errorf("gitea: the hook has no secret to check the signature with: %w", forge.ErrBadSignature)
	}
	mac := hmac.New(sha256.New, key.RevealBytes())
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err != nil || !hmac.Equal(got, want) {
			return fmt.Errorf("gitea: %w", forge.ErrBadSignature)
		}
	}
	return nil
}

// DeliveryID is X-Forgejo-Delivery, X-Gitea-Delivery or X-Gogs-Delivery
// (one UUID per delivery, the same on redelivery); "" when absent or not
// plausible.
func (f *Forge) DeliveryID(h http.Header) string {
	for _, name := range deliveryHeaders() {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		if len(v) > maxDeliveryID || strings.ContainsFunc(v, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return ""
		}
		return v
	}
	return ""
}

// PayloadError means a delivery could not be read: no event header, a body
// that is not the JSON its event promises, or a field it must carry missing.
type PayloadError struct {
	Event  string
	Reason string
	Err    error
}

func (e *PayloadError) Error() string {
	msg := "gitea delivery"
	if e.Event != "" {
		msg += " " + e.Event
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *PayloadError) Unwrap() error { return e.Err }

// Payload shapes (modules/structs/hook.go): only what gitaccess reads.
type (
	payloadRepo struct {
		ID       int64  `json:"id"`
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
	}
	payloadUser struct {
		Login    string `json:"login"`
		Username string `json:"username"`
	}
	pushPayload struct {
		Ref          string            `json:"ref"`
		Before       string            `json:"before"`
		After        string            `json:"after"`
		Commits      []json.RawMessage `json:"commits"`
		TotalCommits int               `json:"total_commits"`
		Pusher       *payloadUser      `json:"pusher"`
		Sender       *payloadUser      `json:"sender"`
		Repository   *payloadRepo      `json:"repository"`
	}
	// refPayload is CreatePayload and DeletePayload; ref is the short
	// name ("v1.0.0", "main").
	refPayload struct {
		Ref        string       `json:"ref"`
		RefType    string       `json:"ref_type"`
		Sha        string       `json:"sha"`
		Sender     *payloadUser `json:"sender"`
		Repository *payloadRepo `json:"repository"`
	}
	prBranch struct {
		Ref    string       `json:"ref"`
		Sha    string       `json:"sha"`
		RepoID int64        `json:"repo_id"`
		Repo   *payloadRepo `json:"repo"`
	}
	prPayload struct {
		Action      string `json:"action"`
		Number      int    `json:"number"`
		PullRequest *struct {
			Number  int          `json:"number"`
			Title   string       `json:"title"`
			HTMLURL string       `json:"html_url"`
			Merged  bool         `json:"merged"`
			User    *payloadUser `json:"user"`
			Head    prBranch     `json:"head"`
			Base    prBranch     `json:"base"`
		} `json:"pull_request"`
		Repository *payloadRepo `json:"repository"`
	}
	anyPayload struct {
		Repository *payloadRepo `json:"repository"`
	}
)

func (u *payloadUser) name() string {
	if u == nil {
		return ""
	}
	if u.Login != "" {
		return u.Login
	}
	return u.Username
}

// zeroSHA reports an all-zero object id (SHA-1 or SHA-256), Gitea's
// before for a created ref and after for a deleted one.
func zeroSHA(s string) bool {
	return len(s) >= 40 && strings.Trim(s, "0") == ""
}

// ParseDelivery normalizes a verified delivery by its X-Forgejo-Event or
// X-Gitea-Event header:
//   - push: a branch push (EventPush) or a tag push (EventTag);
//   - create: a tag is EventTag; a branch is EventOther, since Gitea also
//     sends a push for it (before all zeros), which carries the event;
//   - delete: a deleted branch or tag (EventPush or EventTag with Deleted),
//     as Gitea may send no push for a deletion;
//   - pull_request: opened, synchronized (PRUpdated), reopened, closed
//     (PRMerged when merged); other actions are PROther;
//   - anything else is EventOther.
func (f *Forge) ParseDelivery(h http.Header, body []byte) ([]forge.Event, error) {
	name := ""
	for _, hdr := range eventHeaders() {
		if name = strings.TrimSpace(h.Get(hdr)); name != "" {
			break
		}
	}
	if name == "" {
		return nil, &PayloadError{Reason: "no X-Gitea-Event or X-Forgejo-Event header"}
	}
	if !eventName(name) {
		return nil, &PayloadError{Reason: fmt.Sprintf("%q is not a Gitea event name", oneLine(name))}
	}
	if len(body) > maxDeliveryBytes {
		return nil, &PayloadError{Event: name, Reason: fmt.Sprintf("the body is larger than %d bytes", maxDeliveryBytes)}
	}
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return nil, &PayloadError{Event: name, Reason: "the body is not a JSON object"}
	}
	ev, err := parse(name, body)
	if err != nil {
		return nil, err
	}
	ev.Provider, ev.Name = Provider, name
	return []forge.Event{ev}, nil
}

func parse(name string, body []byte) (forge.Event, error) {
	bad := func(reason string, err error) (forge.Event, error) {
		return forge.Event{}, &PayloadError{Event: name, Reason: reason, Err: err}
	}
	switch name {
	case "push":
		var p pushPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return bad("not a push payload", err)
		}
		if p.Ref == "" || !repoOK(p.Repository) {
			return bad("the push names no ref or repository", nil)
		}
		ev := forge.Event{Kind: forge.EventOther, Ref: p.Ref, Before: p.Before, After: p.After,
			Commits: p.TotalCommits, Pusher: p.Pusher.name(),
			Created: zeroSHA(p.Before), Deleted: zeroSHA(p.After)}
		if ev.Commits <= 0 {
			ev.Commits = len(p.Commits)
		}
		if !refName(p.Ref) || !shaOrEmpty(p.Before) || !shaOrEmpty(p.After) {
			return bad(fmt.Sprintf("the push names ref %q from %q to %q", oneLine(p.Ref), oneLine(p.Before), oneLine(p.After)), nil)
		}
		if ev.Pusher == "" {
			ev.Pusher = p.Sender.name()
		}
		setRef(&ev, p.Ref)
		setRepo(&ev, p.Repository)
		return detailsIfActed(ev), nil

	case "create", "delete":
		var p refPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return bad("not a "+name+" payload", err)
		}
		if p.Ref == "" || !repoOK(p.Repository) {
			return bad("the "+name+" event names no ref or repository", nil)
		}
		if !refName(p.Ref) || !shaOrEmpty(p.Sha) {
			return bad(fmt.Sprintf("the %s event names ref %q at %q", name, oneLine(p.Ref), oneLine(p.Sha)), nil)
		}
		ev := forge.Event{Kind: forge.EventOther, Pusher: p.Sender.name()}
		full := p.Ref
		if !strings.HasPrefix(full, "refs/") {
			switch p.RefType {
			case "tag":
				full = "refs/tags/" + p.Ref
			case "branch":
				full = "refs/heads/" + p.Ref
			}
		}
		setRef(&ev, full)
		if name == "create" {
			ev.Created, ev.After = true, p.Sha
			if ev.Kind == forge.EventPush {
				ev.Kind = forge.EventOther // the branch's own push event carries it
			}
		} else {
			ev.Deleted = true
		}
		setRepo(&ev, p.Repository)
		return detailsIfActed(ev), nil

	case "pull_request":
		var p prPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return bad("not a pull_request payload", err)
		}
		if p.PullRequest == nil || !repoOK(p.Repository) {
			return bad("the pull_request event has no pull_request or repository", nil)
		}
		pr := p.PullRequest
		out := &forge.PullRequest{
			Number: p.Number, Action: prAction(p.Action, pr.Merged), Title: pr.Title, URL: pr.HTMLURL,
			SourceBranch: pr.Head.Ref, TargetBranch: pr.Base.Ref, HeadSHA: pr.Head.Sha,
			Author: pr.User.name(), Fork: fork(pr.Head, pr.Base, p.Repository),
		}
		if out.Number == 0 {
			out.Number = pr.Number
		}
		if out.Number <= 0 {
			return bad("the pull request has no number", nil)
		}
		if !shaOrEmpty(out.HeadSHA) {
			return bad(fmt.Sprintf("pull request #%d names head %q", out.Number, oneLine(out.HeadSHA)), nil)
		}
		for _, b := range []string{out.SourceBranch, out.TargetBranch} {
			if b != "" && !refName(b) {
				return bad(fmt.Sprintf("pull request #%d names branch %q", out.Number, oneLine(b)), nil)
			}
		}
		switch out.Action {
		case forge.PROpened, forge.PRReopened, forge.PRUpdated:
			// A preview is built from these.
			if out.HeadSHA == "" || out.SourceBranch == "" || out.TargetBranch == "" {
				return bad(fmt.Sprintf("pull request #%d (%s) lacks its head commit or a branch", out.Number, out.Action), nil)
			}
		}
		ev := forge.Event{Kind: forge.EventPullRequest, PullRequest: out}
		setRepo(&ev, p.Repository)
		return ev, nil
	}
	var p anyPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return bad("not a JSON object", err)
	}
	ev := forge.Event{Kind: forge.EventOther}
	setRepo(&ev, p.Repository)
	return ev, nil
}

// eventName accepts what Gitea puts in X-Gitea-Event: a short name such as
// push or pull_request_approved.
func eventName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// shaOrEmpty accepts a full lowercase hex object id, SHA-1 or SHA-256, or
// nothing.
func shaOrEmpty(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// refName accepts a ref or branch name gitaccess may pass on: non-empty,
// valid UTF-8, no control characters, bounded. Git's own rules are
// stricter; this keeps hostile names out.
func refName(s string) bool {
	if s == "" || len(s) > 1024 || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// repoOK accepts the repository of an event gitaccess may act on: it must
// name itself and its web URL, the keys routing matches on.
func repoOK(r *payloadRepo) bool {
	return r != nil && refName(r.FullName) && refName(r.HTMLURL)
}

// detailsIfActed drops a ref's details from an event gitaccess does not
// act on: EventOther carries only the repository.
func detailsIfActed(ev forge.Event) forge.Event {
	if ev.Kind != forge.EventOther {
		return ev
	}
	return forge.Event{Kind: forge.EventOther, RepoURL: ev.RepoURL, RepoFullName: ev.RepoFullName}
}

// setRef fills the kind, branch or tag from a full ref name; other refs
// stay EventOther.
func setRef(ev *forge.Event, ref string) {
	ev.Ref = ref
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok && b != "" {
		ev.Kind, ev.Branch = forge.EventPush, b
	} else if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok && t != "" {
		ev.Kind, ev.Tag = forge.EventTag, t
	}
}

func setRepo(ev *forge.Event, r *payloadRepo) {
	if r != nil {
		ev.RepoURL, ev.RepoFullName = r.HTMLURL, r.FullName
	}
}

// prAction maps Gitea's HookIssueAction: a merge arrives as closed with
// pull_request.merged set.
func prAction(action string, merged bool) string {
	switch action {
	case "opened":
		return forge.PROpened
	case "synchronized":
		return forge.PRUpdated
	case "reopened":
		return forge.PRReopened
	case "closed":
		if merged {
			return forge.PRMerged
		}
		return forge.PRClosed
	}
	return forge.PROther
}

// fork reports a head branch in another repository than the base, by the
// repository ids Gitea gives (repo_id, or repo.id), else by full name; a
// trimmed payload that names neither is taken as no fork.
func fork(head, base prBranch, repo *payloadRepo) bool {
	hid, bid := head.RepoID, base.RepoID
	if hid == 0 && head.Repo != nil {
		hid = head.Repo.ID
	}
	if bid == 0 && base.Repo != nil {
		bid = base.Repo.ID
	}
	if bid == 0 && repo != nil {
		bid = repo.ID
	}
	if hid != 0 && bid != 0 {
		return hid != bid
	}
	if head.Repo != nil && head.Repo.FullName != "" && repo != nil && repo.FullName != "" {
		return !strings.EqualFold(head.Repo.FullName, repo.FullName)
	}
	return false
}
