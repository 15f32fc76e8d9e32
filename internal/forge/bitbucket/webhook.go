package bitbucket

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

var _ forge.Webhooks = (*Forge)(nil)

const (
	// maxDeliveryBytes bounds what ParseDelivery reads, as the receiver
	// does (webhook.MaxBody).
	maxDeliveryBytes = 25 << 20
	// maxChanges bounds the ref changes read from one push. A push of more
	// refs at once (a mirror push) is refused rather than half read.
	maxChanges = 1000
	// maxDeliveryID bounds X-Request-UUID: Bitbucket sends a braced UUID,
	// and the id is a unique key in the store.
	maxDeliveryID = 128
)

// PayloadError means a delivery's body is not what Bitbucket sends for its
// event key.
type PayloadError struct {
	// Event is the X-Event-Key ("repo:push").
	Event  string
	Reason string
	Err    error
}

func (e *PayloadError) Error() string {
	msg := "bitbucket " + e.Event + " delivery: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *PayloadError) Unwrap() error { return e.Err }

// VerifyDelivery checks X-Hub-Signature, "sha256=" and the hex HMAC-SHA256
// of the raw body keyed with the hook's secret (API reference, "Create a
// webhook for a repository": Bitbucket sends it only when the hook has a
// secret), in constant time.
func (f *Forge) VerifyDelivery(h http.Header, body []byte, hookSecret secret.Value) error {
	vals := h.Values("X-Hub-Signature")
	if len(vals) == 0 || len(vals) == 1 && strings.TrimSpace(vals[0]) == "" {
		return fmt.Errorf("bitbucket: no X-Hub-Signature header (is the hook's secret set?): %w", forge.ErrUnsigned)
	}
	if len(vals) > 1 {
		return fmt.Errorf("bitbucket: %d X-Hub-Signature headers: %w", len(vals), forge.ErrBadSignature)
	}
	if hookSecret.IsZero() {
		// An empty key is one anybody can sign with.
		return fmt.Errorf("bitbucket: gitaccess holds no secret for this hook: %w", forge.ErrBadSignature)
	}
	algo, digest, ok := strings.Cut(strings.TrimSpace(vals[0]), "=")
	if !ok || !strings.EqualFold(algo, "sha256") {
		return fmt.Errorf("bitbucket: X-Hub-Signature is not sha256=<hex>: %w", forge.ErrBadSignature)
	}
	got, err := hex.DecodeString(digest)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("bitbucket: X-Hub-Signature is not a hex SHA-256 digest: %w", forge.ErrBadSignature)
	}
	mac := hmac.New(sha256.New, hookSecret.RevealBytes())
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), got) {
		return fmt.Errorf("bitbucket: X-Hub-Signature does not match: %w", forge.ErrBadSignature)
	}
	return nil
}

// DeliveryID is X-Request-UUID, which Bitbucket puts on every delivery
// ("Event payloads", HTTP headers; X-Hook-UUID names the hook, not the
// delivery). A value no UUID could be is ignored: "" only costs
// deduplication.
func (f *Forge) DeliveryID(h http.Header) string {
	id := strings.TrimSpace(h.Get("X-Request-UUID"))
	if len(id) > maxDeliveryID {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return ""
		}
	}
	return id
}

