package github

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
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

const testHookSecret = "It's a Secret to Everybody"

// webhookDir finds contracts/github/webhooks (or shared/contracts/...) in
// the working directory or above, or under $GITACCESS_CONTRACTS.
func webhookDir(t testing.TB) string {
	t.Helper()
	const rel = "github/webhooks"
	if dir := os.Getenv("GITACCESS_CONTRACTS"); dir != "" {
		return filepath.Join(dir, rel)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, c := range []string{"contracts", filepath.Join("shared", "contracts")} {
			if st, err := os.Stat(filepath.Join(dir, c, rel)); err == nil && st.IsDir() {
				return filepath.Join(dir, c, rel)
			}
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("cannot find contracts/%s above %s; set GITACCESS_CONTRACTS", rel, wd)
		}
	}
}

// payload is one contract example: its path under webhooks/, the event
// header GitHub sends with it (its directory, per SOURCES.md) and its
// bytes, unchanged.
type payload struct {
	name, event string
	body        []byte
}

// payloads reads every example payload (schemas/ holds JSON Schemas, not
// payloads).
func payloads(t testing.TB) []payload {
	t.Helper()
	dir := webhookDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []payload
	for _, f := range files {
		event := filepath.Base(filepath.Dir(f))
		if event == "schemas" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, payload{name: event + "/" + filepath.Base(f), event: event, body: b})
	}
	if len(out) < 19 {
		t.Fatalf("found %d payloads in %s, want the 19 SOURCES.md lists", len(out), dir)
	}
	return out
}

