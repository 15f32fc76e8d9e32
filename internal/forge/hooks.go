package forge

import (
	"context"
	"errors"
	"net/http"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// HookSpec is the webhook gitaccess installs on a repository: push, tag
// and pull/merge-request events, JSON, to URL, signed with Secret.
type HookSpec struct {
	// URL is <public-url>/hooks/{hook_id}; it identifies the hook, so
	// installing is idempotent by URL.
	URL    string
	Secret secret.Value
}

// Hook is a webhook as the provider reports it.
type Hook struct {
	// ID is the provider's hook id.
	ID     string `json:"id"`
	URL    string `json:"url"`
	Active bool   `json:"active"`
	// Events are the provider's event names.
	Events []string `json:"events"`
	// Drift lists how the hook differs from what gitaccess installs
	// ("inactive", "no pull request events", "content type form"...).
	// Secrets cannot be read back, so they are never compared.
	Drift []string `json:"drift,omitempty"`
}

// Hooks installs and inspects a repository's webhooks.
type Hooks interface {
	// EnsureHook creates the hook, or updates the one with spec.URL (events,
	// active, content type, secret): never a duplicate.
	EnsureHook(ctx context.Context, cred Credential, fullName string, spec HookSpec) (Hook, error)
	// FindHook finds the hook whose URL is hookURL; ok is false when the
	// repository has none.
	FindHook(ctx context.Context, cred Credential, fullName, hookURL string) (hook Hook, ok bool, err error)
	// DeleteHook deletes the hook whose URL is hookURL; absent is no error.
	DeleteHook(ctx context.Context, cred Credential, fullName, hookURL string) error
}

// EventKind is a normalized delivery kind.
type EventKind string

const (
	EventPush        EventKind = "push"
	EventTag         EventKind = "tag"
	EventPullRequest EventKind = "pull_request"
	EventPing        EventKind = "ping"
	// EventOther is any event gitaccess does not act on.
	EventOther EventKind = "other"
)

// PR actions, normalized across providers.
const (
	PROpened   = "opened"
	PRUpdated  = "updated"
	PRReopened = "reopened"
	PRClosed   = "closed"
	PRMerged   = "merged"
	// PROther is any action that neither opens, updates nor closes a
	// preview (labels, review requests...).
	PROther = "other"
)

// Event is a delivery normalized across providers.
type Event struct {
	Provider Provider  `json:"provider"`
	Kind     EventKind `json:"kind"`
	// Name is the provider's event name ("push", "Merge Request Hook",
	// "pullrequest:fulfilled"...).
	Name string `json:"name"`
	// RepoURL is the repository's web URL as the payload gives it.
	RepoURL      string `json:"repo_url"`
	RepoFullName string `json:"repo_full_name"`

	// Push and tag.
	Ref     string `json:"ref,omitempty"` // refs/heads/main, refs/tags/v1
	Branch  string `json:"branch,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Before  string `json:"before,omitempty"`
	After   string `json:"after,omitempty"`
	Commits int    `json:"commits,omitempty"`
	Pusher  string `json:"pusher,omitempty"`
	Forced  bool   `json:"forced,omitempty"`
	Created bool   `json:"created,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`

	PullRequest *PullRequest `json:"pull_request,omitempty"`
}

// PullRequest is a pull (or merge) request event's facts.
type PullRequest struct {
	Number       int    `json:"number"`
	Action       string `json:"action"`
	Title        string `json:"title,omitempty"`
	URL          string `json:"url,omitempty"`
	SourceBranch string `json:"source_branch"`
	TargetBranch string `json:"target_branch"`
	HeadSHA      string `json:"head_sha"`
	Author       string `json:"author,omitempty"`
	// Fork is true when the source branch lives in another repository.
	Fork bool `json:"fork"`
}

// Signature failures, so the receiver can answer 401 and record why.
var (
	ErrUnsigned     = errors.New("the delivery carries no signature")
	ErrBadSignature = errors.New("the delivery's signature does not match the hook's secret")
)

// Webhooks reads one provider's deliveries.
type Webhooks interface {
	// VerifyDelivery checks the provider's signature over the raw body in
	// constant time: ErrUnsigned or ErrBadSignature (wrapped) when it fails.
	VerifyDelivery(h http.Header, body []byte, secret secret.Value) error
	// DeliveryID is the provider's unique id of the delivery ("" if none).
	DeliveryID(h http.Header) string
	// ParseDelivery normalizes a verified delivery: usually one event, but
	// one Bitbucket push can carry several changes (branches and tags).
	// Events gitaccess does not act on come back as EventOther, not as
	// errors; a malformed payload is an error.
	ParseDelivery(h http.Header, body []byte) ([]Event, error)
}
