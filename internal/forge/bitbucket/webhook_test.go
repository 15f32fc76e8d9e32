package bitbucket

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/google/go-cmp/cmp"
)

// webhooksDir finds shared/contracts/bitbucket/webhooks above the working
// directory, as the fake's contract test finds api/.
func webhooksDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "contracts", "bitbucket", "webhooks")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared/contracts/bitbucket/webhooks not found above the working directory")
		}
		dir = parent
	}
}

// payload is one contract file and its X-Event-Key, by file name prefix
// as contracts/bitbucket/SOURCES.md gives it.
type payload struct {
	name, key string
	body      []byte
}

func payloads(t testing.TB) []payload {
	t.Helper()
	dir := webhooksDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{
		"repo_push": "repo:push", "pullrequest_created": "pullrequest:created", "pullrequest_updated": "pullrequest:updated",
		"pullrequest_fulfilled": "pullrequest:fulfilled", "pullrequest_rejected": "pullrequest:rejected",
	}
	var out []payload
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		prefix, _, _ := strings.Cut(e.Name(), ".")
		key, ok := keys[prefix]
		if !ok {
			t.Fatalf("%s: no X-Event-Key known for this file name", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, payload{name: e.Name(), key: key, body: b})
	}
	if len(out) == 0 {
		t.Fatal("no contract payloads")
	}
	return out
}

func sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func push(repo, html, pusher string, kind forge.EventKind, name, before, after string, commits int, forced, created, deleted bool) forge.Event {
	ev := forge.Event{Provider: forge.Bitbucket, Kind: kind, Name: "repo:push", RepoURL: html, RepoFullName: repo,
		Before: before, After: after, Commits: commits, Pusher: pusher, Forced: forced, Created: created, Deleted: deleted}
	if kind == forge.EventTag {
		ev.Ref, ev.Tag = "refs/tags/"+name, name
	} else {
		ev.Ref, ev.Branch = "refs/heads/"+name, name
	}
	return ev
}

func pr(key, repo, html string, p forge.PullRequest) forge.Event {
	return forge.Event{Provider: forge.Bitbucket, Kind: forge.EventPullRequest, Name: key, RepoURL: html, RepoFullName: repo, PullRequest: &p}
}

