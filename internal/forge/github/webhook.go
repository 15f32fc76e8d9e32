package github

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Delivery headers, as GitHub's "Delivery headers" docs name them.
const (
	headerEvent      = "X-GitHub-Event"
	headerDelivery   = "X-GitHub-Delivery"
	headerSig256     = "X-Hub-Signature-256"
	headerSigSHA1    = "X-Hub-Signature"
	signaturePrefix  = "sha256="
	formContentType  = "application/x-www-form-urlencoded"
	formPayloadField = "payload"
)

const (
	// MaxDeliveryBytes is the largest body gitaccess accepts from GitHub:
	// "Payloads are capped at 25 MB. If an event generates a larger
	// payload, GitHub will not deliver a payload" (GitHub's webhook docs).
	MaxDeliveryBytes = 25 << 20
	// maxJSONDepth bounds nesting; GitHub's payloads nest about 6 deep,
	// and encoding/json alone would accept 10,000.
	maxJSONDepth = 64
	// maxDeliveryIDLen bounds X-GitHub-Delivery, a GUID (36 characters).
	maxDeliveryIDLen = 128
	// maxEventNameLen bounds X-GitHub-Event ("pull_request_review_thread"
	// is among the longest).
	maxEventNameLen = 64
)

// PayloadError is a delivery gitaccess cannot read: no or a strange event
// header, a body over MaxDeliveryBytes or nested too deep, not JSON, or a
// push or pull request without the fields GitHub always sends.
type PayloadError struct {
	// Event is X-GitHub-Event ("" when absent or refused).
	Event  string
	Reason string
	Err    error
}

func (e *PayloadError) Error() string {
	msg := "GitHub delivery"
	if e.Event != "" {
		msg += " (" + e.Event + ")"
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *PayloadError) Unwrap() error { return e.Err }

// VerifyDelivery implements forge.Webhooks: X-Hub-Signature-256 must be
// "sha256=" and the hex HMAC-SHA256 of the raw body under the hook's
// secret, compared with hmac.Equal (constant time). The older SHA-1
// X-Hub-Signature alone is refused as unsigned: GitHub sends both headers
// when a hook has a secret, so SHA-1 alone is a downgrade.
func (f *Forge) VerifyDelivery(h http.Header, body []byte, key secret.Value) error {
	if key.IsZero() {
		// Fail closed: an HMAC under an empty key proves nothing.
		return fmt.Errorf("GitHub delivery: the hook has no secret to check the signature against: %w", forge.ErrBadSignature)
	}
	sigs := h.Values(headerSig256)
	switch {
	case len(sigs) == 0 && h.Get(headerSigSHA1) != "":
		return fmt.Errorf("GitHub delivery carries only the SHA-1 %s, not %s: %w", headerSigSHA1, headerSig256, forge.ErrUnsigned)
	case len(sigs) == 0 || (len(sigs) == 1 && sigs[0] == ""):
		return fmt.Errorf("GitHub delivery has no %s header: %w", headerSig256, forge.ErrUnsigned)
	case len(sigs) > 1:
		return fmt.Errorf("GitHub delivery has %d %s headers: %w", len(sigs), headerSig256, forge.ErrBadSignature)
	case len(body) > MaxDeliveryBytes:
		return fmt.Errorf("GitHub delivery body is over %d bytes, more than GitHub ever sends: %w", MaxDeliveryBytes, forge.ErrBadSignature)
	}
	digits, ok := strings.CutPrefix(sigs[0], signaturePrefix)
	if !ok || len(digits) != hex.EncodedLen(sha256.Size) {
		return fmt.Errorf("GitHub delivery: %s is not sha256= and 64 hex digits: %w", headerSig256, forge.ErrBadSignature)
	}
	got, err := hex.DecodeString(digits)
	if err != nil {
		return fmt.Errorf("GitHub delivery: %s is not sha256= and 64 hex digits: %w", headerSig256, forge.ErrBadSignature)
	}
	mac := hmac.New(sha256.New, key.RevealBytes())
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("GitHub delivery: %s does not match the body: %w", headerSig256, forge.ErrBadSignature)
	}
	return nil
}

// DeliveryID implements forge.Webhooks with X-GitHub-Delivery, a GUID
// GitHub keeps on redelivery. It is not signed (only the body is), so
// anything but a short printable value counts as absent.
func (f *Forge) DeliveryID(h http.Header) string {
	id := strings.TrimSpace(h.Get(headerDelivery))
	if len(id) > maxDeliveryIDLen || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return ""
	}
	return id
}

