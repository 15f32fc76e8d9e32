package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// botName matches the users GitLab creates for group and project access
// tokens: "<group|project>_<id>_bot" plus a uniqueness suffix, "_<32 hex>"
// since ResourceAccessTokens::CreateService moved to
// Gitlab::Utils::UsernameAndEmailGenerator, a counter before that.
var botName = regexp.MustCompile(`^(group|project)_([0-9]+)_bot(?:_[0-9a-f]+)?[0-9]*$`)

// session is one inspection: the client, the host for errors and what the
// requests so far cost.
type session struct {
	f      *Forge
	c      *gl.Client
	host   string
	report *forge.Report
	// token only redacts provider text that might echo it.
	token secret.Value
}

// fail builds the error for a failed call, scrubbing the token from
// anything GitLab said.
func (s *session) fail(what string, fl failure) error {
	fl.text = s.token.Redact(fl.text)
	return s.f.toError(s.host, what, fl)
}

// observe counts a request and keeps the latest rate-limit headers.
func (s *session) observe(resp *gl.Response) {
	s.report.Requests++
	if resp != nil && resp.Response != nil {
		if rl := rateLimit(resp.Header); rl != nil {
			s.report.RateLimit = rl
		}
	}
}

// Inspect asks GitLab about the token: GET /personal_access_tokens/self
// (any scope may call it) for scopes and expiry, GET /user for who it is,
// and for a group or project token GET /personal_access_tokens/self/
// associations for its role.
func (f *Forge) Inspect(ctx context.Context, cred forge.Credential, uses []forge.Use) (forge.Report, error) {
	if len(uses) == 0 {
		uses = forge.AllUses
	}
	for _, use := range uses {
		if !slices.Contains(forge.AllUses, use) {
			return forge.Report{}, &forge.InvalidInputError{Field: "use", Reason: fmt.Sprintf("unknown use %q; choose from clone, webhooks, pull-requests", use)}
		}
	}
	c, host, err := f.connect(cred)
	if err != nil {
		return forge.Report{}, err
	}

	report := forge.Report{Provider: forge.GitLab, Host: host, Kind: forge.KindUnknown, Scopes: []string{}}
	s := &session{f: f, c: c, host: host, report: &report, token: cred.Token}
	t, err := s.inspect(ctx)
	if err != nil {
		f.logger.DebugContext(ctx, "gitlab token test failed", "host", host, "requests", report.Requests, "error", err)
		return forge.Report{}, err
	}
	for _, use := range uses {
		report.Checks = append(report.Checks, checkUse(use, t))
	}
	f.logger.DebugContext(ctx, "gitlab token tested", "host", host, "kind", report.Kind,
		"role", report.Role, "requests", report.Requests, "missing", report.Missing(uses))
	return report, nil
}

