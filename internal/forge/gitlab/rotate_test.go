package gitlab

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
)

func TestRotateIssuesANewValueAndRevokesTheOld(t *testing.T) {
	gl := forgetest.NewGitLab()
	const (
		personal = "glpat-RotatePersonal000000001"
		group    = "glpat-RotateGroup00000000002"
		project  = "glpat-RotateProject000000003"
		readOnly = "glpat-RotateReadOnly00000004"
	)
	gl.AddToken(personal, forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	gl.AddToken(group, forgetest.GitLabToken{Kind: "group", Scopes: []string{"api"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	gl.AddToken(project, forgetest.GitLabToken{Kind: "project", Scopes: []string{"self_rotate", "read_user"}, AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.AddToken(readOnly, forgetest.GitLabToken{Username: "bob", Scopes: []string{"read_api"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.com": gl})
	f := New(srv.Policy(), slog.New(slog.DiscardHandler))
	ctx := t.Context()

	wantExp := time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC)
	for _, tok := range []string{personal, group, project} {
		got, err := f.Rotate(ctx, cred(tok), &wantExp)
		if err != nil {
			t.Fatalf("rotating %s: %v", tok, err)
		}
		issued, ok := gl.RotatedValue(tok)
		if !ok || got.Value.Reveal() != issued {
			t.Errorf("%s: the returned value is not the one GitLab issued", tok)
		}
		if got.ExpiresAt == nil || !got.ExpiresAt.Equal(wantExp) {
			t.Errorf("%s: expiry %v, want %v", tok, got.ExpiresAt, wantExp)
		}
		// The old value is revoked; the new one works.
		if _, err := f.Inspect(ctx, cred(tok), []forge.Use{forge.UseClone}); !errors.As(err, new(*forge.AuthError)) {
			t.Errorf("%s: the old value still authenticates (err %v)", tok, err)
		}
		if _, err := f.Inspect(ctx, cred(issued), []forge.Use{forge.UseClone}); err != nil {
			t.Errorf("%s: the new value does not authenticate: %v", tok, err)
		}
	}

	// Without expires_at GitLab picks the expiry (a week, in the fake as
	// in GitLab's documented default); gitaccess keeps what it returns.
	issued, _ := gl.RotatedValue(personal)
	got, err := f.Rotate(ctx, cred(issued), nil)
	if err != nil {
		t.Fatal(err)
	}
	week := time.Now().UTC().AddDate(0, 0, 7)
	if got.ExpiresAt == nil || got.ExpiresAt.Format(time.DateOnly) != week.Format(time.DateOnly) {
		t.Errorf("default expiry %v, want %s", got.ExpiresAt, week.Format(time.DateOnly))
	}

	// read_api cannot rotate: a permission error naming the scope, and
	// the token stays valid.
	_, err = f.Rotate(ctx, cred(readOnly), nil)
	var perm *forge.PermissionError
	if !errors.As(err, &perm) || perm.Needs != "api" {
		t.Errorf("rotating a read_api token: err = %v, want a PermissionError needing api", err)
	}
	if _, ok := gl.RotatedValue(readOnly); ok {
		t.Error("a refused rotation rotated the token")
	}
	noToken(t, err)
}
