package gitea

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// contractDir holds byte copies of shared/contracts/gitea, with SOURCES.md
// and the licences of the captured payloads.
const contractDir = "testdata/gitea"

// payloadEvents gives each contract payload its event header, as
// SOURCES.md names it.
func payloadEvents() map[string]string {
	return map[string]string{
		"forgejo.pull_request.closed.json":       "pull_request",
		"forgejo.pull_request.merged.json":       "pull_request",
		"forgejo.pull_request.opened.json":       "pull_request",
		"forgejo.pull_request.synchronized.json": "pull_request",
		"forgejo.push.json":                      "push",
		"gitea.create.go-playground.json":        "create",
		"gitea.create.tag.json":                  "create",
		"gitea.delete.go-playground.json":        "delete",
		"gitea.pull_request.closed.json":         "pull_request",
		"gitea.pull_request.go-playground.json":  "pull_request",
		"gitea.pull_request.merged.json":         "pull_request",
		"gitea.pull_request.opened.json":         "pull_request",
		"gitea.pull_request.reopened.json":       "pull_request",
		"gitea.pull_request.synchronized.json":   "pull_request",
		"gitea.push.go-playground.json":          "push",
		"gitea.push.json":                        "push",
		"gitea.push.multiple-commits.json":       "push",
		"gitea.push.new-branch.json":             "push",
	}
}

