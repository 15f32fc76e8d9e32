package api

import (
	"context"

	"github.com/gitaccess/gitaccess/internal/access"
)

// Token lifecycle: what depends on a token, rotating its value, and
// deleting it with its applications moved or unbound.

type tokenImpactOutput struct{ Body access.TokenImpact }

func (h *handlers) tokenImpact(ctx context.Context, p access.Principal, in *tokenNameInput) (*tokenImpactOutput, error) {
	imp, err := h.svc.TokenImpact(ctx, p, in.Name)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &tokenImpactOutput{Body: imp}, nil
}

type rotateTokenInput struct {
	Name string `path:"name" doc:"The token's name."`
	Body access.RotateTokenInput
}

type rotateResultOutput struct{ Body access.RotateResult }

// rotateToken answers 200 when the value was switched (with a provider
// rotation, unreachable lists what the new value cannot serve), and 422
// missing-permissions, switching nothing, when a given value cannot serve
// every application: missing lists each failure.
func (h *handlers) rotateToken(ctx context.Context, p access.Principal, in *rotateTokenInput) (*rotateResultOutput, error) {
	res, err := h.svc.RotateToken(ctx, p, in.Name, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &rotateResultOutput{Body: res}, nil
}

type deleteTokenInput struct {
	Name     string `path:"name" doc:"The token's name."`
	Confirm  string `query:"confirm" doc:"Must equal the token's name, to prove the caller means this token."`
	Reassign string `query:"reassign" doc:"Move the applications the token serves to this token, after proving it reaches each (repository, branch, webhook); nothing moves if any fails."`
	Force    bool   `query:"force" doc:"Delete a token in use anyway: applications bound to it are unbound and resolve by URL prefix."`
}

// deleteToken deletes a token; one in use answers 409 with its
// impact in the detail unless reassign or force is given.
func (h *handlers) deleteToken(ctx context.Context, p access.Principal, in *deleteTokenInput) (*struct{}, error) {
	if _, err := h.svc.DeleteToken(ctx, p, in.Name, access.DeleteTokenInput{Confirm: in.Confirm, Reassign: in.Reassign, Force: in.Force}); err != nil {
		return nil, h.fail(ctx, err)
	}
	return &struct{}{}, nil
}