// account is an actor or author. Post-GDPR payloads name users by
// nickname; older ones (contracts webhooks/pullrequest_fulfilled.json)
// still carry username instead.
type account struct {
	Nickname    string `json:"nickname"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
}

func (a *account) name() string {
	if a == nil {
		return ""
	}
	for _, s := range []string{a.Nickname, a.Username, a.DisplayName} {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

type href struct {
	Href string `json:"href"`
}

// repoRef is a repository as payloads name it.
type repoRef struct {
	FullName string `json:"full_name"`
	Links    struct {
		HTML href `json:"html"`
	} `json:"links"`
}

// envelope is what every delivery gitaccess reads carries.
type envelope struct {
	Actor      *account `json:"actor"`
	Repository *repoRef `json:"repository"`
}

// ref is a change's new or old state: a branch or tag and its commit. An
// annotated tag's target is still the commit it tags (contracts
// webhooks/repo_push.annotated_tag_created.json).
type ref struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Target struct {
		Hash string `json:"hash"`
	} `json:"target"`
}

// change is one entry of push.changes. commits holds at most the 5 most
// recent commits, with truncated set when there were more ("Event
// payloads", quoted in BSERV-11847), so their number is a lower bound and
// nothing else of them is read. created and closed agree with old and new
// being null in every contract payload; the nulls are what is trusted.
type change struct {
	New     *ref       `json:"new"`
	Old     *ref       `json:"old"`
	Forced  bool       `json:"forced"`
	Commits []struct{} `json:"commits"`
}

// endpoint is a pull request's source or destination. Its commit hash is
// abbreviated (12 hex digits) in every contract payload.
type endpoint struct {
	Branch struct {
		Name string `json:"name"`
	} `json:"branch"`
	Commit *struct {
		Hash string `json:"hash"`
	} `json:"commit"`
	Repository *repoRef `json:"repository"`
}

type pullRequest struct {
	ID          int       `json:"id"`
	Title       string    `json:"title"`
	Author      *account  `json:"author"`
	Source      *endpoint `json:"source"`
	Destination *endpoint `json:"destination"`
	Links       struct {
		HTML href `json:"html"`
	} `json:"links"`
}

// prAction maps the pull request events gitaccess subscribes to.
func prAction(event string) (string, bool) {
	switch event {
	case "pullrequest:created":
		return forge.PROpened, true
	case "pullrequest:updated":
		// Sent for new commits on the source branch too (contracts
		// webhooks/pullrequest_updated.new_commit.json).
		return forge.PRUpdated, true
	case "pullrequest:fulfilled":
		return forge.PRMerged, true
	case "pullrequest:rejected":
		// Bitbucket's "declined".
		return forge.PRClosed, true
	}
	return "", false
}

// ParseDelivery normalizes a delivery by its X-Event-Key: repo:push gives
// one event per ref change (a branch is EventPush, a tag EventTag), the
// four pull request events give EventPullRequest, and any other key one
// EventOther. The body is bounded, and so is the number of changes read.
func (f *Forge) ParseDelivery(h http.Header, body []byte) ([]forge.Event, error) {
	key := strings.TrimSpace(h.Get("X-Event-Key"))
	if key == "" {
		return nil, &PayloadError{Event: "(unnamed)", Reason: "no X-Event-Key header"}
	}
	if len(key) > 64 {
		return nil, &PayloadError{Event: key[:64] + "…", Reason: "the X-Event-Key is too long to be Bitbucket's"}
	}
	if len(body) > maxDeliveryBytes {
		return nil, &PayloadError{Event: key, Reason: fmt.Sprintf("the body is larger than %d MiB", maxDeliveryBytes>>20)}
	}
	if key == "repo:push" {
		return parsePush(key, body)
	}
	if action, ok := prAction(key); ok {
		ev, err := parsePullRequest(key, action, body)
		if err != nil {
			return nil, err
		}
		return []forge.Event{ev}, nil
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, &PayloadError{Event: key, Reason: "the body is not a JSON object", Err: err}
	}
	ev := base(key, env)
	ev.Kind = forge.EventOther
	return []forge.Event{ev}, nil
}

// base fills what every event carries.
func base(key string, env envelope) forge.Event {
	ev := forge.Event{Provider: forge.Bitbucket, Name: key}
	if env.Repository != nil {
		ev.RepoFullName = env.Repository.FullName
		ev.RepoURL = env.Repository.Links.HTML.Href
	}
	return ev
}

func parsePush(key string, body []byte) ([]forge.Event, error) {
	var p struct {
		envelope
		Push *struct {
			// Changes stay raw, then are decoded one at a time, so a
			// hostile list costs at most maxChanges decoded entries.
			Changes json.RawMessage `json:"changes"`
		} `json:"push"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, &PayloadError{Event: key, Reason: "the body is not a push payload", Err: err}
	}
	if p.Repository == nil || p.Push == nil {
		return nil, &PayloadError{Event: key, Reason: "no repository or push object"}
	}
	dec := json.NewDecoder(bytes.NewReader(p.Push.Changes))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, &PayloadError{Event: key, Reason: "push.changes is not a list", Err: err}
	}
	pusher := p.Actor.name()
	var out []forge.Event
	for n := 0; dec.More(); n++ {
		if n == maxChanges {
			return nil, &PayloadError{Event: key, Reason: fmt.Sprintf("the push carries more than %d ref changes, more than gitaccess reads from one delivery", maxChanges)}
		}
		var c change
		if err := dec.Decode(&c); err != nil {
			return nil, &PayloadError{Event: key, Reason: fmt.Sprintf("push.changes[%d] is not a change", n), Err: err}
		}
		r := c.New
		if r == nil {
			r = c.Old
		}
		if r == nil {
			continue // neither before nor after: nothing happened
		}
		if r.Name == "" {
			return nil, &PayloadError{Event: key, Reason: fmt.Sprintf("push.changes[%d] names no branch or tag", n)}
		}
		ev := base(key, p.envelope)
		ev.Pusher = pusher
		ev.Forced = c.Forced
		ev.Created = c.Old == nil
		ev.Deleted = c.New == nil
		ev.Commits = len(c.Commits)
		if c.Old != nil {
			ev.Before = c.Old.Target.Hash
		}
		if c.New != nil {
			ev.After = c.New.Target.Hash
		}
		switch r.Type {
		case "branch":
			ev.Kind, ev.Ref, ev.Branch = forge.EventPush, "refs/heads/"+r.Name, r.Name
		case "tag":
			ev.Kind, ev.Ref, ev.Tag = forge.EventTag, "refs/tags/"+r.Name, r.Name
		default:
			// Mercurial's named_branch and bookmark are gone from
			// Bitbucket; anything else is not acted on.
			ev.Kind = forge.EventOther
		}
		out = append(out, ev)
	}
	if _, err := dec.Token(); err != nil {
		return nil, &PayloadError{Event: key, Reason: "push.changes does not end", Err: err}
	}
	return out, nil
}

