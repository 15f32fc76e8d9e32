package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// newID returns a random id: ids come from callers, never from the store.
func newID(prefix string) string {
	return prefix + "_" + rand.Text()[:16]
}

// when is a fixed instant with nanoseconds in a non-UTC zone, so that a
// round trip shows both the UTC normalization and the microsecond cut.
func when(offset time.Duration) time.Time {
	return time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600)).Add(offset)
}

func ptr[T any](v T) *T { return &v }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return b
}

// report is an inspection report of about 1 KB, the size real ones have.
func report(name string) []byte {
	r := map[string]any{
		"provider":   "github",
		"identity":   "acme-ci-bot",
		"kind":       "fine-grained-pat",
		"token":      name,
		"expires_at": "2026-03-04T05:06:07Z",
		"scopes":     []string{"contents:read", "metadata:read", "pull_requests:write", "webhooks:write"},
		"missing": map[string][]string{
			"clone":         {},
			"webhooks":      {"Repository permissions: Webhooks (read and write)"},
			"pull-requests": {"Repository permissions: Pull requests (read)"},
		},
		"rate_limit": map[string]int{"limit": 5000, "remaining": 4987, "reset": 1741064767},
		"repositories": []string{
			"acme/platform-api", "acme/platform-web", "acme/billing", "acme/infra-live",
			"acme/infra-modules", "acme/docs", "acme/mobile-ios", "acme/mobile-android",
		},
		"notes": strings.Repeat("The token can read code and metadata in the selected repositories. ", 5),
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a static value: cannot fail
	}
	return b
}

// newToken is a token with every field set to a realistic value.
func newToken(orgID, name string) store.Token {
	return store.Token{
		ID:              newID("tok"),
		OrgID:           orgID,
		Name:            name,
		Description:     "Clones the platform services for CI builds",
		Provider:        "github",
		WebURL:          "https://github.example.com/acme",
		APIURL:          "https://github.example.com/api/v3",
		Workspace:       "acme",
		CABundle:        []byte("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUX\n-----END CERTIFICATE-----\n"),
		Uses:            []string{"clone", "webhooks"},
		Kind:            "fine-grained-pat",
		Identity:        "acme-ci-bot",
		Scopes:          []string{"contents:read", "metadata:read", "webhooks:write"},
		Role:            "write",
		ExpiresAt:       ptr(when(365 * 24 * time.Hour)),
		Status:          "valid",
		StatusDetail:    "Authenticated as acme-ci-bot; can clone and manage webhooks",
		Report:          report(name),
		LastValidatedAt: ptr(when(time.Hour)),
		LastUsedAt:      ptr(when(2 * time.Hour)),
		Fingerprint:     "sha256:" + hex.EncodeToString(randomBytes(8)),
		Last4:           "9f3a",
		Sealed:          randomBytes(200),
		CreatedAt:       when(0),
		UpdatedAt:       when(time.Minute),
		Version:         1,
	}
}

// stored is what a store hands back for t: times in UTC cut to
// microseconds, empty lists and byte slices as nil.
func stored(t store.Token) store.Token {
	t.ExpiresAt = cutPtr(t.ExpiresAt)
	t.LastValidatedAt = cutPtr(t.LastValidatedAt)
	t.LastUsedAt = cutPtr(t.LastUsedAt)
	t.CreatedAt = cut(t.CreatedAt)
	t.UpdatedAt = cut(t.UpdatedAt)
	t.Uses = nilIfEmpty(t.Uses)
	t.Scopes = nilIfEmpty(t.Scopes)
	// Prefixes are a set, read back in byte order.
	t.Prefixes = nilIfEmpty(slices.Compact(slices.Sorted(slices.Values(t.Prefixes))))
	if len(t.CABundle) == 0 {
		t.CABundle = nil
	}
	if len(t.Report) == 0 {
		t.Report = nil
	}
	return t
}

func cut(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func cutPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return ptr(cut(*t))
}

func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// tokenName orders like the names users pick: digits, capitals and lower
// case mixed, so byte order (not locale order) is what a page follows.
func tokenName(i int) string {
	prefixes := [...]string{"Build", "ci", "deploy", "Z-legacy", "9-ops", "mirror", "B-team"}
	return fmt.Sprintf("%s-%05d", prefixes[i%len(prefixes)], i)
}

// newApp is an application with every field set, bound to tokenID (empty:
// by prefix).
func newApp(orgID, name, tokenID string) store.App {
	return store.App{
		ID:           newID("app"),
		OrgID:        orgID,
		Name:         name,
		RepoURL:      "https://github.com/acme/" + name,
		RepoFullName: "acme/" + name,
		Branch:       "main",
		TokenID:      tokenID,
		Path:         "services/" + name,
		AutoDeploy:   true,
		Previews:     true,
		CreatedAt:    when(0),
		UpdatedAt:    when(time.Minute),
		LastUsedAt:   ptr(when(time.Hour)),
		Version:      1,
	}
}

// storedApp is what a store hands back for a: times in UTC cut to
// microseconds.
func storedApp(a store.App) store.App {
	a.CreatedAt = cut(a.CreatedAt)
	a.UpdatedAt = cut(a.UpdatedAt)
	a.LastUsedAt = cutPtr(a.LastUsedAt)
	return a
}