func payload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(contractDir, "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// headersFor is what the server sends: Gitea its X-Gitea-* headers,
// Forgejo both its own and Gitea's.
func headersFor(file, event string) http.Header {
	h := http.Header{}
	h.Set("X-Gitea-Event", event)
	h.Set("X-Gitea-Delivery", "6f5e8a4c-5b1e-4a9b-9c39-2d0c2f9b7a11")
	if strings.HasPrefix(file, "forgejo.") {
		h.Set("X-Forgejo-Event", event)
		h.Set("X-Forgejo-Delivery", "6f5e8a4c-5b1e-4a9b-9c39-2d0c2f9b7a11")
	}
	return h
}

func sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// TestParseDeliveryEveryContractPayload reads every real payload, unchanged,
// and checks every normalized field.
func TestParseDeliveryEveryContractPayload(t *testing.T) {
	const zero = "0000000000000000000000000000000000000000"
	pr := func(number int, action, title, url, src, dst, sha, author string, fork bool) *forge.PullRequest {
		return &forge.PullRequest{Number: number, Action: action, Title: title, URL: url, SourceBranch: src,
			TargetBranch: dst, HeadSHA: sha, Author: author, Fork: fork}
	}
	const (
		gordonWeb  = "http://gitea.golang.org/gordon/hello-world"
		forgejoWeb = "http://forgejo.golang.org/gordon/hello-world"
		exampleWeb = "http://localhost:3000/example/example"
		ciWeb      = "http://127.0.0.1:3000/Test-CI/multi-line-secrets"
		adjustSHA  = "d555a5dd07f4d0148a58d4686ec381502ae6a2d4"
		readmeSHA  = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
		newPullSHA = "788ed8d02d3b7fcfcf6386dbcbca696aa1d4dc25"
	)
	want := map[string]forge.Event{
		"forgejo.pull_request.closed.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: "https://forgejo.com/anbraten/test-repo", RepoFullName: "anbraten/test-repo",
			PullRequest: pr(1, forge.PRClosed, "Adjust file", "https://forgejo.com/anbraten/test-repo/pulls/1", "anbraten-patch-1", "main", adjustSHA, "anbraten", false)},
		"forgejo.pull_request.merged.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: "https://forgejo.com/anbraten/test-repo", RepoFullName: "anbraten/test-repo",
			PullRequest: pr(1, forge.PRMerged, "Adjust file", "https://forgejo.com/anbraten/test-repo/pulls/1", "anbraten-patch-1", "main", adjustSHA, "anbraten", false)},
		"forgejo.pull_request.opened.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: forgejoWeb, RepoFullName: "gordon/hello-world",
			PullRequest: pr(1, forge.PROpened, "Update the README with new information", forgejoWeb+"/pull/1", "feature/changes", "main", readmeSHA, "gordon", false)},
		"forgejo.pull_request.synchronized.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: ciWeb, RepoFullName: "Test-CI/multi-line-secrets",
			PullRequest: pr(2, forge.PRUpdated, "New Pull", ciWeb+"/pulls/2", "test-patch-1", "main", newPullSHA, "test", false)},
		"forgejo.push.json": {Kind: forge.EventPush, Name: "push", RepoURL: forgejoWeb, RepoFullName: "gordon/hello-world",
			Ref: "refs/heads/main", Branch: "main", Before: "4b2626259b5a97b6b4eab5e6cca66adb986b672b",
			After: "ef98532add3b2feb7a137426bba1248724367df5", Commits: 1, Pusher: "gordon"},
		// A branch's creation arrives as its own push too: not acted on here.
		"gitea.create.go-playground.json": {Kind: forge.EventOther, Name: "create", RepoURL: exampleWeb, RepoFullName: "example/example"},
		// The body's "secret" field (old Gitea) is ignored.
		"gitea.create.tag.json": {Kind: forge.EventTag, Name: "create", RepoURL: gordonWeb, RepoFullName: "gordon/hello-world",
			Ref: "refs/tags/v1.0.0", Tag: "v1.0.0", After: "ef98532add3b2feb7a137426bba1248724367df5", Created: true, Pusher: "gordon"},
		"gitea.delete.go-playground.json": {Kind: forge.EventPush, Name: "delete", RepoURL: exampleWeb, RepoFullName: "example/example",
			Ref: "refs/heads/example3", Branch: "example3", Deleted: true, Pusher: "example"},
		"gitea.pull_request.closed.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: "https://gitea.com/anbraten/test-repo", RepoFullName: "anbraten/test-repo",
			PullRequest: pr(1, forge.PRClosed, "Adjust file", "https://gitea.com/anbraten/test-repo/pulls/1", "anbraten-patch-1", "main", adjustSHA, "anbraten", false)},
		// From example2/example (repo 2) into example/example (repo 1).
		"gitea.pull_request.go-playground.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: exampleWeb, RepoFullName: "example/example",
			PullRequest: pr(2, forge.PROpened, "update", exampleWeb+"/pulls/2", "master", "master", "48e773f892a831faa47c0a160d1b7f0cd369ae2a", "example2", true)},
		"gitea.pull_request.merged.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: "https://gitea.com/anbraten/test-repo", RepoFullName: "anbraten/test-repo",
			PullRequest: pr(1, forge.PRMerged, "Adjust file", "https://gitea.com/anbraten/test-repo/pulls/1", "anbraten-patch-1", "main", adjustSHA, "anbraten", false)},
		"gitea.pull_request.opened.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: gordonWeb, RepoFullName: "gordon/hello-world",
			PullRequest: pr(1, forge.PROpened, "Update the README with new information", gordonWeb+"/pull/1", "feature/changes", "main", readmeSHA, "gordon", false)},
		"gitea.pull_request.reopened.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: "https://codeberg.org/test_it/test_ci_thing", RepoFullName: "test_it/test_ci_thing",
			PullRequest: pr(1, forge.PRReopened, "Some ned more AAAA", "https://codeberg.org/test_it/test_ci_thing/pulls/1", "6543-patch-1", "main",
				"36b5813240a9d2daa29b05046d56a53e18f39a3e", "6543", false)},
		"gitea.pull_request.synchronized.json": {Kind: forge.EventPullRequest, Name: "pull_request",
			RepoURL: ciWeb, RepoFullName: "Test-CI/multi-line-secrets",
			PullRequest: pr(2, forge.PRUpdated, "New Pull", ciWeb+"/pulls/2", "test-patch-1", "main", newPullSHA, "test", false)},
		"gitea.push.go-playground.json": {Kind: forge.EventPush, Name: "push", RepoURL: exampleWeb, RepoFullName: "example/example",
			Ref: "refs/heads/master", Branch: "master", Before: zero, After: "67b56589a45103f891bdee7c0546e5d40bc02001",
			Commits: 1, Pusher: "example", Created: true},
		"gitea.push.json": {Kind: forge.EventPush, Name: "push", RepoURL: gordonWeb, RepoFullName: "gordon/hello-world",
			Ref: "refs/heads/main", Branch: "main", Before: "4b2626259b5a97b6b4eab5e6cca66adb986b672b",
			After: "ef98532add3b2feb7a137426bba1248724367df5", Commits: 1, Pusher: "gordon"},
		"gitea.push.multiple-commits.json": {Kind: forge.EventPush, Name: "push", RepoURL: ciWeb, RepoFullName: "Test-CI/multi-line-secrets",
			Ref: "refs/heads/main", Branch: "main", Before: "6efcf5b7c98f3e7a491675164b7a2e7acac27941",
			After: "29be01c073851cf0db0c6a466e396b725a670453", Commits: 3, Pusher: "test-user"},
		"gitea.push.new-branch.json": {Kind: forge.EventPush, Name: "push",
			RepoURL: "https://codeberg.org/meisam/woodpecktester", RepoFullName: "meisam/woodpecktester",
			Ref: "refs/heads/fdsafdsa", Branch: "fdsafdsa", Before: zero, After: "28c3613ae62640216bea5e7dc71aa65356e4298b",
			Pusher: "6543", Created: true},
	}
	files, err := filepath.Glob(filepath.Join(contractDir, "webhooks", "*.json"))
	if err != nil || len(files) != len(want) || len(files) != len(payloadEvents()) {
		t.Fatalf("%d payload files, %d expectations, %d events: %v", len(files), len(want), len(payloadEvents()), err)
	}
	f := New(egress.Policy{}, nil)
	const key = "whsec-ContractTest0000000001"
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			body := payload(t, name)
			h := headersFor(name, payloadEvents()[name])
			h.Set("X-Gitea-Signature", sign(key, body))
			if strings.HasPrefix(name, "forgejo.") {
				h.Set("X-Forgejo-Signature", sign(key, body))
			}
			if err := f.VerifyDelivery(h, body, secret.New(key)); err != nil {
				t.Fatalf("VerifyDelivery: %v", err)
			}
			if id := f.DeliveryID(h); id != "6f5e8a4c-5b1e-4a9b-9c39-2d0c2f9b7a11" {
				t.Errorf("DeliveryID %q", id)
			}
			events, err := f.ParseDelivery(h, body)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			w.Provider = Provider
			if diff := cmp.Diff([]forge.Event{w}, events); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDeliveryPullRequestActions(t *testing.T) {
	f := New(egress.Policy{}, nil)
	base := string(payload(t, "gitea.pull_request.synchronized.json"))
	for _, tc := range []struct{ action, merged, want string }{
		{"opened", "false", forge.PROpened},
		{"synchronized", "false", forge.PRUpdated},
		{"reopened", "false", forge.PRReopened},
		{"closed", "false", forge.PRClosed},
		{"closed", "true", forge.PRMerged},
		{"edited", "false", forge.PROther},
		{"label_updated", "false", forge.PROther},
		{"review_requested", "false", forge.PROther},
		{"assigned", "false", forge.PROther},
	} {
		body := strings.Replace(base, `"action": "synchronized"`, `"action": "`+tc.action+`"`, 1)
		body = strings.Replace(body, `"merged": false`, `"merged": `+tc.merged, 1)
		if body == base && tc.action != "synchronized" {
			t.Fatalf("the payload did not change for %s", tc.action)
		}
		events, err := f.ParseDelivery(http.Header{"X-Gitea-Event": {"pull_request"}}, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if got := events[0].PullRequest.Action; got != tc.want {
			t.Errorf("%s merged=%s: %q, want %q", tc.action, tc.merged, got, tc.want)
		}
	}
}

func TestParseDeliveryRefEdges(t *testing.T) {
	f := New(egress.Policy{}, nil)
	const repo = `"repository":{"id":1,"full_name":"o/r","html_url":"https://g.test/o/r"}`
	zero := strings.Repeat("0", 40)
	for _, tc := range []struct {
		name, event, body string
		want              forge.Event
	}{
		{"tag push", "push", `{"ref":"refs/tags/v2","before":"` + zero + `","after":"` + strings.Repeat("a", 40) + `","commits":[],"pusher":{"login":"p"},` + repo + `}`,
			forge.Event{Kind: forge.EventTag, Ref: "refs/tags/v2", Tag: "v2", Before: zero, After: strings.Repeat("a", 40), Pusher: "p", Created: true}},
		{"deleted branch push", "push", `{"ref":"refs/heads/x","before":"` + strings.Repeat("b", 40) + `","after":"` + zero + `",` + repo + `,"sender":{"username":"s"}}`,
			forge.Event{Kind: forge.EventPush, Ref: "refs/heads/x", Branch: "x", Before: strings.Repeat("b", 40), After: zero, Pusher: "s", Deleted: true}},
		{"sha256 repository", "push", `{"ref":"refs/heads/x","before":"` + strings.Repeat("0", 64) + `","after":"` + strings.Repeat("c", 64) + `",` + repo + `}`,
			forge.Event{Kind: forge.EventPush, Ref: "refs/heads/x", Branch: "x", Before: strings.Repeat("0", 64), After: strings.Repeat("c", 64), Created: true}},
		{"other ref", "push", `{"ref":"refs/notes/commits","after":"` + strings.Repeat("a", 40) + `",` + repo + `}`,
			forge.Event{Kind: forge.EventOther}},
		{"deleted tag", "delete", `{"ref":"v1","ref_type":"tag",` + repo + `}`,
			forge.Event{Kind: forge.EventTag, Ref: "refs/tags/v1", Tag: "v1", Deleted: true}},
		{"full ref in create", "create", `{"ref":"refs/tags/v3","ref_type":"tag","sha":"` + strings.Repeat("d", 40) + `",` + repo + `}`,
			forge.Event{Kind: forge.EventTag, Ref: "refs/tags/v3", Tag: "v3", After: strings.Repeat("d", 40), Created: true}},
		{"unknown ref type", "create", `{"ref":"x","ref_type":"note",` + repo + `}`, forge.Event{Kind: forge.EventOther}},
		{"issues", "issues", `{"action":"opened",` + repo + `}`, forge.Event{Kind: forge.EventOther}},
		{"review approved", "pull_request_approved", `{"action":"reviewed",` + repo + `}`, forge.Event{Kind: forge.EventOther}},
		{"release without repository", "release", `{}`, forge.Event{Kind: forge.EventOther}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := f.ParseDelivery(http.Header{"X-Gitea-Event": {tc.event}}, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			w.Provider, w.Name = Provider, tc.event
			if tc.name != "release without repository" {
				w.RepoURL, w.RepoFullName = "https://g.test/o/r", "o/r"
			}
			if diff := cmp.Diff([]forge.Event{w}, events); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Forgejo's header wins over Gitea's, and Gogs' is a last resort.
	body := []byte(`{"ref":"refs/heads/x",` + repo + `}`)
	events, err := f.ParseDelivery(http.Header{"X-Forgejo-Event": {"push"}, "X-Gitea-Event": {"issues"}}, body)
	if err != nil || events[0].Kind != forge.EventPush {
		t.Errorf("Forgejo header: %+v %v", events, err)
	}
	events, err = f.ParseDelivery(http.Header{"X-Gogs-Event": {"push"}}, body)
	if err != nil || events[0].Kind != forge.EventPush {
		t.Errorf("Gogs header: %+v %v", events, err)
	}
}

func TestParseDeliveryRefusesMalformed(t *testing.T) {
	f := New(egress.Policy{}, nil)
	push := payload(t, "gitea.push.json")
	tests := []struct {
		name, event string
		body        []byte
	}{
		{"no event header", "", push},
		{"not JSON", "push", []byte("ref=refs/heads/main")},
		{"a JSON array", "issues", []byte(`[{"repository":{}}]`)},
		{"truncated", "push", push[:len(push)/2]},
		{"push without ref", "push", []byte(`{"repository":{"full_name":"o/r"}}`)},
		{"push without repository", "push", []byte(`{"ref":"refs/heads/main"}`)},
		{"push with an empty repository", "push", []byte(`{"ref":"refs/heads/main","repository":{}}`)},
		{"repository URL with a control character", "push", []byte(`{"ref":"refs/heads/main","repository":{"full_name":"o/r","html_url":"https://g/\u0000"}}`)},
		{"wrong types", "push", []byte(`{"ref":1,"repository":{}}`)},
		{"create without ref", "create", []byte(`{"ref_type":"tag","repository":{}}`)},
		{"pull request without pull_request", "pull_request", []byte(`{"action":"opened","number":1,"repository":{}}`)},
		{"pull request number too large", "pull_request", []byte(`{"number":1e400,"pull_request":{},"repository":{}}`)},
		{"too large", "push", append(push, bytes.Repeat([]byte(" "), maxDeliveryBytes)...)},
		{"event name with a space", "push hook", push},
		{"event name too long", strings.Repeat("p", 65), push},
		{"after not a commit id", "push", bytes.Replace(push, []byte("ef98532add3b2feb7a137426bba1248724367df5"), []byte("HEAD"), 1)},
		{"upper-case commit id", "push", bytes.Replace(push, []byte("ef98532add3b2feb7a137426bba1248724367df5"), []byte("EF98532ADD3B2FEB7A137426BBA1248724367DF5"), 1)},
		{"control character in ref", "push", bytes.Replace(push, []byte("refs/heads/main"), []byte(`refs/heads/ma\nin`), 1)},
		{"control character in a created ref", "create", []byte(`{"ref":"v1\u0000","ref_type":"tag","repository":{}}`)},
		{"opened without head commit", "pull_request", []byte(`{"action":"opened","number":3,"pull_request":{"head":{"ref":"f"},"base":{"ref":"main"}},"repository":{}}`)},
		{"branch with a control character", "pull_request", []byte(`{"action":"closed","number":3,"pull_request":{"head":{"ref":"f\u0007"},"base":{"ref":"main"}},"repository":{}}`)},
		{"pull request without number", "pull_request", []byte(`{"action":"closed","pull_request":{},"repository":{}}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.event != "" {
				h.Set("X-Gitea-Event", tc.event)
			}
			got, err := f.ParseDelivery(h, tc.body)
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Errorf("err = %v, events %+v; want a *PayloadError", err, got)
			}
		})
	}
}

func TestVerifyDelivery(t *testing.T) {
	f := New(egress.Policy{}, nil)
	const key = "whsec-Right0000000000000001"
	body := payload(t, "gitea.create.tag.json")
	good := sign(key, body)
	// The body's own "secret" field is no key to anything.
	inBody := sign("l26Un7G7HXogLAvsyf2hOA4EMARSTsR3", body)
	tests := []struct {
		name    string
		header  http.Header
		key     string
		wantErr error
	}{
		{"gitea", http.Header{"X-Gitea-Signature": {good}}, key, nil},
		{"forgejo", http.Header{"X-Forgejo-Signature": {good}}, key, nil},
		{"both", http.Header{"X-Forgejo-Signature": {good}, "X-Gitea-Signature": {good}}, key, nil},
		{"upper-case hex", http.Header{"X-Gitea-Signature": {strings.ToUpper(good)}}, key, nil},
		{"none", http.Header{}, key, forge.ErrUnsigned},
		{"empty", http.Header{"X-Gitea-Signature": {" "}}, key, forge.ErrUnsigned},
		{"only GitHub's header", http.Header{"X-Hub-Signature-256": {"sha256=" + good}}, key, forge.ErrUnsigned},
		{"wrong key", http.Header{"X-Gitea-Signature": {sign("whsec-Wrong", body)}}, key, forge.ErrBadSignature},
		{"the body's secret", http.Header{"X-Gitea-Signature": {inBody}}, "l26Un7G7HXogLAvsyf2hOA4EMARSTsR3x", forge.ErrBadSignature},
		{"one of two wrong", http.Header{"X-Forgejo-Signature": {good}, "X-Gitea-Signature": {sign("x", body)}}, key, forge.ErrBadSignature},
		{"two values, one wrong", http.Header{"X-Gitea-Signature": {good, sign("x", body)}}, key, forge.ErrBadSignature},
		{"prefixed", http.Header{"X-Gitea-Signature": {"sha256=" + good}}, key, forge.ErrBadSignature},
		{"truncated", http.Header{"X-Gitea-Signature": {good[:32]}}, key, forge.ErrBadSignature},
		{"not hex", http.Header{"X-Gitea-Signature": {strings.Repeat("z", 64)}}, key, forge.ErrBadSignature},
		{"no key", http.Header{"X-Gitea-Signature": {sign("", body)}}, "", forge.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := f.VerifyDelivery(tc.header, body, secret.New(tc.key))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), key) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
	// One changed byte breaks it.
	changed := bytes.Clone(body)
	changed[10] ^= 1
	if err := f.VerifyDelivery(http.Header{"X-Gitea-Signature": {good}}, changed, secret.New(key)); !errors.Is(err, forge.ErrBadSignature) {
		t.Errorf("a changed body: %v", err)
	}
}

func TestDeliveryID(t *testing.T) {
	f := New(egress.Policy{}, nil)
	const id = "6f5e8a4c-5b1e-4a9b-9c39-2d0c2f9b7a11"
	for _, tc := range []struct {
		name string
		h    map[string]string
		want string
	}{
		{"gitea", map[string]string{"X-Gitea-Delivery": id}, id},
		{"forgejo first", map[string]string{"X-Forgejo-Delivery": id, "X-Gitea-Delivery": "other"}, id},
		{"gogs", map[string]string{"X-Gogs-Delivery": id}, id},
		{"none", map[string]string{"X-GitHub-Delivery": id}, ""},
		{"too long", map[string]string{"X-Gitea-Delivery": strings.Repeat("a", maxDeliveryID+1)}, ""},
		{"control characters", map[string]string{"X-Gitea-Delivery": "a\x00b"}, ""},
		{"spaces inside", map[string]string{"X-Gitea-Delivery": "a b"}, ""},
		{"spaces around", map[string]string{"X-Gitea-Delivery": " " + id + " "}, id},
	} {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		if got := f.DeliveryID(h); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestWebhookContractCopiesMatch keeps testdata/gitea byte-identical to
// shared/contracts where that tree is present (GITACCESS_CONTRACTS names
// it elsewhere), and every shared payload copied.
func TestWebhookContractCopiesMatch(t *testing.T) {
	dir := os.Getenv("GITACCESS_CONTRACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "contracts")
	}
	if _, err := os.Stat(filepath.Join(dir, "gitea", "SOURCES.md")); err != nil {
		t.Skipf("no shared contracts at %s (set GITACCESS_CONTRACTS)", dir)
	}
	shared, err := filepath.Glob(filepath.Join(dir, "gitea", "webhooks", "*"))
	if err != nil || len(shared) == 0 {
		t.Fatalf("no shared payloads: %v", err)
	}
	pairs := map[string]string{
		filepath.Join(contractDir, "SOURCES.md"): filepath.Join(dir, "gitea", "SOURCES.md"),
	}
	for _, l := range []string{"woodpecker.Apache-2.0.txt", "go-playground-webhooks.MIT.txt"} {
		pairs[filepath.Join(contractDir, "LICENSES", l)] = filepath.Join(dir, "LICENSES", l)
	}
	for _, s := range shared {
		pairs[filepath.Join(contractDir, "webhooks", filepath.Base(s))] = s
	}
	for mine, theirs := range pairs {
		a, errA := os.ReadFile(mine)
		b, errB := os.ReadFile(theirs)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s or is missing (%v, %v); copy it again", mine, theirs, errA, errB)
		}
	}
}

// FuzzParseDelivery feeds hostile bodies and event names: the parser must
// not panic, and whatever it accepts must hold the invariants gitaccess
// relies on downstream.
func FuzzParseDelivery(f *testing.F) {
	for name, event := range payloadEvents() {
		body := payload(f, name)
		f.Add(event, body)
		f.Add("", body)
		f.Add("issues", body)
		f.Add(event, body[:len(body)/2])
	}
	f.Add("push", []byte(`{"ref":"refs/heads/\u0000","repository":{}}`))
	f.Add("pull_request", []byte(`{"number":1e400,"pull_request":{}}`))
	f.Add("create", []byte(`{"ref":"refs/tags/","ref_type":"tag","repository":null}`))
	f.Add("push", []byte(strings.Repeat("[", 20000)))
	g := New(egress.Policy{}, nil)
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		events, err := g.ParseDelivery(http.Header{"X-Gitea-Event": {event}}, body)
		if err != nil {
			var pe *PayloadError
			if events != nil || !errors.As(err, &pe) {
				t.Fatalf("events %+v with error %v", events, err)
			}
			return
		}
		if len(events) != 1 {
			t.Fatalf("%d events", len(events))
		}
		ev := events[0]
		if ev.Provider != Provider || ev.Name != strings.TrimSpace(event) || ev.Name == "" || !eventName(ev.Name) {
			t.Fatalf("provider %q name %q for header %q", ev.Provider, ev.Name, event)
		}
		if !shaOrEmpty(ev.Before) || !shaOrEmpty(ev.After) || (ev.Ref != "" && !refName(ev.Ref)) {
			t.Fatalf("bad commit ids or ref: %+v", ev)
		}
		switch ev.Kind {
		case forge.EventPush:
			if !refName(ev.RepoURL) || !refName(ev.RepoFullName) {
				t.Fatalf("push without its repository: %+v", ev)
			}
			if ev.Branch == "" || ev.Tag != "" || ev.Ref != "refs/heads/"+ev.Branch || ev.PullRequest != nil {
				t.Fatalf("push: %+v", ev)
			}
		case forge.EventTag:
			if !refName(ev.RepoURL) || !refName(ev.RepoFullName) {
				t.Fatalf("tag without its repository: %+v", ev)
			}
			if ev.Tag == "" || ev.Branch != "" || ev.Ref != "refs/tags/"+ev.Tag || ev.PullRequest != nil {
				t.Fatalf("tag: %+v", ev)
			}
		case forge.EventPullRequest:
			pr := ev.PullRequest
			if pr == nil || ev.Ref != "" || pr.Number <= 0 || !shaOrEmpty(pr.HeadSHA) ||
				!slices.Contains([]string{forge.PROpened, forge.PRReopened, forge.PRUpdated, forge.PRClosed, forge.PRMerged, forge.PROther}, pr.Action) {
				t.Fatalf("pull request: %+v %+v", ev, pr)
			}
			if (pr.Action == forge.PROpened || pr.Action == forge.PRUpdated || pr.Action == forge.PRReopened) &&
				(pr.HeadSHA == "" || !refName(pr.SourceBranch) || !refName(pr.TargetBranch)) {
				t.Fatalf("%s without head or branches: %+v", pr.Action, pr)
			}
		case forge.EventOther:
			if ev.PullRequest != nil || ev.Ref != "" || ev.Branch != "" || ev.Tag != "" || ev.Commits != 0 {
				t.Fatalf("other event with details: %+v", ev)
			}
		default:
			t.Fatalf("kind %q", ev.Kind)
		}
		if ev.Commits < 0 {
			t.Fatalf("commits %d", ev.Commits)
		}
	})
}

// FuzzVerifyDelivery checks that exactly the right signature verifies, and
// that every refusal is classified.
func FuzzVerifyDelivery(f *testing.F) {
	for name := range payloadEvents() {
		body := payload(f, name)
		f.Add(sign("whsec-Right", body), "whsec-Right", body)
		f.Add(sign("whsec-Wrong", body), "whsec-Right", body)
		f.Add("", "whsec-Right", body)
		f.Add(sign("", body), "", body)
	}
	g := New(egress.Policy{}, nil)
	f.Fuzz(func(t *testing.T, sig, key string, body []byte) {
		h := http.Header{}
		if sig != "" {
			h["X-Gitea-Signature"] = []string{sig}
		}
		err := g.VerifyDelivery(h, body, secret.New(key))
		want, _ := hex.DecodeString(sign(key, body))
		got, herr := hex.DecodeString(strings.TrimSpace(sig))
		ok := key != "" && herr == nil && hmac.Equal(got, want)
		switch {
		case ok && err != nil:
			t.Fatalf("the right signature was refused: %v", err)
		case !ok && err == nil:
			t.Fatalf("signature %q verified under key %q", sig, key)
		case err != nil && !errors.Is(err, forge.ErrUnsigned) && !errors.Is(err, forge.ErrBadSignature):
			t.Fatalf("unclassified refusal: %v", err)
		case err != nil && len(key) >= 8 && strings.Contains(err.Error(), key):
			// Shorter keys occur in any English sentence.
			t.Fatalf("the error shows the key: %v", err)
		}
	})
}
