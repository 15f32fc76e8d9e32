package access

import (
	"context"
	"fmt"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/store"
)

// action is something a role may or may not do.
type action string

const (
	actReadTokens   action = "read tokens"
	actManageTokens action = "add, test, update or delete tokens"
	actManageKeys   action = "manage API keys"
	actReadAudit    action = "read the audit log"
	actCreateOrg    action = "create organizations"
	actManageApps   action = "create, update or delete applications"
	actReadApps     action = "read applications"
	actBrowse       action = "browse repositories"
	actResolve      action = "resolve clone credentials"
)

// allowed is the role matrix. Owner, Admin and DevOps manage tokens and
// applications; Members see metadata and use tokens (browse, clone);
// Builders only clone and fetch archives. Key management stays with Owner
// and Admin.
var allowed = map[action][]store.Role{
	actReadTokens:   {store.RoleOwner, store.RoleAdmin, store.RoleDevOps, store.RoleMember},
	actManageTokens: {store.RoleOwner, store.RoleAdmin, store.RoleDevOps},
	actManageKeys:   {store.RoleOwner, store.RoleAdmin},
	actReadAudit:    {store.RoleOwner, store.RoleAdmin, store.RoleDevOps},
	actCreateOrg:    {store.RoleOwner},
	actManageApps:   {store.RoleOwner, store.RoleAdmin, store.RoleDevOps},
	// Builders read applications to clone and archive them.
	actReadApps: {store.RoleOwner, store.RoleAdmin, store.RoleDevOps, store.RoleMember, store.RoleBuilder},
	actBrowse:   {store.RoleOwner, store.RoleAdmin, store.RoleDevOps, store.RoleMember},
	// Everyone who uses tokens may clone with them; Builder keys do
	// nothing else.
	actResolve: {store.RoleOwner, store.RoleAdmin, store.RoleDevOps, store.RoleMember, store.RoleBuilder},
}

// rank orders roles so nobody hands out more power than they hold.
func rank(r store.Role) int {
	switch r {
	case store.RoleOwner:
		return 4
	case store.RoleAdmin:
		return 3
	case store.RoleDevOps:
		return 2
	case store.RoleMember, store.RoleBuilder:
		return 1
	}
	return 0
}

// ParseRole validates a role name.
func ParseRole(s string) (store.Role, error) {
	r := store.Role(s)
	if rank(r) == 0 {
		return "", errorf(KindInvalid, "role %q is not one of owner, admin, devops, member, builder", s)
	}
	return r, nil
}

// authorize checks p may do a on target, and audits a refusal.
func (s *Service) authorize(ctx context.Context, p Principal, a action, target string) error {
	for _, r := range allowed[a] {
		if r == p.Role {
			return nil
		}
	}
	s.audit.Record(ctx, audit.Entry{
		OrgID: p.OrgID, Actor: p.Actor(), Action: "authz.denied", Target: target,
		Outcome: audit.Denied, Detail: fmt.Sprintf("role %s may not %s", p.Role, a),
	})
	return errorf(KindForbidden, "your API key's role (%s) may not %s; ask an %s of the organization", p.Role, a, rolesList(allowed[a]))
}

func rolesList(rs []store.Role) string {
	out := ""
	for i, r := range rs {
		switch {
		case i == 0:
		case i == len(rs)-1:
			out += " or "
		default:
			out += ", "
		}
		out += string(r)
	}
	return out
}