// TestParseEveryContractPayload reads every file in
// contracts/bitbucket/webhooks, unchanged, and checks every normalized
// field against values read off the files by hand.
func TestParseEveryContractPayload(t *testing.T) {
	const (
		amuniz     = "amuniz/test-repos"
		amunizURL  = "https://bitbucket.org/amuniz/test-repos"
		temp       = "cloudbeers/temp"
		tempURL    = "https://bitbucket.org/cloudbeers/temp"
		test2      = "anbraten/test-2"
		test2URL   = "https://bitbucket.org/anbraten/test-2"
		nfalco     = "nfalco79/test-repos"
		nfalcoURL  = "https://bitbucket.org/nfalco79/test-repos"
		martin     = "martinherren1984/publictestrepo"
		martinURL  = "https://bitbucket.org/martinherren1984/publictestrepo"
		tagCommit  = "7ef5981d59145c3ed300b1ab77b93907d33abe59"
		testCommit = "174561d625c9623b60d8aba09b7f08ddc9df45cd"
	)
	B, T := forge.EventPush, forge.EventTag
	want := map[string][]forge.Event{
		"repo_push.annotated_tag_created.json": {push(amuniz, amunizURL, "Nikolas Falco", T, "test-tag", "", tagCommit, 0, false, true, false)},
		"repo_push.tag_created.json":           {push(amuniz, amunizURL, "Nikolas Falco", T, "simple-tag", "", tagCommit, 0, false, true, false)},
		"repo_push.tag_deleted.json":           {push(amuniz, amunizURL, "Nikolas Falco", T, "test", testCommit, "", 0, false, false, true)},
		"repo_push.branch_created.json":        {push(amuniz, amunizURL, "Nikolas Falco", B, "feature/test", "", testCommit, 4, false, true, false)},
		"repo_push.branch_deleted.json":        {push(amuniz, amunizURL, "Nikolas Falco", B, "feature/test", testCommit, "", 0, false, false, true)},
		// Forced, and truncated: 5 commits listed of more.
		"repo_push.commit_created.json": {push(amuniz, amunizURL, "Nikolas Falco", B, "feature/issue-819",
			"a10199272451f4c7c5edced2d40b5d6f2f6f5fa3", "5ecffa3874e96920f24a2b3c0d0038e47d5cd1a4", 5, true, false, false)},
		// One push, three changes: an update, a new branch, a new tag. The
		// actor has a username and no nickname (pre-GDPR shape).
		"repo_push.multiple_changes.json": {
			push(temp, tempURL, "stephenc", B, "main", "fc4d1ce2853b6f1ac0d0dbad643d17ef4a6e0be7", "325d37697849f4b1fe42cb19c20134af08e03a82", 1, false, false, false),
			push(temp, tempURL, "stephenc", B, "manchu", "", "e22fcb49645b4586a845938afac5eb3ac1950586", 5, false, true, false),
			push(temp, tempURL, "stephenc", T, "v0.1", "", "1986c228494671574242f99b62d1a00a4bfb69a5", 0, false, true, false),
		},
		"repo_push.update.json": {push(temp, tempURL, "stephenc", B, "main",
			"501bf5b99365d1d870882254b9360c17172bda0e", "e42fac24456e4a56f1b7f9358afc3070e3b7ddec", 1, false, false, false)},
		"repo_push.woodpecker.json": {push(martin, martinURL, "Martin Herren", B, "main",
			"a51241ae1f00cbe728930db48e890b18fd527f99", "c14c1bb05dfb1fdcdf06b31485fff61b0ea44277", 1, false, false, false)},

		"pullrequest_created.json": {pr("pullrequest:created", amuniz, amunizURL, forge.PullRequest{Number: 735, Action: forge.PROpened,
			Title: "BUILD test", URL: amunizURL + "/pull-requests/735", SourceBranch: "feature/test", TargetBranch: "master",
			HeadSHA: "d31df3425c5b", Author: "Nikolas Falco"})},
		"pullrequest_created.from_fork.json": {pr("pullrequest:created", temp, tempURL, forge.PullRequest{Number: 3, Action: forge.PROpened,
			Title: "Forking for PR", URL: tempURL + "/pull-requests/3", SourceBranch: "main", TargetBranch: "main",
			HeadSHA: "1c48041a96db", Author: "Stephen Connolly", Fork: true})},
		"pullrequest_updated.json": {pr("pullrequest:updated", nfalco, nfalcoURL, forge.PullRequest{Number: 1, Action: forge.PRUpdated,
			Title: "Release/release 1", URL: nfalcoURL + "/pull-requests/1", SourceBranch: "release/release-1", TargetBranch: "master",
			HeadSHA: "f945c96c71d0", Author: "Former user"})},
		"pullrequest_updated.new_commit.json": {pr("pullrequest:updated", temp, tempURL, forge.PullRequest{Number: 3, Action: forge.PRUpdated,
			Title: "Forking for PR", URL: tempURL + "/pull-requests/3", SourceBranch: "main", TargetBranch: "main",
			HeadSHA: "63e3d18dca4c", Author: "Stephen Connolly", Fork: true})},
		"pullrequest_fulfilled.json": {pr("pullrequest:fulfilled", temp, tempURL, forge.PullRequest{Number: 2, Action: forge.PRMerged,
			Title: "README.md edited online with Bitbucket", URL: tempURL + "/pull-requests/2", SourceBranch: "foo", TargetBranch: "main",
			HeadSHA: "a72355f35fde", Author: "Stephen Connolly"})},
		"pullrequest_fulfilled.woodpecker.json": {pr("pullrequest:fulfilled", test2, test2URL, forge.PullRequest{Number: 1, Action: forge.PRMerged,
			Title: "README.md created online with Bitbucket", URL: test2URL + "/pull-requests/1", SourceBranch: "patch-2", TargetBranch: "main",
			HeadSHA: "668218c13e04", Author: "Anbraten"})},
		"pullrequest_rejected.json": {pr("pullrequest:rejected", amuniz, amunizURL, forge.PullRequest{Number: 735, Action: forge.PRClosed,
			Title: "BUILD test", URL: amunizURL + "/pull-requests/735", SourceBranch: "feature/test", TargetBranch: "master",
			HeadSHA: "d31df3425c5b", Author: "Nikolas Falco"})},
		"pullrequest_rejected.2.json": {pr("pullrequest:rejected", temp, tempURL, forge.PullRequest{Number: 3, Action: forge.PRClosed,
			Title: "Forking for PR", URL: tempURL + "/pull-requests/3", SourceBranch: "main", TargetBranch: "main",
			HeadSHA: "63e3d18dca4c", Author: "Stephen Connolly", Fork: true})},
		"pullrequest_rejected.woodpecker.json": {pr("pullrequest:rejected", test2, test2URL, forge.PullRequest{Number: 2, Action: forge.PRClosed,
			Title: "CHANGELOG.md created online with Bitbucket", URL: test2URL + "/pull-requests/2", SourceBranch: "patch-2", TargetBranch: "main",
			HeadSHA: "f90e18fc9d45", Author: "Anbraten"})},
	}

	f := New(egress.Policy{}, nil)
	seen := map[string]bool{}
	for _, p := range payloads(t) {
		t.Run(p.name, func(t *testing.T) {
			seen[p.name] = true
			w, ok := want[p.name]
			if !ok {
				t.Fatalf("no expectation for %s: every contract payload must have one", p.name)
			}
			got, err := f.ParseDelivery(headers("X-Event-Key", p.key), p.body)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(w, got); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("expected payload %s is not in the contracts", name)
		}
	}
}

// TestPushFlagsAgreeWithNulls: the parser trusts new/old being null for
// created and deleted; every contract payload's created and closed flags
// say the same.
func TestPushFlagsAgreeWithNulls(t *testing.T) {
	f := New(egress.Policy{}, nil)
	for _, p := range payloads(t) {
		if p.key != "repo:push" {
			continue
		}
		var raw struct {
			Push struct {
				Changes []struct {
					Created bool `json:"created"`
					Closed  bool `json:"closed"`
				} `json:"changes"`
			} `json:"push"`
		}
		if err := json.Unmarshal(p.body, &raw); err != nil {
			t.Fatal(err)
		}
		evs, err := f.ParseDelivery(headers("X-Event-Key", p.key), p.body)
		if err != nil || len(evs) != len(raw.Push.Changes) {
			t.Fatalf("%s: %d events, %v; want one per change (%d)", p.name, len(evs), err, len(raw.Push.Changes))
		}
		for i, c := range raw.Push.Changes {
			if evs[i].Created != c.Created || evs[i].Deleted != c.Closed {
				t.Errorf("%s change %d: created %v deleted %v, flags say created %v closed %v", p.name, i, evs[i].Created, evs[i].Deleted, c.Created, c.Closed)
			}
		}
	}
}

func TestParseOtherEvents(t *testing.T) {
	f := New(egress.Policy{}, nil)
	body := []byte(`{"actor":{"nickname":"x"},"repository":{"full_name":"acme/app","links":{"html":{"href":"https://bitbucket.org/acme/app"}}},"approval":{}}`)
	for _, key := range []string{"pullrequest:approved", "pullrequest:changes_request_created", "repo:fork", "issue:created"} {
		got, err := f.ParseDelivery(headers("X-Event-Key", key), body)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		want := []forge.Event{{Provider: forge.Bitbucket, Kind: forge.EventOther, Name: key, RepoFullName: "acme/app", RepoURL: "https://bitbucket.org/acme/app"}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", key, d)
		}
	}
}

func TestParsePushEdges(t *testing.T) {
	f := New(egress.Policy{}, nil)
	const repo = `"repository":{"full_name":"acme/app","links":{"html":{"href":"https://bitbucket.org/acme/app"}}}`
	parse := func(changes string) ([]forge.Event, error) {
		return f.ParseDelivery(headers("X-Event-Key", "repo:push"), []byte(`{`+repo+`,"push":{"changes":`+changes+`}}`))
	}
	// A change with neither side says nothing; an unknown ref type is not
	// acted on; no actor leaves the pusher empty.
	got, err := parse(`[{"new":null,"old":null},{"new":{"type":"bookmark","name":"b","target":{"hash":"ab"}},"old":null}]`)
	if err != nil {
		t.Fatal(err)
	}
	want := []forge.Event{{Provider: forge.Bitbucket, Kind: forge.EventOther, Name: "repo:push", RepoFullName: "acme/app",
		RepoURL: "https://bitbucket.org/acme/app", After: "ab", Created: true}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("edge changes (-want +got):\n%s", d)
	}
	if got, err := parse(`[]`); err != nil || len(got) != 0 {
		t.Errorf("no changes: %v, %v; want no events", got, err)
	}

	one := `{"new":{"type":"tag","name":"t","target":{"hash":"ab"}},"old":null}`
	many := func(n int) string { return "[" + strings.Repeat(one+",", n-1) + one + "]" }
	if got, err := parse(many(maxChanges)); err != nil || len(got) != maxChanges {
		t.Errorf("%d changes: %d events, %v", maxChanges, len(got), err)
	}
	_, err = parse(many(maxChanges + 1))
	var pe *PayloadError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "more than 1000 ref changes") {
		t.Errorf("%d changes: %v, want a *PayloadError", maxChanges+1, err)
	}

	for name, changes := range map[string]string{
		"not a list":     `{"new":null}`,
		"not a change":   `[1]`,
		"unnamed ref":    `[{"new":{"type":"branch","target":{"hash":"ab"}}}]`,
		"unterminated":   `[` + one,
		"commit numbers": `[{"new":{"type":"branch","name":"m"},"commits":[1]}]`,
	} {
		if _, err := parse(changes); !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a *PayloadError", name, err)
		}
	}
}