// ParseDelivery implements forge.Webhooks by X-GitHub-Event: ping, push
// (a branch, or a tag under refs/tags/, deletions included) and
// pull_request are normalized; create, delete, installation and every
// other event are EventOther. A form-encoded delivery (content type
// "form": payload=<url-encoded JSON>) is read like a JSON one.
func (f *Forge) ParseDelivery(h http.Header, body []byte) ([]forge.Event, error) {
	name := strings.TrimSpace(h.Get(headerEvent))
	if name == "" {
		return nil, &PayloadError{Reason: "no " + headerEvent + " header"}
	}
	if len(name) > maxEventNameLen || strings.ContainsFunc(name, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '.' && r != '-'
	}) {
		return nil, &PayloadError{Reason: headerEvent + " is not an event name GitHub sends"}
	}
	if len(body) > MaxDeliveryBytes {
		return nil, &PayloadError{Event: name, Reason: fmt.Sprintf("the body is over %d bytes, more than GitHub ever sends", MaxDeliveryBytes)}
	}
	payload, err := jsonPayload(h, body)
	if err != nil {
		return nil, &PayloadError{Event: name, Reason: err.Error()}
	}
	if err := checkJSONObject(payload); err != nil {
		return nil, &PayloadError{Event: name, Reason: err.Error()}
	}
	ev := forge.Event{Provider: forge.GitHub, Kind: forge.EventOther, Name: name}
	switch name {
	case "push":
		err = parsePush(payload, &ev)
	case "pull_request":
		err = parsePullRequest(payload, &ev)
	default:
		var p struct {
			Repository *repoJSON `json:"repository"`
		}
		err = json.Unmarshal(payload, &p)
		ev.RepoFullName, ev.RepoURL = p.Repository.names()
		if name == "ping" {
			ev.Kind = forge.EventPing
		}
	}
	if err != nil {
		if pe := (*PayloadError)(nil); errors.As(err, &pe) {
			pe.Event = name
			return nil, pe
		}
		return nil, &PayloadError{Event: name, Reason: "the payload did not decode", Err: err}
	}
	return []forge.Event{ev}, nil
}

