package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
)

// TestBitbucketHookMissingScopeIsMissingPermissions: an application that
// wants a webhook, bound to a Bitbucket access token without the webhook
// scope, is refused as GitHub and GitLab refusals are: 422
// missing-permissions naming the access-token permission in Bitbucket's
// words, with nothing left behind on either side.
func TestBitbucketHookMissingScopeIsMissingPermissions(t *testing.T) {
	p := newProviders(t)
	tok := canary("ATCTT3xFfGN0")
	p.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "api", Scopes: []string{"repository", "pullrequest"}})
	h := startPublic(t, p)
	// The inspection already says webhooks are out of reach; the token is
	// kept for cloning.
	h.mustCLI(tok, "token", "add", "bb", "--provider", "bitbucket", "--workspace", "acme", "--allow-missing")

	body := `{"name":"api","repo_url":"https://bitbucket.org/acme/api","auto_deploy":true}`
	req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/apps", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var prob struct {
		Type, Detail, Host string
		Status             int
		Missing            []string
	}
	if err := json.NewDecoder(resp.Body).Decode(&prob); err != nil {
		t.Fatalf("decoding the problem: %v", err)
	}
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("create app: HTTP %d %s, want 422 problem+json: %+v", resp.StatusCode, resp.Header.Get("Content-Type"), prob)
	}
	if !strings.HasSuffix(prob.Type, ":missing-permissions") || prob.Status != 422 {
		t.Errorf("problem type %q status %d, want missing-permissions 422", prob.Type, prob.Status)
	}
	if !slices.Equal(prob.Missing, []string{"Webhooks: Read and write (webhook)"}) {
		t.Errorf("missing = %q, want the webhook scope in Bitbucket's words", prob.Missing)
	}
	for _, w := range []string{"manage the webhooks of acme/api", "Repository settings > Access tokens", "(required: webhook)"} {
		if !strings.Contains(prob.Detail, w) {
			t.Errorf("detail %q does not say %q", prob.Detail, w)
		}
	}
	if strings.Contains(prob.Detail, tok) {
		t.Error("the token value is in the problem")
	}
	if hs := p.bb.Hooks("acme", "api"); len(hs) != 0 {
		t.Errorf("hooks installed despite the refusal: %+v", hs)
	}
	if code, out := h.cli("", "app", "show", "api"); code == 0 {
		t.Errorf("the application was kept although its hook failed:\n%s", out)
	}
}