func (s *session) inspect(ctx context.Context) (facts, error) {
	r := s.report
	pat, resp, err := s.c.PersonalAccessTokens.GetSinglePersonalAccessToken(gl.WithContext(ctx))
	s.observe(resp)
	if err != nil {
		fl := classify(resp, err)
		if fl.status == http.StatusNotFound {
			return facts{}, &forge.ProviderError{Provider: forge.GitLab, Host: s.host, Status: fl.status,
				Message: "GET /personal_access_tokens/self is not there; check that the URL is GitLab's address (with its relative root, if any) and that this GitLab is recent enough to offer it"}
		}
		return facts{}, s.fail("GET /personal_access_tokens/self", fl)
	}
	if pat.Revoked || !pat.Active {
		return facts{}, &forge.AuthError{Provider: forge.GitLab, Host: s.host, Status: resp.StatusCode,
			Message: "GitLab reports the token as revoked or inactive"}
	}
	t := facts{kind: forge.KindUnknown, scopes: append([]string{}, pat.Scopes...)}
	r.Scopes = t.scopes
	if pat.ExpiresAt != nil {
		// GitLab stores a date and refuses the token once expires_at <=
		// Time.current (Expirable#expired?), the date read at 00:00 in
		// GitLab's time zone, UTC unless an operator changed it: the token
		// stops working at the first instant of its expiry date.
		d := time.Time(*pat.ExpiresAt)
		exp := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		r.ExpiresAt = &exp
	}

	user, resp, err := s.c.Users.CurrentUser(gl.WithContext(ctx))
	s.observe(resp)
	if err != nil {
		fl := classify(resp, err)
		if !fl.insufficientScope() {
			return facts{}, s.fail("GET /user", fl)
		}
		// GET /user needs read_user, read_api or api; a token with only
		// read_repository (say) is real but cannot tell who it is.
		r.Notes = append(r.Notes, fmt.Sprintf("GitLab authenticated the token (user #%d) but answers GET /user only to tokens with the read_user, read_api or api scope, so its username and whether it is a personal, group or project token are unknown.", pat.UserID))
		return t, nil
	}
	r.Identity, r.IdentityName = user.Username, user.Name
	t.kind = forge.KindGitLabPersonal
	m := botName.FindStringSubmatch(user.Username)
	if !user.Bot || m == nil {
		if user.Bot {
			r.Notes = append(r.Notes, "The token belongs to a bot user that is not a group or project token's (a service account, for example); its role is checked per project.")
		}
		r.Kind = t.kind
		return t, nil
	}
	t.kind = forge.KindGitLabProject
	if m[1] == "group" {
		t.kind = forge.KindGitLabGroup
	}
	r.Kind = t.kind
	id, _ := strconv.ParseInt(m[2], 10, 64)
	level, note, err := s.role(ctx, m[1], id)
	if err != nil {
		return facts{}, err
	}
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	t.role = level
	r.Role = roleName(level)
	return t, nil
}

// associations is GET /personal_access_tokens/self/associations
// (lib/api/entities/personal_access_token_associations.rb); GitLab's Go
// client does not wrap it.
type associations struct {
	Groups []struct {
		ID           int64 `json:"id"`
		AccessLevels *int  `json:"access_levels"`
	} `json:"groups"`
	Projects []struct {
		ID           int64 `json:"id"`
		AccessLevels struct {
			Project *int `json:"project_access_level"`
			Group   *int `json:"group_access_level"`
		} `json:"access_levels"`
	} `json:"projects"`
}

type associationsOptions struct {
	MinAccessLevel int `url:"min_access_level"`
	PerPage        int `url:"per_page"`
}

// role finds a group or project token's access level in one request: the
// bot is a member of exactly its group or project, which the bot's name
// gives.
func (s *session) role(ctx context.Context, kind string, resourceID int64) (int, string, error) {
	unknown := "GitLab did not list the token's memberships (GET /personal_access_tokens/self/associations, in recent GitLab versions), so its role is checked per project."
	req, err := s.c.NewRequest(http.MethodGet, "personal_access_tokens/self/associations",
		&associationsOptions{MinAccessLevel: levelGuest, PerPage: 100}, []gl.RequestOptionFunc{gl.WithContext(ctx)})
	if err != nil {
		return 0, "", fmt.Errorf("building the GitLab associations request: %w", err)
	}
	var a associations
	resp, err := s.c.Do(req, &a)
	s.observe(resp)
	if err != nil {
		fl := classify(resp, err)
		if fl.status == http.StatusNotFound || fl.insufficientScope() {
			return 0, unknown, nil
		}
		return 0, "", s.fail("GET /personal_access_tokens/self/associations", fl)
	}
	level := a.level(kind, resourceID)
	if level == 0 {
		return 0, "GitLab listed no membership of the token's " + kind + ", so its role is checked per project.", nil
	}
	return level, "", nil
}

// level is the bot's access level on its group or project (0 if not
// listed). A group bot's level shows on its group and, inherited, on every
// subgroup, so any listed group tells it when its own is past the page; a
// project bot is a direct member of its one project only.
func (a associations) level(kind string, resourceID int64) int {
	level := 0
	if kind == "group" {
		for _, g := range a.Groups {
			if g.AccessLevels == nil {
				continue
			}
			if g.ID == resourceID {
				return *g.AccessLevels
			}
			level = max(level, *g.AccessLevels)
		}
		return level
	}
	for _, p := range a.Projects {
		if p.AccessLevels.Project == nil {
			continue
		}
		if p.ID == resourceID {
			return *p.AccessLevels.Project
		}
		level = max(level, *p.AccessLevels.Project)
	}
	return level
}
