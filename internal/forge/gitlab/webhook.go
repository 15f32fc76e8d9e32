package gitlab

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

var _ forge.Webhooks = (*Forge)(nil)

// GitLab's delivery headers (doc/user/project/integrations/webhooks.md,
// "Delivery headers").
const (
	// headerToken carries the hook's secret token itself: GitLab does not
	// sign the body.
	headerToken = "X-Gitlab-Token"
	// headerEvent names the event: "Push Hook", "Tag Push Hook",
	// "Merge Request Hook"...
	headerEvent = "X-Gitlab-Event"
	// headerIdempotency is the "unique ID consistent across webhook
	// retries" (GitLab 17.4+, gitlab-org/gitlab!160952, which passes it on
	// when a logged delivery is resent); GitLab's signed deliveries reuse it
	// as webhook-id (gitlab-org/gitlab!230944).
	headerIdempotency = "Idempotency-Key"
	// headerEventUUID is the "unique ID per webhook that is not recursive":
	// an id of the event, which older GitLab sends alone.
	headerEventUUID = "X-Gitlab-Event-UUID"
)

// GitLab's event names and the object_kind each carries
// (doc/user/project/integrations/webhook_events.md).
const (
	hookPush  = "Push Hook"
	hookTag   = "Tag Push Hook"
	hookMerge = "Merge Request Hook"

	kindPush  = "push"
	kindTag   = "tag_push"
	kindMerge = "merge_request"
)

// maxDeliveryBytes bounds what ParseDelivery decodes. GitLab caps a push
// payload at 20 commits (total_commits_count carries the real number), so
// real deliveries are far smaller; the receiver bounds the body earlier,
// and this keeps the parser safe on its own.
const maxDeliveryBytes = 25 << 20

// maxIDLen bounds a delivery id taken from a header; GitLab's are UUIDs.
const maxIDLen = 128

// VerifyDelivery checks X-Gitlab-Token against the hook's secret. GitLab
// sends the token as set on the hook and signs nothing, so body is not
// part of the check: only TLS protects it in transit. SHA-256 digests are
// compared, so the comparison takes the same time whatever either length.
func (f *Forge) VerifyDelivery(h http.Header, _ []byte, sec secret.Value) error {
	got := h.Values(headerToken)
	switch {
	case sec.IsZero():
		return fmt.Errorf("%w: gitaccess holds no secret for this hook, so no delivery can be trusted", forge.ErrBadSignature)
	case len(got) == 0 || got[0] == "":
		return fmt.Errorf("%w: no %s header; is the hook's secret token set in GitLab?", forge.ErrUnsigned, headerToken)
	case len(got) > 1:
		return fmt.Errorf("%w: %d %s headers", forge.ErrBadSignature, len(got), headerToken)
	}
	want := sha256.Sum256(sec.RevealBytes())
	have := sha256.Sum256([]byte(got[0]))
	if subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		return fmt.Errorf("%w: %s differs", forge.ErrBadSignature, headerToken)
	}
	return nil
}

// DeliveryID is Idempotency-Key, else X-Gitlab-Event-UUID (GitLab before
// 17.4): only the former is documented to stay the same when a delivery is
// retried, which is what makes a redelivery a no-op. A value that is not a
// short printable token is no id ("").
func (f *Forge) DeliveryID(h http.Header) string {
	for _, k := range []string{headerIdempotency, headerEventUUID} {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			if !visible(v, maxIDLen) || strings.Contains(v, " ") {
				return ""
			}
			return v
		}
	}
	return ""
}

