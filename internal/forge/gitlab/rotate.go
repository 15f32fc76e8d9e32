package gitlab

import (
	"context"
	"net/http"
	"strconv"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

var _ forge.Rotator = (*Forge)(nil)

// Rotate exchanges the token for a new one through GitLab's self-rotate
// endpoints: POST /personal_access_tokens/self/rotate for a personal
// token, POST /groups/:id/access_tokens/self/rotate and
// /projects/:id/access_tokens/self/rotate for a group or project token
// (the group or project is the one its bot user's name gives). GitLab
// revokes the old value as it answers, and sets the new one to expire at
// expiresAt, or at its own default (one week on the GitLab versions the
// client documents) when nil; the returned expiry is GitLab's.
//
// The calls need the api (or self_rotate) scope. It costs two requests
// (GET /user, to tell the kind, then the rotation).
func (f *Forge) Rotate(ctx context.Context, cred forge.Credential, expiresAt *time.Time) (forge.Rotated, error) {
	c, host, err := f.connect(cred)
	if err != nil {
		return forge.Rotated{}, err
	}
	fail := func(what string, resp *gl.Response, err error) error {
		fl := classify(resp, err)
		fl.text = cred.Token.Redact(fl.text)
		if fl.insufficientScope() {
			return &forge.PermissionError{Provider: forge.GitLab, Host: host, Status: fl.status, Action: "rotate", Repo: "the token",
				Needs: "api", Fix: what + " needs a token with the api (or self_rotate) scope; rotate it in GitLab instead and run gitaccess token rotate with the new value",
				Message: fl.text}
		}
		if fl.status == http.StatusNotFound {
			return &forge.ProviderError{Provider: forge.GitLab, Host: host, Status: fl.status,
				Message: what + " is not there; this GitLab may be too old to let a token rotate itself. Rotate the token in GitLab and run gitaccess token rotate with the new value"}
		}
		return f.toError(host, what, fl)
	}
	var opt *gl.ISOTime
	if expiresAt != nil {
		d := gl.ISOTime(expiresAt.UTC())
		opt = &d
	}

	kind, resource := "personal", int64(0)
	user, resp, err := c.Users.CurrentUser(gl.WithContext(ctx))
	switch {
	case err == nil:
		if m := botName.FindStringSubmatch(user.Username); user.Bot && m != nil {
			kind = m[1]
			resource, _ = strconv.ParseInt(m[2], 10, 64)
		}
	case classify(resp, err).insufficientScope():
		// Without read_user the token cannot say who it is; only a
		// personal token rotates without knowing its resource.
	default:
		return forge.Rotated{}, fail("GET /user", resp, err)
	}

	var tok string
	var exp *gl.ISOTime
	switch kind {
	case "group":
		t, resp, err := c.GroupAccessTokens.RotateGroupAccessTokenSelf(resource, &gl.RotateGroupAccessTokenOptions{ExpiresAt: opt}, gl.WithContext(ctx))
		if err != nil {
			return forge.Rotated{}, fail("POST /groups/"+strconv.FormatInt(resource, 10)+"/access_tokens/self/rotate", resp, err)
		}
		tok, exp = t.Token, t.ExpiresAt
	case "project":
		t, resp, err := c.ProjectAccessTokens.RotateProjectAccessTokenSelf(resource, &gl.RotateProjectAccessTokenOptions{ExpiresAt: opt}, gl.WithContext(ctx))
		if err != nil {
			return forge.Rotated{}, fail("POST /projects/"+strconv.FormatInt(resource, 10)+"/access_tokens/self/rotate", resp, err)
		}
		tok, exp = t.Token, t.ExpiresAt
	default:
		t, resp, err := c.PersonalAccessTokens.RotatePersonalAccessTokenSelf(&gl.RotatePersonalAccessTokenOptions{ExpiresAt: opt}, gl.WithContext(ctx))
		if err != nil {
			return forge.Rotated{}, fail("POST /personal_access_tokens/self/rotate", resp, err)
		}
		tok, exp = t.Token, t.ExpiresAt
	}
	if tok == "" {
		return forge.Rotated{}, &forge.ProviderError{Provider: forge.GitLab, Host: host,
			Message: "GitLab answered the rotation without a token; the old value may be revoked: check the token in GitLab"}
	}
	out := forge.Rotated{Value: secret.New(tok)}
	if exp != nil {
		// Like Inspect: GitLab refuses the token from 00:00 UTC on its
		// expiry date.
		d := time.Time(*exp)
		e := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		out.ExpiresAt = &e
	}
	f.logger.DebugContext(ctx, "gitlab token rotated", "host", host, "kind", kind)
	return out, nil
}
