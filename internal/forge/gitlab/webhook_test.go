package gitlab

import (
	"bytes"
	"encoding/json"
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

// contractDir holds byte copies of shared/contracts/gitlab/webhooks, with
// SOURCES.md and the licence of the captured payloads.
const contractDir = "testdata/gitlab"

// payloadEvents gives each contract payload its X-Gitlab-Event header, as
// SOURCES.md names it.
var payloadEvents = map[string]string{
	"push.docs-example.json":               "Push Hook",
	"push.json":                            "Push Hook",
	"tag_push.docs-example.json":           "Tag Push Hook",
	"tag_push.json":                        "Tag Push Hook",
	"merge_request.open.docs-example.json": "Merge Request Hook",
	"merge_request.open.json":              "Merge Request Hook",
	"merge_request.reopen.json":            "Merge Request Hook",
	"merge_request.update.json":            "Merge Request Hook",
	"merge_request.close.json":             "Merge Request Hook",
	"merge_request.merge.json":             "Merge Request Hook",
}

func payload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(contractDir, "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eventHeader(event string) http.Header {
	h := http.Header{}
	if event != "" {
		h.Set("X-Gitlab-Event", event)
	}
	return h
}

// TestParseDeliveryEveryContractPayload reads every real payload, unchanged,
// and checks every normalized field.
func TestParseDeliveryEveryContractPayload(t *testing.T) {
	const (
		diaspora = "http://example.com/mike/diaspora"
		wpSelf   = "http://10.40.8.5:3200/test/woodpecker"
		demo     = "https://gitlab.com/demoaccount2-commits-group/test_ci_tmp"
		anbWP    = "https://gitlab.com/anbraten/woodpecker"
		anbTest  = "https://gitlab.com/anbraten/woodpecker-test"
		zeros    = "0000000000000000000000000000000000000000"
	)
	mr := func(url, full string, pr forge.PullRequest) forge.Event {
		return forge.Event{Provider: forge.GitLab, Kind: forge.EventPullRequest, Name: "Merge Request Hook",
			RepoURL: url, RepoFullName: full, PullRequest: &pr}
	}
	want := map[string]forge.Event{
		"push.docs-example.json": {Provider: forge.GitLab, Kind: forge.EventPush, Name: "Push Hook",
			RepoURL: diaspora, RepoFullName: "mike/diaspora", Ref: "refs/heads/master", Branch: "master",
			Before: "95790bf891e76fee5e1747ab589903a6a1f80f22", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
			Commits: 4, Pusher: "jsmith"},
		"push.json": {Provider: forge.GitLab, Kind: forge.EventPush, Name: "Push Hook",
			RepoURL: wpSelf, RepoFullName: "test/woodpecker", Ref: "refs/heads/main", Branch: "main",
			Before: "ffe8eb4f91d1fe6bc49f1e610e50e4b5767f0104", After: "16862e368d8ab812e48833b741dad720d6e2cb7f",
			Commits: 1, Pusher: "test"},
		// The documentation's tag example has no user_username.
		"tag_push.docs-example.json": {Provider: forge.GitLab, Kind: forge.EventTag, Name: "Tag Push Hook",
			RepoURL: "http://example.com/jsmith/example", RepoFullName: "jsmith/example", Ref: "refs/tags/v1.0.0", Tag: "v1.0.0",
			Before: zeros, After: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", Created: true},
		"tag_push.json": {Provider: forge.GitLab, Kind: forge.EventTag, Name: "Tag Push Hook",
			RepoURL: wpSelf, RepoFullName: "test/woodpecker", Ref: "refs/tags/v22", Tag: "v22",
			Before: zeros, After: "fabed3d94cd03e6c2b7958afa9569c18a24d301f", Commits: 1, Pusher: "test", Created: true},
		// user (root, id 1) is not the author (author_id 51): no author.
		"merge_request.open.docs-example.json": mr("http://example.com/gitlabhq/gitlab-test", "gitlabhq/gitlab-test", forge.PullRequest{
			Number: 1, Action: forge.PROpened, Title: "MS-Viewport", URL: "http://example.com/diaspora/merge_requests/1",
			SourceBranch: "ms-viewport", TargetBranch: "master", HeadSHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}),
		"merge_request.open.json": mr(demo, "demoaccount2-commits-group/test_ci_tmp", forge.PullRequest{
			Number: 3, Action: forge.PROpened, Title: "Edit README.md for more text to read", URL: demo + "/-/merge_requests/3",
			SourceBranch: "real6543-main-patch-42541", TargetBranch: "main", HeadSHA: "2f7670508b771e7e77839402be8b34b13787aba8",
			Author: "real6543"}),
		// Reopened by someone else than its author.
		"merge_request.reopen.json": mr(demo, "demoaccount2-commits-group/test_ci_tmp", forge.PullRequest{
			Number: 1, Action: forge.PRReopened, Title: "Some ned more AAAA", URL: demo + "/-/merge_requests/1",
			SourceBranch: "6543-patch-1", TargetBranch: "main", HeadSHA: "36b5813240a9d2daa29b05046d56a53e18f39a3e"}),
		// An update with oldrev: new commits.
		"merge_request.update.json": mr(anbWP, "anbraten/woodpecker", forge.PullRequest{
			Number: 3, Action: forge.PRUpdated, Title: "Update client.go 🎉", URL: anbWP + "/-/merge_requests/3",
			SourceBranch: "anbraten-main-patch-05373", TargetBranch: "main", HeadSHA: "c136499ec574e1034b24c5d306de9acda3005367",
			Author: "anbraten"}),
		"merge_request.close.json": mr(anbTest, "anbraten/woodpecker-test", forge.PullRequest{
			Number: 4, Action: forge.PRClosed, Title: "Add new file", URL: anbTest + "/-/merge_requests/4",
			SourceBranch: "patch-1", TargetBranch: "main", HeadSHA: "3e4db3586b65dd401de8c77b3ac343fd24cbf89b", Author: "anbraten"}),
		"merge_request.merge.json": mr(anbTest, "anbraten/woodpecker-test", forge.PullRequest{
			Number: 4, Action: forge.PRMerged, Title: "Add new file", URL: anbTest + "/-/merge_requests/4",
			SourceBranch: "patch-1", TargetBranch: "main", HeadSHA: "3e4db3586b65dd401de8c77b3ac343fd24cbf89b", Author: "anbraten"}),
	}

	files, err := filepath.Glob(filepath.Join(contractDir, "webhooks", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no payloads: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var covered []string
	for n := range want {
		covered = append(covered, n)
	}
	slices.Sort(covered)
	if diff := cmp.Diff(names, covered); diff != "" {
		t.Fatalf("every payload needs an expectation (-files +expected):\n%s", diff)
	}

	f := New(egress.Policy{}, nil)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			got, err := f.ParseDelivery(eventHeader(payloadEvents[name]), payload(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]forge.Event{want[name]}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// object_kind alone names the event when the header is missing.
			got, err = f.ParseDelivery(http.Header{}, payload(t, name))
			if err != nil || len(got) != 1 || got[0].Kind != want[name].Kind {
				t.Errorf("without X-Gitlab-Event: %+v %v", got, err)
			}
		})
	}
}

// edit returns the contract payload name with changes applied to its
// decoded JSON (nil deletes a key); path elements are object keys.
func edit(t *testing.T, name string, changes map[string]any) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(payload(t, name), &v); err != nil {
		t.Fatal(err)
	}
	for path, val := range changes {
		keys := strings.Split(path, ".")
		m := v
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		if val == nil {
			delete(m, keys[len(keys)-1])
		} else {
			m[keys[len(keys)-1]] = val
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDeliveryMergeRequestActions(t *testing.T) {
	f := New(egress.Policy{}, nil)
	tests := []struct {
		name    string
		changes map[string]any
		action  string
	}{
		// An update without oldrev is a title, label or description change.
		{"update without oldrev", map[string]any{"object_attributes.oldrev": nil}, forge.PROther},
		{"update with null oldrev", map[string]any{"object_attributes.oldrev": json.RawMessage("null")}, forge.PROther},
		{"update with empty oldrev", map[string]any{"object_attributes.oldrev": ""}, forge.PROther},
		{"approved", map[string]any{"object_attributes.action": "approved"}, forge.PROther},
		{"unapproved", map[string]any{"object_attributes.action": "unapproved"}, forge.PROther},
		{"approval", map[string]any{"object_attributes.action": "approval"}, forge.PROther},
		{"unapproval", map[string]any{"object_attributes.action": "unapproval"}, forge.PROther},
		{"no action", map[string]any{"object_attributes.action": nil}, forge.PROther},
		{"a future action", map[string]any{"object_attributes.action": "snoozed"}, forge.PROther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.ParseDelivery(eventHeader("Merge Request Hook"), edit(t, "merge_request.update.json", tc.changes))
			if err != nil {
				t.Fatal(err)
			}
			if pr := got[0].PullRequest; got[0].Kind != forge.EventPullRequest || pr.Action != tc.action || pr.Number != 3 {
				t.Errorf("kind %s action %q number %d, want pull_request %q 3", got[0].Kind, pr.Action, pr.Number, tc.action)
			}
		})
	}

	// A fork: the source project is another one (or deleted: 0).
	for _, src := range []any{float64(99), nil} {
		got, err := f.ParseDelivery(eventHeader("Merge Request Hook"),
			edit(t, "merge_request.open.json", map[string]any{"object_attributes.source_project_id": src}))
		if err != nil || !got[0].PullRequest.Fork {
			t.Errorf("source_project_id %v: fork %v err %v, want a fork", src, got[0].PullRequest.Fork, err)
		}
	}
}

func TestParseDeliveryPushEdges(t *testing.T) {
	f := New(egress.Policy{}, nil)
	zeros := strings.Repeat("0", 40)

	got, err := f.ParseDelivery(eventHeader("Push Hook"), edit(t, "push.json", map[string]any{"after": zeros, "total_commits_count": float64(0)}))
	if err != nil || !got[0].Deleted || got[0].Created || got[0].Branch != "main" {
		t.Errorf("deleted branch: %+v %v", got, err)
	}
	got, err = f.ParseDelivery(eventHeader("Push Hook"), edit(t, "push.json", map[string]any{"before": zeros}))
	if err != nil || !got[0].Created || got[0].Deleted || got[0].Forced {
		t.Errorf("new branch: %+v %v", got, err)
	}
	got, err = f.ParseDelivery(eventHeader("Tag Push Hook"), edit(t, "tag_push.json", map[string]any{"after": zeros, "before": strings.Repeat("a", 40)}))
	if err != nil || got[0].Kind != forge.EventTag || !got[0].Deleted || got[0].Created {
		t.Errorf("deleted tag: %+v %v", got, err)
	}
	// A SHA-256 repository's ids are 64 hex digits.
	sha256ID := strings.Repeat("ab", 32)
	got, err = f.ParseDelivery(eventHeader("Push Hook"), edit(t, "push.json", map[string]any{"after": sha256ID}))
	if err != nil || got[0].After != sha256ID {
		t.Errorf("SHA-256 id: %+v %v", got, err)
	}
	// A branch with slashes keeps them.
	got, err = f.ParseDelivery(eventHeader("Push Hook"), edit(t, "push.json", map[string]any{"ref": "refs/heads/feature/x"}))
	if err != nil || got[0].Branch != "feature/x" {
		t.Errorf("branch with slashes: %+v %v", got, err)
	}
}

func TestParseDeliveryOtherEvents(t *testing.T) {
	f := New(egress.Policy{}, nil)
	for _, tc := range []struct {
		event string
		body  []byte
		name  string
	}{
		{"Note Hook", []byte(`{"object_kind":"note","project":{"web_url":"https://gitlab.com/a/b","path_with_namespace":"a/b"}}`), "Note Hook"},
		{"Pipeline Hook", []byte(`{"object_kind":"pipeline","project":{"web_url":"https://gitlab.com/a/b","path_with_namespace":"a/b"},"object_attributes":{"iid":"x"}}`), "Pipeline Hook"},
		// gitaccess installs no system hooks; their push shape differs.
		{"System Hook", payload(t, "push.json"), "System Hook"},
		{"", []byte(`{"object_kind":"wiki_page","project":{"web_url":"https://gitlab.com/a/b","path_with_namespace":"a/b"}}`), "wiki_page"},
		{"Issue Hook", []byte(`{"object_kind":"issue","project":"not an object"}`), "Issue Hook"},
		{"", []byte(`{}`), "unnamed"},
		{"Bad\x01Name", []byte(`{}`), "unnamed"},
	} {
		got, err := f.ParseDelivery(eventHeader(tc.event), tc.body)
		if err != nil || len(got) != 1 || got[0].Kind != forge.EventOther || got[0].Name != tc.name || got[0].PullRequest != nil {
			t.Errorf("%q: %+v %v, want one EventOther named %q", tc.event, got, err, tc.name)
		}
	}
	got, _ := f.ParseDelivery(eventHeader("Note Hook"), []byte(`{"object_kind":"note","project":{"web_url":"https://gitlab.com/a/b","path_with_namespace":"a/b"}}`))
	if got[0].RepoURL != "https://gitlab.com/a/b" || got[0].RepoFullName != "a/b" {
		t.Errorf("other event's repository: %+v", got[0])
	}
}

func TestParseDeliveryRefusesMalformed(t *testing.T) {
	f := New(egress.Policy{}, nil)
	tests := []struct {
		name  string
		event string
		body  []byte
	}{
		{"not JSON", "Push Hook", []byte("push")},
		{"empty", "Push Hook", nil},
		{"array", "Push Hook", []byte(`[{"object_kind":"push"}]`)},
		{"trailing data", "Push Hook", append(payload(t, "push.json"), []byte(`{}`)...)},
		{"header and object_kind disagree", "Push Hook", payload(t, "tag_push.json")},
		{"tag ref in a push", "Push Hook", edit(t, "push.json", map[string]any{"ref": "refs/tags/v1"})},
		{"branch ref in a tag push", "Tag Push Hook", edit(t, "tag_push.json", map[string]any{"ref": "refs/heads/main"})},
		{"empty branch", "Push Hook", edit(t, "push.json", map[string]any{"ref": "refs/heads/"})},
		{"control character in ref", "Push Hook", edit(t, "push.json", map[string]any{"ref": "refs/heads/a\nb"})},
		{"short sha", "Push Hook", edit(t, "push.json", map[string]any{"after": "16862e36"})},
		{"option-looking sha", "Push Hook", edit(t, "push.json", map[string]any{"after": "--upload-pack=evil" + strings.Repeat("0", 22)})},
		{"upper-case sha", "Push Hook", edit(t, "push.json", map[string]any{"before": strings.Repeat("A", 40)})},
		{"negative count", "Push Hook", edit(t, "push.json", map[string]any{"total_commits_count": float64(-1)})},
		{"count as string", "Push Hook", edit(t, "push.json", map[string]any{"total_commits_count": "1"})},
		{"no project", "Push Hook", edit(t, "push.json", map[string]any{"project": nil})},
		{"project without path", "Merge Request Hook", edit(t, "merge_request.open.json", map[string]any{"project.path_with_namespace": nil})},
		{"no iid", "Merge Request Hook", edit(t, "merge_request.open.json", map[string]any{"object_attributes.iid": nil})},
		{"opened without last commit", "Merge Request Hook", edit(t, "merge_request.open.json", map[string]any{"object_attributes.last_commit": nil})},
		{"opened without source branch", "Merge Request Hook", edit(t, "merge_request.open.json", map[string]any{"object_attributes.source_branch": ""})},
		{"bad last commit", "Merge Request Hook", edit(t, "merge_request.close.json", map[string]any{"object_attributes.last_commit.id": "HEAD"})},
		{"control character in branch", "Merge Request Hook", edit(t, "merge_request.close.json", map[string]any{"object_attributes.target_branch": "ma\x00in"})},
		{"nested too deep", "Merge Request Hook", []byte(`{"object_kind":"merge_request","x":` + strings.Repeat("[", 20000))},
		{"too large", "Push Hook", append(payload(t, "push.json"), bytes.Repeat([]byte(" "), maxDeliveryBytes)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.ParseDelivery(eventHeader(tc.event), tc.body)
			if err == nil {
				t.Errorf("accepted: %+v", got)
			}
		})
	}
}

func TestVerifyDelivery(t *testing.T) {
	f := New(egress.Policy{}, nil)
	const sec = "whsec-Right0000000000000001"
	body := payload(t, "push.json")
	tests := []struct {
		name    string
		header  http.Header
		secret  string
		wantErr error
	}{
		{"right token", http.Header{"X-Gitlab-Token": {sec}}, sec, nil},
		{"no header", http.Header{}, sec, forge.ErrUnsigned},
		{"empty header", http.Header{"X-Gitlab-Token": {""}}, sec, forge.ErrUnsigned},
		{"wrong token", http.Header{"X-Gitlab-Token": {"whsec-Wrong0000000000000001"}}, sec, forge.ErrBadSignature},
		{"prefix of the token", http.Header{"X-Gitlab-Token": {sec[:10]}}, sec, forge.ErrBadSignature},
		{"token with more", http.Header{"X-Gitlab-Token": {sec + "x"}}, sec, forge.ErrBadSignature},
		{"two tokens", http.Header{"X-Gitlab-Token": {sec, sec}}, sec, forge.ErrBadSignature},
		// An empty secret never verifies, even against an empty header.
		{"no secret", http.Header{"X-Gitlab-Token": {""}}, "", forge.ErrBadSignature},
		{"no secret, a token", http.Header{"X-Gitlab-Token": {"x"}}, "", forge.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := f.VerifyDelivery(tc.header, body, secret.New(tc.secret))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), sec) || strings.Contains(err.Error(), "Wrong")) {
				t.Errorf("the error shows a token: %v", err)
			}
		})
	}
	// A header set by a client is canonicalized by net/http; Get finds
	// either spelling.
	h := http.Header{}
	h.Set("x-gitlab-token", sec)
	if err := f.VerifyDelivery(h, body, secret.New(sec)); err != nil {
		t.Errorf("lower-case header: %v", err)
	}
}