// visible reports a non-empty ASCII string of printable characters
// (spaces included), at most max bytes long.
func visible(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// glProjectRef is the project every event payload carries.
type glProjectRef struct {
	WebURL            string `json:"web_url"`
	PathWithNamespace string `json:"path_with_namespace"`
}

// glEnvelope is what every delivery is read for first. Only the fields
// gitaccess uses are decoded, so a change elsewhere in GitLab's payloads
// cannot make a delivery unreadable; project is decoded apart because
// events gitaccess ignores need not carry one it can read.
type glEnvelope struct {
	ObjectKind string          `json:"object_kind"`
	Project    json.RawMessage `json:"project"`
}

// glPushPayload is a push or tag push event.
type glPushPayload struct {
	Ref               string `json:"ref"`
	Before            string `json:"before"`
	After             string `json:"after"`
	TotalCommitsCount int    `json:"total_commits_count"`
	UserUsername      string `json:"user_username"`
}

// glMergePayload is a merge request event.
type glMergePayload struct {
	User struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
	Attrs struct {
		IID             int     `json:"iid"`
		Action          string  `json:"action"`
		Title           string  `json:"title"`
		URL             string  `json:"url"`
		SourceBranch    string  `json:"source_branch"`
		TargetBranch    string  `json:"target_branch"`
		SourceProjectID int64   `json:"source_project_id"`
		TargetProjectID int64   `json:"target_project_id"`
		AuthorID        int64   `json:"author_id"`
		OldRev          *string `json:"oldrev"`
		LastCommit      *struct {
			ID string `json:"id"`
		} `json:"last_commit"`
	} `json:"object_attributes"`
}

// ParseDelivery normalizes one GitLab delivery into one event. The kind
// comes from X-Gitlab-Event, which must agree with the body's object_kind
// (a body alone names it when the header is missing). Events other than
// push, tag push and merge request, system hooks included, are EventOther.
func (f *Forge) ParseDelivery(h http.Header, body []byte) ([]forge.Event, error) {
	if len(body) > maxDeliveryBytes {
		return nil, fmt.Errorf("gitlab delivery: %d bytes, over the %d gitaccess reads", len(body), maxDeliveryBytes)
	}
	var env glEnvelope
	if err := decode(body, &env); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(h.Get(headerEvent))
	kind := map[string]string{hookPush: kindPush, hookTag: kindTag, hookMerge: kindMerge}[name]
	switch {
	case name == "":
		kind, name = env.ObjectKind, env.ObjectKind
	case kind != "" && env.ObjectKind != "" && env.ObjectKind != kind:
		return nil, fmt.Errorf("gitlab delivery: %q carries object_kind %q, not %q", oneLine(name), oneLine(env.ObjectKind), kind)
	}
	if !visible(name, 100) {
		name = "unnamed"
	}
	var project glProjectRef
	projectErr := json.Unmarshal(env.Project, &project)
	if projectErr != nil {
		project = glProjectRef{}
	}
	ev := forge.Event{Provider: forge.GitLab, Kind: forge.EventOther, Name: name,
		RepoURL: project.WebURL, RepoFullName: project.PathWithNamespace}
	if kind != kindPush && kind != kindTag && kind != kindMerge {
		return []forge.Event{ev}, nil
	}
	if projectErr != nil || project.WebURL == "" || project.PathWithNamespace == "" {
		return nil, fmt.Errorf("gitlab delivery: no project.web_url and project.path_with_namespace to route it by")
	}
	if kind == kindMerge {
		var p glMergePayload
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		pr, err := mergeRequest(p)
		if err != nil {
			return nil, err
		}
		ev.Kind, ev.PullRequest = forge.EventPullRequest, pr
		return []forge.Event{ev}, nil
	}
	var p glPushPayload
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	if err := pushEvent(&ev, kind, p); err != nil {
		return nil, err
	}
	return []forge.Event{ev}, nil
}

// decode reads a JSON object; anything else (an array, a bare value,
// trailing data, which json.Unmarshal refuses) is a malformed delivery.
func decode(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("gitlab delivery: the body is not a JSON object")
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return fmt.Errorf("gitlab delivery: %w", err)
	}
	return nil
}

// zeroSHA is GitLab's blank commit id (all zeros), its before for a new
// ref and its after for a deleted one.
func zeroSHA(s string) bool { return strings.Trim(s, "0") == "" }