// jsonPayload returns the JSON of a delivery: the body itself, or the
// "payload" field of a form-encoded one. Without a Content-Type (a
// receiver that kept only some headers), a body starting "payload=" is
// taken as form-encoded: JSON cannot start that way.
func jsonPayload(h http.Header, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt != formContentType && !(mt == "" && bytes.HasPrefix(body, []byte(formPayloadField+"="))) {
		return body, nil
	}
	// Only the payload field is unescaped; url.ParseQuery would build a
	// map of every field a hostile body carries.
	for field := range bytes.SplitSeq(body, []byte("&")) {
		k, v, _ := bytes.Cut(field, []byte("="))
		key, err := url.QueryUnescape(string(k))
		if err != nil || key != formPayloadField {
			continue
		}
		s, err := url.QueryUnescape(string(v))
		if err != nil {
			return nil, fmt.Errorf("the form's payload field is not URL-encoded: %w", err)
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf("the form-encoded body has no %s field", formPayloadField)
}

// checkJSONObject requires a JSON object nested at most maxJSONDepth deep,
// in one pass without allocating; json.Unmarshal checks the syntax.
func checkJSONObject(b []byte) error {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("the payload is not a JSON object")
	}
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxJSONDepth {
				return fmt.Errorf("the payload nests deeper than %d levels", maxJSONDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

type repoJSON struct {
	FullName string `json:"full_name"`
	HTMLURL  string `json:"html_url"`
}

func (r *repoJSON) names() (fullName, webURL string) {
	if r == nil {
		return "", ""
	}
	return r.FullName, r.HTMLURL
}

type userJSON struct {
	Login string `json:"login"`
}

func (u *userJSON) login() string {
	if u == nil {
		return ""
	}
	return u.Login
}

// pushJSON is the part of GitHub's push payload gitaccess reads. Commits
// decode into zero-size elements: counted, never stored.
type pushJSON struct {
	Ref     string     `json:"ref"`
	Before  string     `json:"before"`
	After   string     `json:"after"`
	Created bool       `json:"created"`
	Deleted bool       `json:"deleted"`
	Forced  bool       `json:"forced"`
	Commits []struct{} `json:"commits"`
	Pusher  *struct {
		Name string `json:"name"`
	} `json:"pusher"`
	Sender     *userJSON `json:"sender"`
	Repository *repoJSON `json:"repository"`
}

// parsePush fills a push: refs/heads/ is EventPush, refs/tags/ EventTag
// (GitHub sends a tag's creation and deletion as push with created or
// deleted set), any other ref EventOther.
func parsePush(payload []byte, ev *forge.Event) error {
	var p pushJSON
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	if !strings.HasPrefix(p.Ref, "refs/") || hasControl(p.Ref) {
		return &PayloadError{Reason: fmt.Sprintf("the push names no ref under refs/ (ref %q)", truncate(p.Ref))}
	}
	if !isObjectID(p.Before) || !isObjectID(p.After) {
		return &PayloadError{Reason: "the push's before or after is not a commit id"}
	}
	ev.RepoFullName, ev.RepoURL = p.Repository.names()
	ev.Ref, ev.Before, ev.After = p.Ref, p.Before, p.After
	ev.Commits = len(p.Commits)
	ev.Created, ev.Deleted, ev.Forced = p.Created, p.Deleted, p.Forced
	if p.Pusher != nil && p.Pusher.Name != "" {
		ev.Pusher = p.Pusher.Name
	} else {
		ev.Pusher = p.Sender.login()
	}
	if b, ok := strings.CutPrefix(p.Ref, "refs/heads/"); ok && b != "" {
		ev.Kind, ev.Branch = forge.EventPush, b
	} else if t, ok := strings.CutPrefix(p.Ref, "refs/tags/"); ok && t != "" {
		ev.Kind, ev.Tag = forge.EventTag, t
	}
	return nil
}

type prRefJSON struct {
	Ref  string    `json:"ref"`
	SHA  string    `json:"sha"`
	Repo *repoJSON `json:"repo"` // null when the fork was deleted
}

type pullRequestJSON struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest *struct {
		Number  int       `json:"number"`
		Title   string    `json:"title"`
		HTMLURL string    `json:"html_url"`
		Merged  bool      `json:"merged"`
		User    *userJSON `json:"user"`
		Head    prRefJSON `json:"head"`
		Base    prRefJSON `json:"base"`
	} `json:"pull_request"`
	Repository *repoJSON `json:"repository"`
}

// parsePullRequest maps GitHub's actions: opened, reopened, synchronize
// (new commits on the head branch) and closed (merged or not) drive
// previews; the rest (edited, labeled, review_requested...) are PROther.
func parsePullRequest(payload []byte, ev *forge.Event) error {
	var p pullRequestJSON
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	pr := p.PullRequest
	if pr == nil || p.Action == "" {
		return &PayloadError{Reason: "the pull_request delivery has no pull_request or action"}
	}
	number := p.Number
	if number == 0 {
		number = pr.Number
	}
	if number <= 0 || pr.Head.Ref == "" || pr.Base.Ref == "" || hasControl(pr.Head.Ref) || hasControl(pr.Base.Ref) || !isObjectID(pr.Head.SHA) {
		return &PayloadError{Reason: "the pull request lacks its number, branches or head commit"}
	}
	action := forge.PROther
	switch p.Action {
	case "opened":
		action = forge.PROpened
	case "reopened":
		action = forge.PRReopened
	case "synchronize":
		action = forge.PRUpdated
	case "closed":
		action = forge.PRClosed
		if pr.Merged {
			action = forge.PRMerged
		}
	}
	base := p.Repository
	if pr.Base.Repo != nil {
		base = pr.Base.Repo
	}
	ev.Kind = forge.EventPullRequest
	ev.RepoFullName, ev.RepoURL = p.Repository.names()
	ev.PullRequest = &forge.PullRequest{
		Number:       number,
		Action:       action,
		Title:        pr.Title,
		URL:          pr.HTMLURL,
		SourceBranch: pr.Head.Ref,
		TargetBranch: pr.Base.Ref,
		HeadSHA:      pr.Head.SHA,
		Author:       pr.User.login(),
		// A deleted fork leaves head.repo null; a same-named branch in
		// another repository is still a fork.
		Fork: pr.Head.Repo == nil || base == nil || !strings.EqualFold(pr.Head.Repo.FullName, base.FullName),
	}
	return nil
}

// isObjectID accepts a SHA-1 or SHA-256 object id in lowercase hex.
func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// truncate keeps hostile values short in error messages.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
