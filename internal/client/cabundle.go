package client

import (
	"context"
	"net/http"

	"github.com/gitaccess/gitaccess/internal/access"
)

// ResolveCABundle asks which CA bundle git must trust to reach a
// repository: that of the token that would serve it (CABundle is empty
// when the token has none). No token value comes back.
func (c *Client) ResolveCABundle(ctx context.Context, req access.CredentialRequest) (access.CABundle, error) {
	var out access.CABundle
	err := c.do(ctx, http.MethodPost, "/api/v1/credentials/ca-bundle", nil, req, &out)
	return out, err
}