func TestParseDeliveryRefusesMalformed(t *testing.T) {
	f := New(egress.Policy{}, nil)
	prBody := func(pr string) []byte {
		return []byte(`{"repository":{"full_name":"a/b"},"pullrequest":` + pr + `}`)
	}
	cases := []struct {
		name string
		h    http.Header
		body []byte
	}{
		{"no event key", http.Header{}, []byte(`{}`)},
		{"event key too long", headers("X-Event-Key", strings.Repeat("x", 65)), []byte(`{}`)},
		{"push not JSON", headers("X-Event-Key", "repo:push"), []byte(`<html>`)},
		{"push without push", headers("X-Event-Key", "repo:push"), []byte(`{"repository":{}}`)},
		{"push without repository", headers("X-Event-Key", "repo:push"), []byte(`{"push":{"changes":[]}}`)},
		{"other not JSON", headers("X-Event-Key", "repo:fork"), []byte(`nope`)},
		{"pr not JSON", headers("X-Event-Key", "pullrequest:created"), []byte(`[`)},
		{"pr missing", headers("X-Event-Key", "pullrequest:created"), []byte(`{"repository":{}}`)},
		{"pr without id", headers("X-Event-Key", "pullrequest:created"), prBody(`{"source":{"branch":{"name":"a"}},"destination":{"branch":{"name":"b"}}}`)},
		{"pr id not a number", headers("X-Event-Key", "pullrequest:created"), prBody(`{"id":"7","source":{"branch":{"name":"a"}},"destination":{"branch":{"name":"b"}}}`)},
		{"pr id too large", headers("X-Event-Key", "pullrequest:created"), prBody(`{"id":1e400,"source":{"branch":{"name":"a"}},"destination":{"branch":{"name":"b"}}}`)},
		{"pr without source branch", headers("X-Event-Key", "pullrequest:updated"), prBody(`{"id":7,"source":{},"destination":{"branch":{"name":"b"}}}`)},
		{"pr without destination", headers("X-Event-Key", "pullrequest:updated"), prBody(`{"id":7,"source":{"branch":{"name":"a"}}}`)},
		{"too large", headers("X-Event-Key", "repo:fork"), make([]byte, maxDeliveryBytes+1)},
	}
	for _, tc := range cases {
		_, err := f.ParseDelivery(tc.h, tc.body)
		var pe *PayloadError
		if !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a *PayloadError", tc.name, err)
		}
	}
}

