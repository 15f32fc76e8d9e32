package api

import (
	"context"

	"github.com/gitaccess/gitaccess/internal/access"
)

type statusViewOutput struct{ Body access.StatusView }

func (h *handlers) status(ctx context.Context, p access.Principal, _ *struct{}) (*statusViewOutput, error) {
	v, err := h.svc.Status(ctx, p)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &statusViewOutput{Body: v}, nil
}