// pushEvent fills a push or tag event. GitLab's payload has no forced
// flag (unlike GitHub's forced), so Forced stays false: a force push
// looks like any other push with a before that is not an ancestor.
func pushEvent(ev *forge.Event, kind string, p glPushPayload) error {
	prefix, evKind := "refs/heads/", forge.EventPush
	if kind == kindTag {
		prefix, evKind = "refs/tags/", forge.EventTag
	}
	short, ok := strings.CutPrefix(p.Ref, prefix)
	if !ok || !refName(short) {
		return fmt.Errorf("gitlab delivery: ref %q is not a %s ref", oneLine(p.Ref), prefix+"*")
	}
	if !sha(p.Before) || !sha(p.After) {
		return fmt.Errorf("gitlab delivery: before %q or after %q is not a commit id", oneLine(p.Before), oneLine(p.After))
	}
	if p.TotalCommitsCount < 0 {
		return fmt.Errorf("gitlab delivery: total_commits_count %d", p.TotalCommitsCount)
	}
	ev.Kind, ev.Ref = evKind, p.Ref
	if kind == kindTag {
		ev.Tag = short
	} else {
		ev.Branch = short
	}
	ev.Before, ev.After = p.Before, p.After
	ev.Commits = p.TotalCommitsCount
	// user_username is absent from some tag payloads (the documentation's
	// example has user_name, a display name, only): then Pusher stays "".
	ev.Pusher = p.UserUsername
	ev.Created, ev.Deleted = zeroSHA(p.Before), zeroSHA(p.After)
	return nil
}

// mergeRequest reads a merge request event. Its action
// (object_attributes.action) is open, close, reopen, update, approved,
// unapproved, approval, unapproval or merge; an update carries oldrev only
// when the source branch got new code (a push, an applied suggestion),
// which is the one update that needs a new preview
// (doc/user/project/integrations/webhook_events.md, "Merge request events").
func mergeRequest(p glMergePayload) (*forge.PullRequest, error) {
	a := p.Attrs
	if a.IID <= 0 {
		return nil, fmt.Errorf("gitlab delivery: merge request iid %d", a.IID)
	}
	pr := &forge.PullRequest{
		Number:       a.IID,
		Title:        a.Title,
		URL:          a.URL,
		SourceBranch: a.SourceBranch,
		TargetBranch: a.TargetBranch,
		// The source project is another one for a fork; null (0) counts
		// as one too, since the source is then not the target.
		Fork: a.SourceProjectID != a.TargetProjectID,
	}
	switch a.Action {
	case "open":
		pr.Action = forge.PROpened
	case "reopen":
		pr.Action = forge.PRReopened
	case "update":
		pr.Action = forge.PROther
		if a.OldRev != nil && *a.OldRev != "" {
			pr.Action = forge.PRUpdated
		}
	case "close":
		pr.Action = forge.PRClosed
	case "merge":
		pr.Action = forge.PRMerged
	default:
		pr.Action = forge.PROther
	}
	if a.LastCommit != nil && a.LastCommit.ID != "" {
		if !sha(a.LastCommit.ID) {
			return nil, fmt.Errorf("gitlab delivery: last_commit.id %q is not a commit id", oneLine(a.LastCommit.ID))
		}
		pr.HeadSHA = a.LastCommit.ID
	}
	for _, b := range []string{pr.SourceBranch, pr.TargetBranch} {
		if b != "" && !refName(b) {
			return nil, fmt.Errorf("gitlab delivery: merge request !%d names branch %q", a.IID, oneLine(b))
		}
	}
	switch pr.Action {
	case forge.PROpened, forge.PRReopened, forge.PRUpdated:
		// A preview is built from these.
		if pr.HeadSHA == "" || pr.SourceBranch == "" || pr.TargetBranch == "" {
			return nil, fmt.Errorf("gitlab delivery: merge request !%d (%s) lacks its last commit or a branch", a.IID, pr.Action)
		}
	}
	// The payload names the author by id only; user is whoever acted, so
	// it is the author only when the ids match.
	if p.User.ID != 0 && p.User.ID == a.AuthorID {
		pr.Author = p.User.Username
	}
	return pr, nil
}

// sha reports a full hex commit id: SHA-1, or SHA-256 for repositories in
// that object format.
func sha(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// refName accepts a branch or tag name gitaccess may pass on: non-empty,
// no control characters, bounded. Git's own rules are stricter; this only
// keeps hostile names out.
func refName(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