func TestParsePullRequestForkWithoutSourceRepository(t *testing.T) {
	f := New(egress.Policy{}, nil)
	body := []byte(`{"repository":{"full_name":"a/b"},"pullrequest":{"id":7,"source":{"branch":{"name":"x"},"repository":null},
		"destination":{"branch":{"name":"main"},"repository":{"full_name":"a/b"}}}}`)
	evs, err := f.ParseDelivery(headers("X-Event-Key", "pullrequest:created"), body)
	if err != nil || len(evs) != 1 || !evs[0].PullRequest.Fork {
		t.Errorf("source repository gone: %+v, %v; want a fork", evs, err)
	}
	// Same repository, spelt with other case: not a fork.
	body = []byte(`{"repository":{"full_name":"a/b"},"pullrequest":{"id":7,"source":{"branch":{"name":"x"},"repository":{"full_name":"A/B"}},
		"destination":{"branch":{"name":"main"},"repository":{"full_name":"a/b"}}}}`)
	if evs, err := f.ParseDelivery(headers("X-Event-Key", "pullrequest:created"), body); err != nil || evs[0].PullRequest.Fork {
		t.Errorf("same repository: %+v, %v; want no fork", evs, err)
	}
}

// TestVerifyEveryContractPayload signs each file's raw bytes as Bitbucket
// does and checks that exactly those bytes, that key and that form pass.
func TestVerifyEveryContractPayload(t *testing.T) {
	f := New(egress.Policy{}, nil)
	sec := secret.New(hookSecret)
	for _, p := range payloads(t) {
		good := sign(hookSecret, p.body)
		if err := f.VerifyDelivery(headers("X-Hub-Signature", good), p.body, sec); err != nil {
			t.Errorf("%s: correctly signed: %v", p.name, err)
		}
		upper := "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256="))
		if err := f.VerifyDelivery(headers("X-Hub-Signature", upper), p.body, sec); err != nil {
			t.Errorf("%s: upper-case hex: %v", p.name, err)
		}
		tampered := slices.Clone(p.body)
		tampered[len(tampered)/2] ^= 1
		bad := map[string]struct {
			h    http.Header
			body []byte
			sec  secret.Value
			want error
		}{
			"unsigned":             {http.Header{}, p.body, sec, forge.ErrUnsigned},
			"empty signature":      {headers("X-Hub-Signature", " "), p.body, sec, forge.ErrUnsigned},
			"body changed":         {headers("X-Hub-Signature", good), tampered, sec, forge.ErrBadSignature},
			"body re-encoded":      {headers("X-Hub-Signature", good), append(slices.Clone(p.body), '\n'), sec, forge.ErrBadSignature},
			"other secret":         {headers("X-Hub-Signature", sign("another", p.body)), p.body, sec, forge.ErrBadSignature},
			"sha1":                 {headers("X-Hub-Signature", "sha1="+strings.TrimPrefix(good, "sha256=")[:40]), p.body, sec, forge.ErrBadSignature},
			"no algorithm":         {headers("X-Hub-Signature", strings.TrimPrefix(good, "sha256=")), p.body, sec, forge.ErrBadSignature},
			"not hex":              {headers("X-Hub-Signature", "sha256="+strings.Repeat("zz", 32)), p.body, sec, forge.ErrBadSignature},
			"short digest":         {headers("X-Hub-Signature", good[:len(good)-2]), p.body, sec, forge.ErrBadSignature},
			"two signatures":       {headers("X-Hub-Signature", good, "X-Hub-Signature", good), p.body, sec, forge.ErrBadSignature},
			"gitaccess has no key": {headers("X-Hub-Signature", sign("", p.body)), p.body, secret.Value{}, forge.ErrBadSignature},
			"GitHub's 256 header":  {headers("X-Hub-Signature-256", good), p.body, sec, forge.ErrUnsigned},
		}
		for name, tc := range bad {
			err := f.VerifyDelivery(tc.h, tc.body, tc.sec)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %s: %v, want %v", p.name, name, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), hookSecret) {
				t.Errorf("%s: %s: error carries the secret", p.name, name)
			}
		}
	}
}