func TestDeliveryID(t *testing.T) {
	f := New(egress.Policy{}, nil)
	const (
		idem = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"
		uuid = "13792a34-cac6-4fda-95a8-c58e00a3954e"
	)
	for _, tc := range []struct {
		name string
		h    map[string]string
		want string
	}{
		{"both: the idempotency key survives a resend", map[string]string{"Idempotency-Key": idem, "X-Gitlab-Event-UUID": uuid}, idem},
		{"before GitLab 17.4", map[string]string{"X-Gitlab-Event-UUID": uuid}, uuid},
		{"none", map[string]string{"X-Gitlab-Webhook-UUID": uuid}, ""},
		{"too long", map[string]string{"Idempotency-Key": strings.Repeat("a", maxIDLen+1)}, ""},
		{"control characters", map[string]string{"X-Gitlab-Event-UUID": "a\x00b"}, ""},
		{"spaces inside", map[string]string{"X-Gitlab-Event-UUID": "a b"}, ""},
		{"spaces around", map[string]string{"X-Gitlab-Event-UUID": " " + uuid + " "}, uuid},
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

// TestWebhookContractCopiesMatch keeps testdata/gitlab byte-identical to
// shared/contracts where that tree is present (GITACCESS_CONTRACTS names
// it elsewhere), and every shared payload copied.
func TestWebhookContractCopiesMatch(t *testing.T) {
	dir := os.Getenv("GITACCESS_CONTRACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "contracts")
	}
	if _, err := os.Stat(filepath.Join(dir, "gitlab", "SOURCES.md")); err != nil {
		t.Skipf("no shared contracts at %s (set GITACCESS_CONTRACTS)", dir)
	}
	shared, err := filepath.Glob(filepath.Join(dir, "gitlab", "webhooks", "*"))
	if err != nil || len(shared) == 0 {
		t.Fatalf("no shared payloads: %v", err)
	}
	pairs := map[string]string{
		filepath.Join(contractDir, "SOURCES.md"):                            filepath.Join(dir, "gitlab", "SOURCES.md"),
		filepath.Join(contractDir, "LICENSES", "woodpecker.Apache-2.0.txt"): filepath.Join(dir, "LICENSES", "woodpecker.Apache-2.0.txt"),
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
	for name, event := range payloadEvents {
		body := payload(f, name)
		f.Add(event, body)
		f.Add("", body)
		f.Add("System Hook", body)
		f.Add(event, body[:len(body)/2])
	}
	f.Add("Push Hook", []byte(`{"object_kind":"push","ref":"refs/heads/\u0000"}`))
	f.Add("Merge Request Hook", []byte(`{"object_kind":"merge_request","object_attributes":{"iid":1e400}}`))
	f.Add("Push Hook", []byte(strings.Repeat("[", 20000)))
	gl := New(egress.Policy{}, nil)
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		h := http.Header{"X-Gitlab-Event": {event}}
		events, err := gl.ParseDelivery(h, body)
		if err != nil {
			if events != nil {
				t.Fatalf("events with an error: %+v", events)
			}
			return
		}
		if len(events) != 1 {
			t.Fatalf("%d events", len(events))
		}
		ev := events[0]
		if ev.Provider != forge.GitLab || len(ev.Name) > 100 || !visible(ev.Name, 100) {
			t.Fatalf("provider %q name %q", ev.Provider, ev.Name)
		}
		switch ev.Kind {
		case forge.EventPush, forge.EventTag:
			if !sha(ev.Before) || !sha(ev.After) || ev.Commits < 0 || ev.RepoURL == "" || ev.RepoFullName == "" ||
				(ev.Branch == "") == (ev.Tag == "") || !refName(ev.Branch+ev.Tag) {
				t.Fatalf("push accepted with bad fields: %+v", ev)
			}
		case forge.EventPullRequest:
			pr := ev.PullRequest
			if pr == nil || pr.Number <= 0 || (pr.HeadSHA != "" && !sha(pr.HeadSHA)) || ev.RepoURL == "" {
				t.Fatalf("pull request accepted with bad fields: %+v %+v", ev, pr)
			}
			if !slices.Contains([]string{forge.PROpened, forge.PRReopened, forge.PRUpdated, forge.PRClosed, forge.PRMerged, forge.PROther}, pr.Action) {
				t.Fatalf("action %q", pr.Action)
			}
			if (pr.Action == forge.PROpened || pr.Action == forge.PRUpdated || pr.Action == forge.PRReopened) &&
				(pr.HeadSHA == "" || pr.SourceBranch == "" || pr.TargetBranch == "") {
				t.Fatalf("%s without head or branches: %+v", pr.Action, pr)
			}
		case forge.EventOther:
			if ev.PullRequest != nil || ev.Ref != "" {
				t.Fatalf("other event with details: %+v", ev)
			}
		default:
			t.Fatalf("kind %q", ev.Kind)
		}
	})
}

// FuzzVerifyDelivery checks that exactly the right token verifies, and
// that every refusal is classified.
func FuzzVerifyDelivery(f *testing.F) {
	for name := range payloadEvents {
		body := payload(f, name)
		f.Add("whsec-Right", "whsec-Right", body)
		f.Add("whsec-Wrong", "whsec-Right", body)
		f.Add("", "whsec-Right", body)
		f.Add("", "", body)
	}
	gl := New(egress.Policy{}, nil)
	f.Fuzz(func(t *testing.T, token, sec string, body []byte) {
		h := http.Header{}
		if token != "" {
			h["X-Gitlab-Token"] = []string{token}
		}
		err := gl.VerifyDelivery(h, body, secret.New(sec))
		ok := sec != "" && token == sec
		switch {
		case ok && err != nil:
			t.Fatalf("the right token was refused: %v", err)
		case !ok && err == nil:
			t.Fatalf("token %q verified against secret %q", token, sec)
		case err != nil && !errors.Is(err, forge.ErrUnsigned) && !errors.Is(err, forge.ErrBadSignature):
			t.Fatalf("unclassified refusal: %v", err)
		}
		// The refusal must not depend on the secret: another secret the
		// token does not match either gives the same words.
		if other := sec + "-other"; err != nil && sec != "" && token != other {
			if err2 := gl.VerifyDelivery(h, body, secret.New(other)); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("the refusal depends on the secret: %v / %v", err, err2)
			}
		}
	})
}
