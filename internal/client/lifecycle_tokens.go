package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gitaccess/gitaccess/internal/access"
)

// TokenImpact lists what uses a token: applications, their webhooks and
// repositories resolved through it in the last 30 days.
func (c *Client) TokenImpact(ctx context.Context, name string) (access.TokenImpact, error) {
	var out access.TokenImpact
	seg, err := pathSeg("token name", name)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodGet, "/api/v1/tokens/"+seg+"/impact", nil, nil, &out)
	return out, err
}

// rotateTokenBody puts the revealed value on the wire: access's input
// redacts its Value when marshalled, and the shallower field wins.
type rotateTokenBody struct {
	access.RotateTokenInput
	Value string `json:"value,omitempty"`
}

// RotateToken replaces a token's value after the server proves the new
// one serves every application; see access.Service.RotateToken.
func (c *Client) RotateToken(ctx context.Context, name string, in access.RotateTokenInput) (access.RotateResult, error) {
	var out access.RotateResult
	seg, err := pathSeg("token name", name)
	if err != nil {
		return out, err
	}
	body := rotateTokenBody{RotateTokenInput: in}
	if !in.Value.IsZero() {
		body.Value = in.Value.Reveal()
	}
	err = c.do(ctx, http.MethodPost, "/api/v1/tokens/"+seg+"/rotate", nil, body, &out)
	return out, err
}

// DeleteToken deletes a token, moving its applications to
// in.Reassign or unbinding them with in.Force when it is in use.
func (c *Client) DeleteToken(ctx context.Context, name string, in access.DeleteTokenInput) error {
	seg, err := pathSeg("token name", name)
	if err != nil {
		return err
	}
	q := url.Values{"confirm": {in.Confirm}}
	if in.Reassign != "" {
		q.Set("reassign", in.Reassign)
	}
	if in.Force {
		q.Set("force", "true")
	}
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+seg, q, nil, nil)
}