func sign(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func deliveryHeader(event, contentType, signature string) http.Header {
	h := http.Header{}
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	h.Set("X-GitHub-Hook-ID", "292430182")
	h.Set("Content-Type", contentType)
	h.Set("User-Agent", "GitHub-Hookshot/044aadd")
	if signature != "" {
		h.Set("X-Hub-Signature-256", signature)
	}
	return h
}

// The facts of the contract examples, read off the files.
const (
	helloRepo    = "Codertocat/Hello-World"
	helloURL     = "https://github.com/Codertocat/Hello-World"
	octoRepo     = "Octocoders/Hello-World"
	octoURL      = "https://github.com/Octocoders/Hello-World"
	tagHead      = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	zeroSHA      = "0000000000000000000000000000000000000000"
	prHead       = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	prTitle      = "Update the README with new information."
	prURL        = "https://github.com/Codertocat/Hello-World/pull/2"
	codertocat   = "Codertocat"
	simpleTagRef = "refs/tags/simple-tag"
)

func tagDeleted() forge.Event {
	return forge.Event{Provider: forge.GitHub, Kind: forge.EventTag, Name: "push", RepoURL: helloURL, RepoFullName: helloRepo,
		Ref: simpleTagRef, Tag: "simple-tag", Before: tagHead, After: zeroSHA, Pusher: codertocat, Deleted: true}
}

func prEvent(action string) forge.Event {
	return forge.Event{Provider: forge.GitHub, Kind: forge.EventPullRequest, Name: "pull_request", RepoURL: helloURL, RepoFullName: helloRepo,
		PullRequest: &forge.PullRequest{Number: 2, Action: action, Title: prTitle, URL: prURL,
			SourceBranch: "changes", TargetBranch: "master", HeadSHA: prHead, Author: codertocat}}
}

func other(event, repo, repoURL string) forge.Event {
	return forge.Event{Provider: forge.GitHub, Kind: forge.EventOther, Name: event, RepoFullName: repo, RepoURL: repoURL}
}

// wantEvents is what each contract example normalizes to. Every file in
// the contracts must be here, and every entry must be a file.
func wantEvents() map[string]forge.Event {
	ping := forge.Event{Provider: forge.GitHub, Kind: forge.EventPing, Name: "ping", RepoFullName: octoRepo, RepoURL: octoURL}
	return map[string]forge.Event{
		// push.json and its variants delete the tag simple-tag.
		"push/push.json":                   tagDeleted(),
		"push/push.with-installation.json": tagDeleted(),
		"push/push.with-organization.json": tagDeleted(),
		"push/push.new-branch.json": {Provider: forge.GitHub, Kind: forge.EventPush, Name: "push", RepoURL: helloURL, RepoFullName: helloRepo,
			Ref: "refs/heads/master", Branch: "master", Before: zeroSHA, After: tagHead, Commits: 1, Pusher: codertocat, Created: true},
		"pull_request/opened.json":                   prEvent(forge.PROpened),
		"pull_request/opened.with-organization.json": prEvent(forge.PROpened),
		"pull_request/reopened.json":                 prEvent(forge.PRReopened),
		"pull_request/synchronize.json":              prEvent(forge.PRUpdated),
		// Both closed examples have "merged": false.
		"pull_request/closed.json":                   prEvent(forge.PRClosed),
		"pull_request/closed.with-organization.json": prEvent(forge.PRClosed),
		"ping/ping.json":                             ping,
		"ping/ping.with-app_id.json":                 ping,
		// An organization hook's ping names no repository.
		"ping/ping.with-organization.json": {Provider: forge.GitHub, Kind: forge.EventPing, Name: "ping"},
		// create and delete repeat what push says about refs: other.
		"create/create.json":                   other("create", helloRepo, helloURL),
		"create/create.with-organization.json": other("create", helloRepo, helloURL),
		"delete/delete.json":                   other("delete", helloRepo, helloURL),
		"delete/delete.with-organization.json": other("delete", helloRepo, helloURL),
		"installation/created.json":            other("installation", "", ""),
		"installation/deleted.json":            other("installation", "", ""),
	}
}

func TestParseDeliveryEveryContractPayload(t *testing.T) {
	f := parser()
	want := wantEvents()
	seen := map[string]bool{}
	for _, p := range payloads(t) {
		t.Run(p.name, func(t *testing.T) {
			seen[p.name] = true
			w, ok := want[p.name]
			if !ok {
				t.Fatalf("%s has no expected event in this test; add one", p.name)
			}
			got, err := f.ParseDelivery(deliveryHeader(p.event, "application/json", ""), p.body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]forge.Event{w}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The form-encoded variant (content type "form") reads the same.
			form := []byte("payload=" + url.QueryEscape(string(p.body)))
			got, err = f.ParseDelivery(deliveryHeader(p.event, "application/x-www-form-urlencoded", ""), form)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]forge.Event{w}, got); diff != "" {
				t.Errorf("form-encoded (-want +got):\n%s", diff)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("expected %s, which the contracts no longer hold", name)
		}
	}
}

// parser is the adapter with a zero egress policy: verifying and parsing
// make no requests.
func parser() *Forge { return New(egress.Policy{}, nil) }

// variant is a contract payload with fields changed, for the cases the
// examples do not cover (a merged or forked pull request, other actions).
func variant(t *testing.T, file string, change func(m map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(webhookDir(t), file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pr(m map[string]any) map[string]any   { return m["pull_request"].(map[string]any) }
func head(m map[string]any) map[string]any { return pr(m)["head"].(map[string]any) }

func TestParseDeliveryPullRequestVariants(t *testing.T) {
	f := parser()
	cases := []struct {
		name   string
		file   string
		change func(map[string]any)
		want   func(*forge.PullRequest)
	}{
		{"merged", "pull_request/closed.json", func(m map[string]any) { pr(m)["merged"] = true }, func(p *forge.PullRequest) { p.Action = forge.PRMerged }},
		{"labeled", "pull_request/opened.json", func(m map[string]any) { m["action"] = "labeled" }, func(p *forge.PullRequest) { p.Action = forge.PROther }},
		{"edited", "pull_request/opened.json", func(m map[string]any) { m["action"] = "edited" }, func(p *forge.PullRequest) { p.Action = forge.PROther }},
		{"from a fork", "pull_request/opened.json", func(m map[string]any) {
			repo := head(m)["repo"].(map[string]any)
			repo["full_name"] = "mallory/Hello-World"
		}, func(p *forge.PullRequest) { p.Action, p.Fork = forge.PROpened, true }},
		{"from a deleted fork", "pull_request/synchronize.json", func(m map[string]any) { head(m)["repo"] = nil },
			func(p *forge.PullRequest) { p.Action, p.Fork = forge.PRUpdated, true }},
		{"same repository in other case", "pull_request/opened.json", func(m map[string]any) {
			head(m)["repo"].(map[string]any)["full_name"] = "codertocat/hello-world"
		}, func(p *forge.PullRequest) { p.Action = forge.PROpened }},
		{"number only inside", "pull_request/opened.json", func(m map[string]any) { delete(m, "number") }, func(p *forge.PullRequest) { p.Action = forge.PROpened }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := variant(t, c.file, c.change)
			got, err := f.ParseDelivery(deliveryHeader("pull_request", "application/json", ""), body)
			if err != nil {
				t.Fatal(err)
			}
			want := prEvent("")
			c.want(want.PullRequest)
			if diff := cmp.Diff([]forge.Event{want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDeliveryPushVariants(t *testing.T) {
	f := parser()
	base := "push/push.new-branch.json"
	cases := []struct {
		name   string
		change func(map[string]any)
		want   func(*forge.Event)
	}{
		{"forced", func(m map[string]any) { m["forced"], m["created"] = true, false }, func(e *forge.Event) { e.Forced, e.Created = true, false }},
		{"tag created", func(m map[string]any) { m["ref"] = "refs/tags/v1.2.3" }, func(e *forge.Event) {
			e.Kind, e.Ref, e.Branch, e.Tag = forge.EventTag, "refs/tags/v1.2.3", "", "v1.2.3"
		}},
		{"branch with slashes", func(m map[string]any) { m["ref"] = "refs/heads/feature/login" }, func(e *forge.Event) {
			e.Ref, e.Branch = "refs/heads/feature/login", "feature/login"
		}},
		{"branch deleted", func(m map[string]any) {
			m["deleted"], m["created"], m["before"], m["after"], m["commits"] = true, false, tagHead, zeroSHA, []any{}
		}, func(e *forge.Event) {
			e.Deleted, e.Created, e.Before, e.After, e.Commits = true, false, tagHead, zeroSHA, 0
		}},
		{"another ref", func(m map[string]any) { m["ref"] = "refs/notes/commits" }, func(e *forge.Event) {
			e.Kind, e.Ref, e.Branch = forge.EventOther, "refs/notes/commits", ""
		}},
		{"no pusher name", func(m map[string]any) { delete(m, "pusher") }, func(e *forge.Event) { e.Pusher = "Codertocat" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := f.ParseDelivery(deliveryHeader("push", "application/json", ""), variant(t, base, c.change))
			if err != nil {
				t.Fatal(err)
			}
			want := wantEvents()[base]
			c.want(&want)
			if diff := cmp.Diff([]forge.Event{want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDeliveryRefusesMalformed(t *testing.T) {
	f := parser()
	push := variant(t, "push/push.json", func(map[string]any) {})
	deep := strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)
	cases := []struct {
		name, event, contentType string
		body                     []byte
	}{
		{"no event header", "", "application/json", push},
		{"event header with a space", "pu sh", "application/json", push},
		{"event header too long", strings.Repeat("a", 65), "application/json", push},
		{"not JSON", "push", "application/json", []byte("hello")},
		{"truncated JSON", "push", "application/json", push[:len(push)/2]},
		{"array", "push", "application/json", []byte(`[{"ref":"refs/heads/main"}]`)},
		{"null", "push", "application/json", []byte(`null`)},
		{"null for ping", "ping", "application/json", []byte(`null`)},
		{"empty", "ping", "application/json", nil},
		{"push without ref", "push", "application/json", variant(t, "push/push.json", func(m map[string]any) { delete(m, "ref") })},
		{"push with a bare ref", "push", "application/json", variant(t, "push/push.json", func(m map[string]any) { m["ref"] = "main" })},
		{"push ref with a newline", "push", "application/json", variant(t, "push/push.json", func(m map[string]any) { m["ref"] = "refs/heads/a\nb" })},
		{"push without after", "push", "application/json", variant(t, "push/push.json", func(m map[string]any) { delete(m, "after") })},
		{"push with a short sha", "push", "application/json", variant(t, "push/push.json", func(m map[string]any) { m["after"] = "abc" })},
		{"push with wrong types", "push", "application/json", variant(t, "push/push.json", func(m map[string]any) { m["commits"] = 3 })},
		{"pull request without pull_request", "pull_request", "application/json", []byte(`{"action":"opened","number":1}`)},
		{"pull request without action", "pull_request", "application/json", variant(t, "pull_request/opened.json", func(m map[string]any) { delete(m, "action") })},
		{"pull request without head sha", "pull_request", "application/json", variant(t, "pull_request/opened.json", func(m map[string]any) { delete(head(m), "sha") })},
		{"pull request without number", "pull_request", "application/json", variant(t, "pull_request/opened.json", func(m map[string]any) {
			delete(m, "number")
			delete(pr(m), "number")
		})},
		{"nested too deep", "ping", "application/json", []byte(`{"a":` + deep + `}`)},
		{"form without payload", "push", "application/x-www-form-urlencoded", []byte("other=1")},
		{"form with a bad escape", "push", "application/x-www-form-urlencoded", []byte("payload=%zz")},
		{"too large", "ping", "application/json", append([]byte(`{"zen":"`), bytes.Repeat([]byte("a"), MaxDeliveryBytes)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := deliveryHeader(c.event, c.contentType, "")
			if c.event == "" {
				h.Del("X-GitHub-Event")
			}
			got, err := f.ParseDelivery(h, c.body)
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseDelivery = %+v, %v; want a *PayloadError", got, err)
			}
			if len(pe.Error()) > 300 {
				t.Errorf("error is %d bytes long", len(pe.Error()))
			}
		})
	}
	// Exactly the depth limit is fine.
	ok := []byte(`{"a":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`)
	if _, err := f.ParseDelivery(deliveryHeader("ping", "application/json", ""), ok); err != nil {
		t.Errorf("depth %d: %v", maxJSONDepth, err)
	}
	// Brackets inside strings do not count.
	ok = []byte(`{"zen":"` + strings.Repeat(`[{\"`, 100) + `"}`)
	if _, err := f.ParseDelivery(deliveryHeader("ping", "application/json", ""), ok); err != nil {
		t.Errorf("brackets in a string: %v", err)
	}
}

// Without a Content-Type, a form body is still recognized.
func TestParseDeliveryFormWithoutContentType(t *testing.T) {
	f := parser()
	for _, p := range payloads(t) {
		h := deliveryHeader(p.event, "", "")
		h.Del("Content-Type")
		form := []byte("payload=" + url.QueryEscape(string(p.body)))
		got, err := f.ParseDelivery(h, form)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if diff := cmp.Diff([]forge.Event{wantEvents()[p.name]}, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p.name, diff)
		}
		// And a raw JSON body without a Content-Type is JSON.
		if _, err := f.ParseDelivery(h, p.body); err != nil {
			t.Errorf("%s as JSON without a content type: %v", p.name, err)
		}
	}
}

func TestVerifyDeliveryEveryContractPayload(t *testing.T) {
	f := parser()
	key := secret.New(testHookSecret)
	for _, p := range payloads(t) {
		t.Run(p.name, func(t *testing.T) {
			sig := sign(p.body, testHookSecret)
			form := []byte("payload=" + url.QueryEscape(string(p.body)))
			flipped := sig[:len(sig)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[len(sig)-1])+1)%16])
			tampered := bytes.Clone(p.body)
			tampered[len(tampered)/2] ^= 1
			cases := []struct {
				name   string
				header http.Header
				body   []byte
				key    secret.Value
				want   error
			}{
				{"signed", deliveryHeader(p.event, "application/json", sig), p.body, key, nil},
				{"signed, upper-case hex", deliveryHeader(p.event, "application/json", "sha256="+strings.ToUpper(sig[7:])), p.body, key, nil},
				{"form-encoded, signed over the form body", deliveryHeader(p.event, "application/x-www-form-urlencoded", sign(form, testHookSecret)), form, key, nil},
				{"form-encoded, signed over the JSON inside", deliveryHeader(p.event, "application/x-www-form-urlencoded", sig), form, key, forge.ErrBadSignature},
				{"missing", deliveryHeader(p.event, "application/json", ""), p.body, key, forge.ErrUnsigned},
				{"SHA-1 only", func() http.Header {
					h := deliveryHeader(p.event, "application/json", "")
					h.Set("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000")
					return h
				}(), p.body, key, forge.ErrUnsigned},
				{"one digit wrong", deliveryHeader(p.event, "application/json", flipped), p.body, key, forge.ErrBadSignature},
				{"truncated", deliveryHeader(p.event, "application/json", sig[:len(sig)-2]), p.body, key, forge.ErrBadSignature},
				{"extended", deliveryHeader(p.event, "application/json", sig+"00"), p.body, key, forge.ErrBadSignature},
				{"no prefix", deliveryHeader(p.event, "application/json", sig[7:]), p.body, key, forge.ErrBadSignature},
				{"sha1 prefix", deliveryHeader(p.event, "application/json", "sha1="+sig[7:]), p.body, key, forge.ErrBadSignature},
				{"not hex", deliveryHeader(p.event, "application/json", "sha256="+strings.Repeat("zz", 32)), p.body, key, forge.ErrBadSignature},
				{"other secret", deliveryHeader(p.event, "application/json", sign(p.body, "another secret")), p.body, key, forge.ErrBadSignature},
				{"body changed", deliveryHeader(p.event, "application/json", sig), tampered, key, forge.ErrBadSignature},
				{"trailing newline added", deliveryHeader(p.event, "application/json", sig), append(bytes.Clone(p.body), '\n'), key, forge.ErrBadSignature},
				{"two signatures", func() http.Header {
					h := deliveryHeader(p.event, "application/json", sig)
					h.Add("X-Hub-Signature-256", sig)
					return h
				}(), p.body, key, forge.ErrBadSignature},
				{"no secret configured", deliveryHeader(p.event, "application/json", sign(p.body, "")), p.body, secret.Value{}, forge.ErrBadSignature},
			}
			for _, c := range cases {
				err := f.VerifyDelivery(c.header, c.body, c.key)
				if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
					t.Errorf("%s: %v, want %v", c.name, err, c.want)
				}
				if err != nil && strings.Contains(err.Error(), testHookSecret) {
					t.Errorf("%s: error reveals the secret", c.name)
				}
			}
		})
	}
}

func TestVerifyDeliveryRefusesOversizedBody(t *testing.T) {
	f := parser()
	body := bytes.Repeat([]byte(" "), MaxDeliveryBytes+1)
	err := f.VerifyDelivery(deliveryHeader("ping", "application/json", sign(body, testHookSecret)), body, secret.New(testHookSecret))
	if !errors.Is(err, forge.ErrBadSignature) {
		t.Errorf("oversized body: %v, want ErrBadSignature", err)
	}
}

func TestDeliveryID(t *testing.T) {
	f := parser()
	for _, c := range []struct{ header, want string }{
		{"72d3162e-cc78-11e3-81ab-4c9367dc0958", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{"", ""},
		{strings.Repeat("a", maxDeliveryIDLen+1), ""},
		{"abc\x00def", ""},
		{"with space", ""},
	} {
		h := http.Header{}
		if c.header != "" {
			h["X-Github-Delivery"] = []string{c.header}
		}
		if got := f.DeliveryID(h); got != c.want {
			t.Errorf("DeliveryID(%q) = %q, want %q", c.header, got, c.want)
		}
	}
}

// FuzzVerifyDelivery: hostile bodies and headers never panic, and only
// the true HMAC of the body verifies.
func FuzzVerifyDelivery(f *testing.F) {
	for _, p := range payloads(f) {
		f.Add(p.body, sign(p.body, testHookSecret))
		f.Add(p.body, sign(p.body, "other"))
		f.Add(p.body, "sha256=")
	}
	gh := parser()
	key := secret.New(testHookSecret)
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		h := http.Header{}
		h["X-Hub-Signature-256"] = []string{sig}
		err := gh.VerifyDelivery(h, body, key)
		if err == nil {
			if want := sign(body, testHookSecret); !strings.EqualFold(sig, want) {
				t.Fatalf("signature %q verified; the true one is %q", sig, want)
			}
			return
		}
		if !errors.Is(err, forge.ErrUnsigned) && !errors.Is(err, forge.ErrBadSignature) {
			t.Fatalf("error %v is neither ErrUnsigned nor ErrBadSignature", err)
		}
	})
}

// FuzzParseDelivery: hostile payloads never panic and what parses is
// well-formed.
func FuzzParseDelivery(f *testing.F) {
	for _, p := range payloads(f) {
		f.Add(p.event, "application/json", p.body)
		f.Add(p.event, "application/x-www-form-urlencoded", []byte("payload="+url.QueryEscape(string(p.body))))
	}
	gh := parser()
	kinds := []forge.EventKind{forge.EventPush, forge.EventTag, forge.EventPullRequest, forge.EventPing, forge.EventOther}
	actions := []string{forge.PROpened, forge.PRUpdated, forge.PRReopened, forge.PRClosed, forge.PRMerged, forge.PROther}
	f.Fuzz(func(t *testing.T, event, contentType string, body []byte) {
		h := http.Header{}
		h["X-Github-Event"] = []string{event}
		h["Content-Type"] = []string{contentType}
		evs, err := gh.ParseDelivery(h, body)
		if err != nil {
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *PayloadError", err, err)
			}
			return
		}
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		e := evs[0]
		if e.Provider != forge.GitHub || e.Name != strings.TrimSpace(event) || !slices.Contains(kinds, e.Kind) {
			t.Fatalf("event %+v for %q", e, event)
		}
		switch e.Kind {
		case forge.EventPush:
			if e.Name != "push" || e.Branch == "" || e.Ref != "refs/heads/"+e.Branch || !isObjectID(e.After) {
				t.Fatalf("push %+v", e)
			}
		case forge.EventTag:
			if e.Name != "push" || e.Tag == "" || e.Ref != "refs/tags/"+e.Tag || !isObjectID(e.Before) {
				t.Fatalf("tag %+v", e)
			}
		case forge.EventPullRequest:
			p := e.PullRequest
			if e.Name != "pull_request" || p == nil || p.Number <= 0 || p.SourceBranch == "" || p.TargetBranch == "" || !isObjectID(p.HeadSHA) || !slices.Contains(actions, p.Action) {
				t.Fatalf("pull request %+v", e)
			}
		}
		if e.Kind != forge.EventPullRequest && e.PullRequest != nil {
			t.Fatalf("%s event with a pull request", e.Kind)
		}
	})
}
