package gitlab

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

func TestResolveEndpoint(t *testing.T) {
	cloud := forge.Endpoint{Provider: forge.GitLab, WebURL: "https://gitlab.com", APIURL: "https://gitlab.com/api/v4"}
	self := func(web string) forge.Endpoint {
		return forge.Endpoint{Provider: forge.GitLab, WebURL: web, APIURL: web + "/api/v4"}
	}
	tests := []struct {
		in   string
		want forge.Endpoint
	}{
		{"", cloud},
		{"https://gitlab.com", cloud},
		{"https://gitlab.com/", cloud},
		{"gitlab.com", cloud},
		{"https://GitLab.com/api/v4/", cloud},
		{"https://gitlab.test", self("https://gitlab.test")},
		{"gitlab.test:8443", self("https://gitlab.test:8443")},
		{"https://gitlab.test/gitlab/", self("https://gitlab.test/gitlab")},
		{"https://gitlab.test/gitlab/api/v4", self("https://gitlab.test/gitlab")},
	}
	f := New(egress.Policy{}, nil)
	for _, tc := range tests {
		got, err := f.ResolveEndpoint(tc.in, "")
		if err != nil {
			t.Errorf("ResolveEndpoint(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ResolveEndpoint(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestResolveEndpointRefuses(t *testing.T) {
	tests := []struct {
		name, url, workspace string
		field, says          string
	}{
		{"workspace", "", "acme", "workspace", "Bitbucket"},
		{"credentials in URL", "https://bob:hunter2@gitlab.test", "", "url", "user name or password"},
		{"query", "https://gitlab.test/?private_token=x", "", "url", "query"},
		{"fragment", "https://gitlab.test/#top", "", "url", "fragment"},
		{"not http", "ftp://gitlab.test", "", "url", "https://"},
		{"path on gitlab.com", "https://gitlab.com/acme", "", "url", "https://gitlab.com"},
		{"page inside GitLab", "https://gitlab.test/acme/web/-/tree/main", "", "url", "page inside GitLab"},
		{"plain http", "http://gitlab.test", "", "url", "--allow-insecure-http"},
		{"metadata address", "https://169.254.169.254", "", "url", "metadata"},
	}
	f := New(egress.Policy{}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.ResolveEndpoint(tc.url, tc.workspace)
			var ie *forge.InvalidInputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *forge.InvalidInputError", err)
			}
			if ie.Field != tc.field || !strings.Contains(ie.Reason, tc.says) {
				t.Errorf("err = %q on %q, want field %q saying %q", ie.Reason, ie.Field, tc.field, tc.says)
			}
			for _, secret := range []string{"hunter2", "private_token=x"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats %q: %v", secret, err)
				}
			}
		})
	}
}

func TestResolveEndpointPlainHTTPWhenAllowed(t *testing.T) {
	got, err := New(egress.Policy{AllowInsecureHTTP: true}, nil).ResolveEndpoint("http://gitlab.test/gitlab", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.APIURL != "http://gitlab.test/gitlab/api/v4" {
		t.Errorf("APIURL = %q", got.APIURL)
	}
}