func TestDeliveryID(t *testing.T) {
	f := New(egress.Policy{}, nil)
	for _, tc := range []struct {
		h    http.Header
		want string
	}{
		{headers("X-Request-UUID", "{1b6b6b9e-2f4c-4d39-9a0f-6c1b0e6f3b2a}", "X-Hook-UUID", "{hook}"), "{1b6b6b9e-2f4c-4d39-9a0f-6c1b0e6f3b2a}"},
		{headers("X-Request-UUID", " 1b6b6b9e-2f4c-4d39-9a0f-6c1b0e6f3b2a "), "1b6b6b9e-2f4c-4d39-9a0f-6c1b0e6f3b2a"},
		// X-Hook-UUID names the hook, the same on every delivery: never
		// a delivery id.
		{headers("X-Hook-UUID", "{hook}"), ""},
		{headers("X-Request-UUID", strings.Repeat("a", maxDeliveryID+1)), ""},
		{headers("X-Request-UUID", "a b"), ""},
		{headers("X-Request-UUID", "é"), ""},
	} {
		if got := f.DeliveryID(tc.h); got != tc.want {
			t.Errorf("DeliveryID(%v) = %q, want %q", tc.h, got, tc.want)
		}
	}
}

// FuzzVerifyDelivery: no input panics, and a delivery passes exactly when
// its header is sha256= and the HMAC of the body under the key.
func FuzzVerifyDelivery(f *testing.F) {
	for _, p := range payloads(f) {
		f.Add(p.body, sign(hookSecret, p.body), hookSecret)
		f.Add(p.body, sign("x", p.body), hookSecret)
		f.Add(p.body, "", hookSecret)
	}
	f.Add([]byte{}, "sha256=", "")
	f.Add([]byte("x"), "sha256=zz", "k")
	fg := New(egress.Policy{}, nil)
	f.Fuzz(func(t *testing.T, body []byte, sig, key string) {
		err := fg.VerifyDelivery(headers("X-Hub-Signature", sig), body, secret.New(key))
		if err != nil && !errors.Is(err, forge.ErrUnsigned) && !errors.Is(err, forge.ErrBadSignature) {
			t.Fatalf("error neither unsigned nor bad: %v", err)
		}
		m := hmac.New(sha256.New, []byte(key))
		m.Write(body)
		s := strings.TrimSpace(sig)
		match := false
		if key != "" && len(s) > 7 && strings.EqualFold(s[:7], "sha256=") {
			d, herr := hex.DecodeString(s[7:])
			match = herr == nil && hmac.Equal(d, m.Sum(nil))
		}
		if (err == nil) != match {
			t.Fatalf("VerifyDelivery = %v, but the signature matches: %v", err, match)
		}
	})
}

