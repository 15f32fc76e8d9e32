package client

import "github.com/gitaccess/gitaccess/internal/client/wire"

// ProblemTypePrefix starts every problem type gitaccess defines.
const ProblemTypePrefix = wire.ProblemTypePrefix

// Problem slugs callers branch on (the part of Type after ProblemTypePrefix).
const (
	SlugInvalidInput         = wire.SlugInvalidInput
	SlugNotFound             = wire.SlugNotFound
	SlugConflict             = wire.SlugConflict
	SlugForbidden            = wire.SlugForbidden
	SlugUnauthenticated      = wire.SlugUnauthenticated
	SlugMissingPermissions   = wire.SlugMissingPermissions
	SlugConfirmationRequired = wire.SlugConfirmationRequired
	SlugRateLimited          = wire.SlugRateLimited
	SlugProviderUnreachable  = wire.SlugProviderUnreachable
)

// Problem is an RFC 9457 problem answer from the server (see wire.Problem).
type Problem = wire.Problem

// FieldError is one invalid input (see wire.FieldError).
type FieldError = wire.FieldError

// ProblemSlug returns the slug of the *Problem in err's chain, or "".
func ProblemSlug(err error) string { return wire.ProblemSlug(err) }