func parsePullRequest(key, action string, body []byte) (forge.Event, error) {
	var p struct {
		envelope
		PullRequest *pullRequest `json:"pullrequest"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return forge.Event{}, &PayloadError{Event: key, Reason: "the body is not a pull request payload", Err: err}
	}
	pr := p.PullRequest
	switch {
	case p.Repository == nil || pr == nil:
		return forge.Event{}, &PayloadError{Event: key, Reason: "no repository or pullrequest object"}
	case pr.ID <= 0:
		return forge.Event{}, &PayloadError{Event: key, Reason: "the pull request has no id"}
	case pr.Source == nil || pr.Destination == nil || pr.Source.Branch.Name == "" || pr.Destination.Branch.Name == "":
		return forge.Event{}, &PayloadError{Event: key, Reason: "the pull request names no source or destination branch"}
	}
	ev := base(key, p.envelope)
	ev.Kind = forge.EventPullRequest
	out := &forge.PullRequest{
		Number:       pr.ID,
		Action:       action,
		Title:        pr.Title,
		URL:          pr.Links.HTML.Href,
		SourceBranch: pr.Source.Branch.Name,
		TargetBranch: pr.Destination.Branch.Name,
		Author:       pr.Author.name(),
		Fork:         isFork(pr.Source, pr.Destination),
	}
	if pr.Source.Commit != nil {
		out.HeadSHA = pr.Source.Commit.Hash
	}
	ev.PullRequest = out
	return ev, nil
}

// isFork compares the source and destination repositories. A source
// without a repository (a fork since deleted) counts as a fork: code from
// elsewhere is the cautious reading.
func isFork(src, dst *endpoint) bool {
	if src.Repository == nil || src.Repository.FullName == "" {
		return true
	}
	if dst.Repository == nil {
		return true
	}
	return !strings.EqualFold(src.Repository.FullName, dst.Repository.FullName)
}