// FuzzParseDelivery: no input panics; work is bounded (at most maxChanges
// events); every event names Bitbucket and the key, and a push or tag
// event its ref.
func FuzzParseDelivery(f *testing.F) {
	for _, p := range payloads(f) {
		f.Add(p.key, p.body)
	}
	f.Add("repo:push", []byte(`{"repository":{},"push":{"changes":[{"new":null,"old":null}]}}`))
	f.Add("pullrequest:created", []byte(`{"repository":{},"pullrequest":{"id":1,"source":{"branch":{"name":"a"}},"destination":{"branch":{"name":"b"}}}}`))
	f.Add("issue:created", []byte(`{}`))
	fp := New(egress.Policy{}, nil)
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		evs, err := fp.ParseDelivery(headers("X-Event-Key", key), body)
		if err != nil {
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *PayloadError: %T %v", err, err)
			}
			if evs != nil {
				t.Fatal("events and an error")
			}
			return
		}
		if len(evs) > maxChanges {
			t.Fatalf("%d events", len(evs))
		}
		for _, ev := range evs {
			if ev.Provider != forge.Bitbucket || ev.Name != strings.TrimSpace(key) {
				t.Fatalf("event %+v for key %q", ev, key)
			}
			switch ev.Kind {
			case forge.EventPush:
				if ev.Branch == "" || ev.Ref != "refs/heads/"+ev.Branch {
					t.Fatalf("push event %+v", ev)
				}
			case forge.EventTag:
				if ev.Tag == "" || ev.Ref != "refs/tags/"+ev.Tag {
					t.Fatalf("tag event %+v", ev)
				}
			case forge.EventPullRequest:
				if ev.PullRequest == nil || ev.PullRequest.Number <= 0 || ev.PullRequest.SourceBranch == "" || ev.PullRequest.TargetBranch == "" {
					t.Fatalf("pull request event %+v", ev)
				}
			}
		}
	})
}
