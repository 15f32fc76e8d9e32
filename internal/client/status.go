package client

import (
	"context"
	"net/http"

	"github.com/gitaccess/gitaccess/internal/access"
)

// Status reads the organization's token health: tokens by status, those
// expiring or refused with their applications, recent warnings and the
// revalidation schedule.
func (c *Client) Status(ctx context.Context) (access.StatusView, error) {
	var v access.StatusView
	err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, nil, &v)
	return v, err
}
