// Package storetest holds the behaviour every store engine must have, as one
// suite each engine's tests run, so SQLite and PostgreSQL cannot drift apart;
// and the helpers engine tests share: a throwaway PostgreSQL database and the
// listing and prefix-matching benchmarks.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/store"
)

// Run runs the suite. open returns an empty, migrated store of its own for
// each subtest and closes it when that subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"Orgs", testOrgs},
		{"APIKeys", testAPIKeys},
		{"RevokeAPIKey", testRevokeAPIKey},
		{"TouchAPIKey", testTouchAPIKey},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"TokenConflicts", testTokenConflicts},
		{"TokenIsolation", testTokenIsolation},
		{"ListTokensPages", testListTokensPages},
		{"ListTokensLimits", testListTokensLimits},
		{"UpdateToken", testUpdateToken},
		{"UpdateTokenErrors", testUpdateTokenErrors},
		{"UpdateTokenRace", testUpdateTokenRace},
		{"ConcurrentWriters", testConcurrentWriters},
		{"DeleteToken", testDeleteToken},
		{"TokenPrefixes", testTokenPrefixes},
		{"TokenPrefixesInvalid", testTokenPrefixesInvalid},
		{"PrefixTaken", testPrefixTaken},
		{"PrefixTakenRace", testPrefixTakenRace},
		{"MatchPrefix", testMatchPrefix},
		{"MatchPrefixIsolation", testMatchPrefixIsolation},
		{"DeleteTokenCascadesPrefixes", testDeleteTokenCascadesPrefixes},
		{"DeleteTokenInUse", testDeleteTokenInUse},
		{"TouchToken", testTouchToken},
		{"BuilderKey", testBuilderKey},
		{"AppRoundTrip", testAppRoundTrip},
		{"AppConflicts", testAppConflicts},
		{"AppIsolation", testAppIsolation},
		{"ListAppsPages", testListAppsPages},
		{"ListAppsLimits", testListAppsLimits},
		{"ListAppsByToken", testListAppsByToken},
		{"UpdateApp", testUpdateApp},
		{"UpdateAppErrors", testUpdateAppErrors},
		{"UpdateAppRace", testUpdateAppRace},
		{"DeleteApp", testDeleteApp},
		{"TouchApp", testTouchApp},
		{"Audit", testAudit},
		{"AuditPages", testAuditPages},
		{"SealedRows", testSealedRows},
		{"ReplaceSealed", testReplaceSealed},
		{"ReplaceSealedAllOrNothing", testReplaceSealedAllOrNothing},
		{"ReplaceSealedStale", testReplaceSealedStale},
	}
	tests = append(tests, consoleTests()...)
	tests = append(tests, rateLimitTests()...)
	tests = append(tests, lifecycleTests()...)
	for _, tc := range append(tests, webhookTests()...) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// cmp compares times with Equal, which ignores the zone; wantUTC checks it.
func wantUTC(t *testing.T, what string, times ...*time.Time) {
	t.Helper()
	for i, tm := range times {
		if tm != nil && tm.Location() != time.UTC {
			t.Errorf("%s: time %d is in %v, want UTC", what, i, tm.Location())
		}
	}
}

func tokenTimes(tok *store.Token) []*time.Time {
	return []*time.Time{&tok.CreatedAt, &tok.UpdatedAt, tok.ExpiresAt, tok.LastValidatedAt, tok.LastUsedAt}
}

func newOrg(t *testing.T, s store.Store, name string) store.Org {
	t.Helper()
	o := store.Org{ID: newID("org"), Name: name, CreatedAt: when(0)}
	must(t, s.CreateOrg(ctx(t), o))
	return o
}

func createToken(t *testing.T, s store.Store, orgID, name string) store.Token {
	t.Helper()
	tok := newToken(orgID, name)
	must(t, s.CreateToken(ctx(t), tok))
	return stored(tok)
}

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(ctx(t)))
}

func testOrgs(t *testing.T, s store.Store) {
	b := newOrg(t, s, "beta")
	a := newOrg(t, s, "Alpha")
	c := newOrg(t, s, "alpha")

	got, err := s.GetOrg(ctx(t), b.ID)
	must(t, err)
	diff(t, "GetOrg", got, store.Org{ID: b.ID, Name: "beta", CreatedAt: cut(when(0))})
	wantUTC(t, "GetOrg", &got.CreatedAt)

	got, err = s.GetOrgByName(ctx(t), "alpha")
	must(t, err)
	if got.ID != c.ID {
		t.Errorf("GetOrgByName(alpha) = %s, want %s: names are case-sensitive", got.ID, c.ID)
	}

	list, err := s.ListOrgs(ctx(t))
	must(t, err)
	var names []string
	for _, o := range list {
		names = append(names, o.Name)
	}
	diff(t, "ListOrgs names", names, []string{a.Name, c.Name, b.Name})

	_, err = s.GetOrg(ctx(t), "org_missing")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetOrgByName(ctx(t), "missing")
	wantErr(t, err, store.ErrNotFound)

	wantErr(t, s.CreateOrg(ctx(t), store.Org{ID: newID("org"), Name: "beta", CreatedAt: when(0)}), store.ErrConflict)
	wantErr(t, s.CreateOrg(ctx(t), store.Org{ID: b.ID, Name: "gamma", CreatedAt: when(0)}), store.ErrConflict)
	list, err = s.ListOrgs(ctx(t))
	must(t, err)
	if len(list) != 3 {
		t.Errorf("after refused creates, %d orgs, want 3", len(list))
	}
}

func testAPIKeys(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	k1 := store.APIKey{ID: newID("key"), OrgID: a.ID, Name: "ci-bot", Role: store.RoleDevOps,
		Hash: randomBytes(32), CreatedAt: when(0), CreatedBy: "key_root (bootstrap)"}
	k2 := store.APIKey{ID: newID("key"), OrgID: a.ID, Name: "admin", Role: store.RoleAdmin,
		Hash: randomBytes(32), CreatedAt: when(time.Second),
		RevokedAt: ptr(when(time.Hour)), LastUsedAt: ptr(when(time.Minute))}
	kb := store.APIKey{ID: newID("key"), OrgID: b.ID, Name: "owner", Role: store.RoleOwner,
		Hash: randomBytes(32), CreatedAt: when(0)}
	for _, k := range []store.APIKey{k2, k1, kb} {
		must(t, s.CreateAPIKey(ctx(t), k))
	}
	want1 := k1
	want1.CreatedAt = cut(k1.CreatedAt)
	want2 := k2
	want2.CreatedAt, want2.RevokedAt, want2.LastUsedAt = cut(k2.CreatedAt), cutPtr(k2.RevokedAt), cutPtr(k2.LastUsedAt)

	got, err := s.GetAPIKey(ctx(t), k1.ID)
	must(t, err)
	diff(t, "GetAPIKey (optional times unset)", got, want1)
	got, err = s.GetAPIKey(ctx(t), k2.ID)
	must(t, err)
	diff(t, "GetAPIKey (optional times set)", got, want2)
	wantUTC(t, "GetAPIKey", &got.CreatedAt, got.RevokedAt, got.LastUsedAt)

	list, err := s.ListAPIKeys(ctx(t), a.ID)
	must(t, err)
	diff(t, "ListAPIKeys(a), oldest first, without b's key", list, []store.APIKey{want1, want2})
	list, err = s.ListAPIKeys(ctx(t), newID("org"))
	must(t, err)
	if len(list) != 0 {
		t.Errorf("ListAPIKeys(unknown org) = %d keys, want none", len(list))
	}

	_, err = s.GetAPIKey(ctx(t), "key_missing")
	wantErr(t, err, store.ErrNotFound)
	dup := kb
	dup.OrgID = a.ID
	wantErr(t, s.CreateAPIKey(ctx(t), dup), store.ErrConflict)
	orphan := k1
	orphan.ID, orphan.OrgID = newID("key"), newID("org")
	wantErr(t, s.CreateAPIKey(ctx(t), orphan), store.ErrNotFound)
}

func testRevokeAPIKey(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	k := store.APIKey{ID: newID("key"), OrgID: a.ID, Name: "ci", Role: store.RoleMember, Hash: randomBytes(32), CreatedAt: when(0)}
	must(t, s.CreateAPIKey(ctx(t), k))

	wantErr(t, s.RevokeAPIKey(ctx(t), b.ID, k.ID, when(time.Hour)), store.ErrNotFound)
	got, err := s.GetAPIKey(ctx(t), k.ID)
	must(t, err)
	if got.RevokedAt != nil {
		t.Fatalf("another org revoked the key: RevokedAt = %v", got.RevokedAt)
	}

	must(t, s.RevokeAPIKey(ctx(t), a.ID, k.ID, when(time.Hour)))
	must(t, s.RevokeAPIKey(ctx(t), a.ID, k.ID, when(2*time.Hour)))
	got, err = s.GetAPIKey(ctx(t), k.ID)
	must(t, err)
	diff(t, "RevokedAt after two revocations (the first wins)", got.RevokedAt, cutPtr(ptr(when(time.Hour))))

	wantErr(t, s.RevokeAPIKey(ctx(t), a.ID, "key_missing", when(0)), store.ErrNotFound)
}

func testTouchAPIKey(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	k := store.APIKey{ID: newID("key"), OrgID: a.ID, Name: "ci", Role: store.RoleMember, Hash: randomBytes(32), CreatedAt: when(0)}
	must(t, s.CreateAPIKey(ctx(t), k))

	must(t, s.TouchAPIKey(ctx(t), k.ID, when(time.Hour)))
	got, err := s.GetAPIKey(ctx(t), k.ID)
	must(t, err)
	diff(t, "LastUsedAt", got.LastUsedAt, cutPtr(ptr(when(time.Hour))))

	// A request that started earlier but finished later reports an older use.
	must(t, s.TouchAPIKey(ctx(t), k.ID, when(time.Minute)))
	got, err = s.GetAPIKey(ctx(t), k.ID)
	must(t, err)
	diff(t, "LastUsedAt after an older touch", got.LastUsedAt, cutPtr(ptr(when(time.Hour))))

	must(t, s.TouchAPIKey(ctx(t), k.ID, when(3*time.Hour)))
	got, err = s.GetAPIKey(ctx(t), k.ID)
	must(t, err)
	diff(t, "LastUsedAt after a newer touch", got.LastUsedAt, cutPtr(ptr(when(3*time.Hour))))

	wantErr(t, s.TouchAPIKey(ctx(t), "key_missing", when(0)), store.ErrNotFound)
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	full := newToken(o.ID, "full")
	must(t, s.CreateToken(ctx(t), full))
	got, err := s.GetToken(ctx(t), o.ID, "full")
	must(t, err)
	diff(t, "token with every field set", got, stored(full))
	wantUTC(t, "token with every field set", tokenTimes(&got)...)
	if string(got.Report) != string(full.Report) {
		t.Errorf("Report changed in storage:\n got %s\nwant %s", got.Report, full.Report)
	}

	minimal := store.Token{ID: newID("tok"), OrgID: o.ID, Name: "minimal", Provider: "gitlab",
		Uses: []string{}, Sealed: []byte{1}, CreatedAt: when(0), UpdatedAt: when(0)}
	must(t, s.CreateToken(ctx(t), minimal))
	got, err = s.GetToken(ctx(t), o.ID, "minimal")
	must(t, err)
	diff(t, "token with optional fields unset", got, stored(minimal))
	for _, f := range []struct {
		name string
		v    *time.Time
	}{{"ExpiresAt", got.ExpiresAt}, {"LastValidatedAt", got.LastValidatedAt}, {"LastUsedAt", got.LastUsedAt}} {
		if f.v != nil {
			t.Errorf("%s = %v, want nil", f.name, f.v)
		}
	}
}

func testTokenConflicts(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	first := createToken(t, s, a.ID, "deploy")

	wantErr(t, s.CreateToken(ctx(t), newToken(a.ID, "deploy")), store.ErrConflict)
	sameID := newToken(a.ID, "other")
	sameID.ID = first.ID
	wantErr(t, s.CreateToken(ctx(t), sameID), store.ErrConflict)
	wantErr(t, s.CreateToken(ctx(t), newToken(newID("org"), "deploy")), store.ErrNotFound)

	// Names are unique per organization, not globally.
	must(t, s.CreateToken(ctx(t), newToken(b.ID, "deploy")))

	got, err := s.GetToken(ctx(t), a.ID, "deploy")
	must(t, err)
	diff(t, "first token after refused duplicates", got, first)
}

func testTokenIsolation(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	ta := createToken(t, s, a.ID, "shared-name")
	tb := createToken(t, s, b.ID, "shared-name")
	createToken(t, s, a.ID, "only-in-a")

	got, err := s.GetToken(ctx(t), b.ID, "shared-name")
	must(t, err)
	if got.ID != tb.ID {
		t.Fatalf("GetToken(b) returned token %s, want b's %s", got.ID, tb.ID)
	}
	_, err = s.GetToken(ctx(t), b.ID, "only-in-a")
	wantErr(t, err, store.ErrNotFound)

	list, _, err := s.ListTokens(ctx(t), b.ID, store.Page{})
	must(t, err)
	if len(list) != 1 || list[0].ID != tb.ID {
		t.Errorf("ListTokens(b) = %v, want only b's token", tokenIDs(list))
	}

	wantErr(t, s.DeleteToken(ctx(t), b.ID, ta.ID), store.ErrNotFound)
	steal := ta
	steal.OrgID = b.ID
	steal.Name = "stolen"
	_, err = s.UpdateToken(ctx(t), steal)
	wantErr(t, err, store.ErrNotFound)

	got, err = s.GetToken(ctx(t), a.ID, "shared-name")
	must(t, err)
	diff(t, "a's token after b's attempts", got, ta)
}

func tokenIDs(l []store.Token) []string {
	var ids []string
	for _, t := range l {
		ids = append(ids, t.ID)
	}
	return ids
}

func testListTokensPages(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	want := map[string]store.Token{}
	var names []string
	for i := range 25 {
		tok := createToken(t, s, a.ID, tokenName(i))
		tok.Sealed, tok.Report = nil, nil // listing carries neither sealed values nor reports
		want[tok.Name] = tok
		names = append(names, tok.Name)
	}
	createToken(t, s, b.ID, "a-token-of-b")
	slices.Sort(names) // byte order

	var gotNames, cursors []string
	p := store.Page{Limit: 10}
	var sizes []int
	for {
		page, next, err := s.ListTokens(ctx(t), a.ID, p)
		must(t, err)
		sizes = append(sizes, len(page))
		for _, tok := range page {
			if tok.Sealed != nil {
				t.Fatalf("ListTokens returned the sealed value of %s", tok.Name)
			}
			diff(t, "listed token "+tok.Name, tok, want[tok.Name])
			gotNames = append(gotNames, tok.Name)
		}
		if next == "" {
			break
		}
		if next != page[len(page)-1].Name {
			t.Errorf("next = %q, want the page's last name %q", next, page[len(page)-1].Name)
		}
		cursors = append(cursors, next)
		p.After = next
		if len(sizes) > 5 {
			t.Fatal("paging does not end")
		}
	}
	diff(t, "page sizes", sizes, []int{10, 10, 5})
	diff(t, "names across pages, in byte order", gotNames, names)
	diff(t, "cursors", cursors, []string{names[9], names[19]})

	// A cursor whose token was deleted since still places the next page.
	page, next, err := s.ListTokens(ctx(t), a.ID, store.Page{After: names[9] + "~", Limit: 3})
	must(t, err)
	diff(t, "page after a vanished cursor", tokenNames(page), names[10:13])
	if next != names[12] {
		t.Errorf("next = %q, want %q", next, names[12])
	}

	// A page that ends exactly at the last row says there is no more.
	page, next, err = s.ListTokens(ctx(t), a.ID, store.Page{After: names[19], Limit: 5})
	must(t, err)
	if len(page) != 5 || next != "" {
		t.Errorf("exact last page: %d tokens, next %q; want 5 and none", len(page), next)
	}

	page, next, err = s.ListTokens(ctx(t), newID("org"), store.Page{})
	must(t, err)
	if len(page) != 0 || next != "" {
		t.Errorf("unknown org: %d tokens, next %q; want none", len(page), next)
	}
}

func tokenNames(l []store.Token) []string {
	var names []string
	for _, t := range l {
		names = append(names, t.Name)
	}
	return names
}

func testListTokensLimits(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	const n = store.MaxPageLimit + 1
	SeedTokens(t, s, o.ID, n)
	for _, tc := range []struct {
		limit, want int
	}{
		{0, store.DefaultPageLimit},
		{-5, store.DefaultPageLimit},
		{7, 7},
		{store.MaxPageLimit + 500, store.MaxPageLimit},
	} {
		page, next, err := s.ListTokens(ctx(t), o.ID, store.Page{Limit: tc.limit})
		must(t, err)
		if len(page) != tc.want || next != page[len(page)-1].Name {
			t.Errorf("Limit %d: %d tokens, next %q; want %d and the last name", tc.limit, len(page), next, tc.want)
		}
		if tc.want == store.MaxPageLimit {
			rest, next, err := s.ListTokens(ctx(t), o.ID, store.Page{After: page[len(page)-1].Name, Limit: tc.limit})
			must(t, err)
			if len(rest) != n-store.MaxPageLimit || next != "" {
				t.Errorf("after a full page: %d tokens, next %q; want %d and none", len(rest), next, n-store.MaxPageLimit)
			}
		}
	}
}

// SeedTokens creates n tokens in orgID from a few goroutines, as a busy
// server would.
func SeedTokens(tb testing.TB, s store.Store, orgID string, n int) {
	tb.Helper()
	seedTokens(tb, s, orgID, n, nil)
}

// seedTokens is SeedTokens where token i serves prefixes(i) (none when
// prefixes is nil).
func seedTokens(tb testing.TB, s store.Store, orgID string, n int, prefixes func(i int) []string) {
	tb.Helper()
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				tok := newToken(orgID, tokenName(i))
				if prefixes != nil {
					tok.Prefixes = prefixes(i)
				}
				if err := s.CreateToken(tb.Context(), tok); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

func testUpdateToken(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	orig := createToken(t, s, o.ID, "deploy")

	in := orig
	in.Name = "deploy-renamed"
	in.Description = "rotated"
	in.Provider = "gitlab"
	in.WebURL, in.APIURL, in.Workspace = "https://gitlab.example.com", "https://gitlab.example.com/api/v4", "group"
	in.CABundle = nil
	in.Uses = []string{"clone"}
	in.Kind, in.Identity, in.Scopes, in.Role = "group-token", "group-bot", []string{"read_repository"}, "developer"
	in.ExpiresAt = nil
	in.Status, in.StatusDetail = "limited", "cannot manage webhooks"
	in.Report = []byte(`{"rotated":true}`)
	in.LastValidatedAt = ptr(when(48 * time.Hour))
	in.LastUsedAt = nil // kept: only uses move it, and only forward
	in.Prefixes = []string{"https://gitlab.example.com/group/sub/", "https://gitlab.example.com/group/"}
	in.Fingerprint, in.Last4 = "sha256:00000000000000ff", "abcd"
	in.Sealed = randomBytes(180)
	in.CreatedAt = when(-time.Hour) // ignored: creation time is history
	in.UpdatedAt = when(49 * time.Hour)

	got, err := s.UpdateToken(ctx(t), in)
	must(t, err)
	want := stored(in)
	want.CreatedAt = orig.CreatedAt
	want.LastUsedAt = orig.LastUsedAt
	want.Version = orig.Version + 1
	diff(t, "UpdateToken result", got, want)
	wantUTC(t, "UpdateToken result", tokenTimes(&got)...)

	read, err := s.GetToken(ctx(t), o.ID, "deploy-renamed")
	must(t, err)
	diff(t, "GetToken after update", read, want)
	_, err = s.GetToken(ctx(t), o.ID, "deploy")
	wantErr(t, err, store.ErrNotFound)

	// A token read from a listing has no Sealed; updating it keeps the value.
	list, _, err := s.ListTokens(ctx(t), o.ID, store.Page{})
	must(t, err)
	listed := list[0]
	listed.Status = "expired"
	listed.UpdatedAt = when(50 * time.Hour)
	got, err = s.UpdateToken(ctx(t), listed)
	must(t, err)
	if string(got.Sealed) != string(want.Sealed) || got.Status != "expired" || got.Version != want.Version+1 {
		t.Errorf("update without Sealed: status %q, version %d, sealed kept %v; want expired, %d, true",
			got.Status, got.Version, string(got.Sealed) == string(want.Sealed), want.Version+1)
	}

	// An update without a time is stamped by the store.
	before := time.Now().Truncate(time.Microsecond)
	got.UpdatedAt = time.Time{}
	got, err = s.UpdateToken(ctx(t), got)
	must(t, err)
	after := time.Now()
	if got.UpdatedAt.Before(before) || got.UpdatedAt.After(after) {
		t.Errorf("UpdatedAt = %v, want the time of the update (between %v and %v)", got.UpdatedAt, before, after)
	}
}

func testUpdateTokenErrors(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	tok := createToken(t, s, o.ID, "deploy")
	createToken(t, s, o.ID, "taken")

	stale := tok
	stale.Version--
	stale.Description = "stale write"
	_, err := s.UpdateToken(ctx(t), stale)
	wantErr(t, err, store.ErrConflict)

	clash := tok
	clash.Name = "taken"
	_, err = s.UpdateToken(ctx(t), clash)
	wantErr(t, err, store.ErrConflict)

	gone := tok
	gone.ID = newID("tok")
	_, err = s.UpdateToken(ctx(t), gone)
	wantErr(t, err, store.ErrNotFound)

	got, err := s.GetToken(ctx(t), o.ID, "deploy")
	must(t, err)
	diff(t, "token after refused updates", got, tok)

	// The first writer wins; the second, holding the same version, loses.
	first := tok
	first.Description = "first"
	_, err = s.UpdateToken(ctx(t), first)
	must(t, err)
	second := tok
	second.Description = "second"
	_, err = s.UpdateToken(ctx(t), second)
	wantErr(t, err, store.ErrConflict)
	got, err = s.GetToken(ctx(t), o.ID, "deploy")
	must(t, err)
	if got.Description != "first" {
		t.Errorf("Description = %q, want the first writer's", got.Description)
	}
}

func testUpdateTokenRace(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	tok := createToken(t, s, o.ID, "deploy")
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			u := tok
			u.Description = fmt.Sprintf("writer %d", i)
			_, errs[i] = s.UpdateToken(context.Background(), u)
		})
	}
	wg.Wait()
	var won int
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("concurrent update: %v, want success or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent updates of one version succeeded, want exactly 1", won)
	}
	got, err := s.GetToken(ctx(t), o.ID, "deploy")
	must(t, err)
	if got.Version != tok.Version+1 {
		t.Errorf("Version = %d, want %d", got.Version, tok.Version+1)
	}
}

// testConcurrentWriters is what a busy server does: many requests writing
// at once, with readers alongside. None may fail (SQLite's "database is
// locked" included).
func testConcurrentWriters(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%d-%02d", w, i)
				if err := s.CreateToken(context.Background(), newToken(o.ID, name)); err != nil {
					errs <- err
					return
				}
				rec := store.AuditRecord{ID: newID("aud"), OrgID: o.ID, At: when(time.Duration(i) * time.Second),
					Actor: "key_x (ci)", Action: "token.create", Target: "token/" + name, Outcome: "success"}
				if err := s.AppendAudit(context.Background(), rec); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for range each {
				if _, _, err := s.ListTokens(context.Background(), o.ID, store.Page{Limit: 50}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	page, _, err := s.ListTokens(ctx(t), o.ID, store.Page{Limit: store.MaxPageLimit})
	must(t, err)
	if len(page) != writers*each {
		t.Errorf("%d tokens after concurrent creates, want %d", len(page), writers*each)
	}
}

func testDeleteToken(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	tok := createToken(t, s, o.ID, "deploy")
	keep := createToken(t, s, o.ID, "keep")

	must(t, s.DeleteToken(ctx(t), o.ID, tok.ID))
	_, err := s.GetToken(ctx(t), o.ID, "deploy")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteToken(ctx(t), o.ID, tok.ID), store.ErrNotFound)
	_, err = s.UpdateToken(ctx(t), tok)
	wantErr(t, err, store.ErrNotFound)

	got, err := s.GetToken(ctx(t), o.ID, "keep")
	must(t, err)
	diff(t, "the other token", got, keep)

	// The name is free again.
	createToken(t, s, o.ID, "deploy")
}

func auditRecord(orgID string, at time.Time, action string) store.AuditRecord {
	return store.AuditRecord{ID: newID("aud"), OrgID: orgID, At: at, Actor: "key_abc (ci-bot)",
		Action: action, Target: "token/acme-ci", Outcome: "success", Detail: "scopes: contents:read"}
}

func testAudit(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	oldest := auditRecord(a.ID, when(0), "token.create")
	newest := auditRecord(a.ID, when(2*time.Second), "token.delete")
	middle := auditRecord(a.ID, when(time.Second), "token.test")
	middle.Outcome, middle.Detail = "failure", ""
	other := auditRecord(b.ID, when(3*time.Second), "token.create")
	for _, r := range []store.AuditRecord{oldest, newest, middle, other} {
		must(t, s.AppendAudit(ctx(t), r))
	}

	got, next, err := s.ListAudit(ctx(t), a.ID, store.Page{})
	must(t, err)
	if next != "" {
		t.Errorf("next = %q on the only page", next)
	}
	var want []store.AuditRecord
	for _, r := range []store.AuditRecord{newest, middle, oldest} {
		r.At = cut(r.At)
		want = append(want, r)
	}
	diff(t, "ListAudit(a), newest first, without b's", got, want)
	for i := range got {
		wantUTC(t, "audit", &got[i].At)
	}

	wantErr(t, s.AppendAudit(ctx(t), oldest), store.ErrConflict)
	orphan := auditRecord(newID("org"), when(0), "token.create")
	wantErr(t, s.AppendAudit(ctx(t), orphan), store.ErrNotFound)

	for _, bad := range []string{"not a cursor", "Zm9v", store.AuditCursor(when(0), "")} {
		_, _, err = s.ListAudit(ctx(t), a.ID, store.Page{After: bad})
		wantErr(t, err, store.ErrInvalidCursor)
	}
}

// testAuditPages pages through records of which several share a timestamp
// (one request often records more than one thing): none may be repeated or
// skipped at a page boundary.
func testAuditPages(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	var all []store.AuditRecord
	for i := range 11 {
		at := when(time.Duration(i) * time.Second)
		if i >= 3 && i < 8 {
			at = when(3 * time.Second) // five records at one instant
		}
		if i == 9 {
			at = when(3*time.Second + 500*time.Nanosecond) // the same instant once cut to µs
		}
		r := auditRecord(o.ID, at, fmt.Sprintf("action.%d", i))
		must(t, s.AppendAudit(ctx(t), r))
		r.At = cut(r.At)
		all = append(all, r)
	}
	slices.SortFunc(all, func(x, y store.AuditRecord) int {
		if c := y.At.Compare(x.At); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})

	var got []store.AuditRecord
	p := store.Page{Limit: 3}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		page, next, err := s.ListAudit(ctx(t), o.ID, p)
		must(t, err)
		got = append(got, page...)
		if next == "" {
			break
		}
		p.After = next
	}
	diff(t, "audit across pages of 3", got, all)
}

// sealedKey names a sealed value as its associated data binds it.
func sealedKey(table, id string) string { return table + "/" + id }

// createSealedRows creates, in two organizations, tokens, a hook and a
// subscription: every kind of row holding a sealed value.
func createSealedRows(t *testing.T, s store.Store) (toks []store.Token, hook store.Hook, sub store.Subscription) {
	t.Helper()
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	toks = []store.Token{createToken(t, s, a.ID, "one"), createToken(t, s, b.ID, "two")}
	app := createApp(t, s, b.ID, "api", "")
	hook = createHook(t, s, b.ID, app.ID)
	sub = createSubscription(t, s, a.ID, when(0))
	return toks, hook, sub
}

func testSealedRows(t *testing.T, s store.Store) {
	toks, hook, sub := createSealedRows(t, s)
	want := map[string]string{
		sealedKey("hooks", hook.ID):        string(hook.Sealed),
		sealedKey("subscriptions", sub.ID): string(sub.Sealed),
	}
	for _, tok := range toks {
		want[sealedKey("tokens", tok.ID)] = string(tok.Sealed)
	}
	rows, err := s.SealedRows(ctx(t))
	must(t, err)
	got := map[string]string{}
	for _, r := range rows {
		got[sealedKey(r.Table, r.ID)] = string(r.Sealed)
	}
	diff(t, "sealed values by table/id", got, want)
}

func testReplaceSealed(t *testing.T, s store.Store) {
	toks, hook, sub := createSealedRows(t, s)
	rows, err := s.SealedRows(ctx(t))
	must(t, err)
	want := map[string][]byte{}
	for i := range rows {
		rows[i].Sealed = randomBytes(210)
		want[sealedKey(rows[i].Table, rows[i].ID)] = rows[i].Sealed
	}
	must(t, s.ReplaceSealed(ctx(t), rows))

	for _, tok := range toks {
		got, err := s.GetToken(ctx(t), tok.OrgID, tok.Name)
		must(t, err)
		if string(got.Sealed) != string(want[sealedKey("tokens", tok.ID)]) {
			t.Errorf("%s: sealed value not replaced", tok.Name)
		}
		// An update prepared before the swap must not write the old
		// ciphertext back over the re-wrapped one.
		_, err = s.UpdateToken(ctx(t), tok)
		wantErr(t, err, store.ErrConflict)
	}
	got, err := s.GetHook(ctx(t), hook.ID)
	must(t, err)
	if string(got.Sealed) != string(want[sealedKey("hooks", hook.ID)]) {
		t.Error("hook: sealed secret not replaced")
	}
	_, err = s.UpdateHook(ctx(t), hook)
	wantErr(t, err, store.ErrConflict)
	subs, err := s.ListSubscriptions(ctx(t), sub.OrgID)
	must(t, err)
	if len(subs) != 1 || string(subs[0].Sealed) != string(want[sealedKey("subscriptions", sub.ID)]) {
		t.Error("subscription: sealed secret not replaced")
	}
	must(t, s.ReplaceSealed(ctx(t), nil))
}

func testReplaceSealedAllOrNothing(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	var toks []store.Token
	for i := range 3 {
		toks = append(toks, createToken(t, s, o.ID, tokenName(i)))
	}
	before, err := s.SealedRows(ctx(t))
	must(t, err)

	rewrap := func() []store.SealedRow {
		var rows []store.SealedRow
		for _, tok := range toks {
			rows = append(rows, store.SealedRow{Table: "tokens", ID: tok.ID, Sealed: randomBytes(200), Version: tok.Version})
		}
		return rows
	}
	missing := append(rewrap(), store.SealedRow{Table: "tokens", ID: newID("tok"), Sealed: randomBytes(200)})
	wantErr(t, s.ReplaceSealed(ctx(t), missing), store.ErrNotFound)
	// A token's id names no hook.
	misplaced := append(rewrap(), store.SealedRow{Table: "hooks", ID: toks[0].ID, Sealed: randomBytes(200)})
	wantErr(t, s.ReplaceSealed(ctx(t), misplaced), store.ErrNotFound)

	empty := rewrap()
	empty[2].Sealed = nil
	if err := s.ReplaceSealed(ctx(t), empty); err == nil {
		t.Error("ReplaceSealed accepted an empty sealed value")
	}

	unknown := append(rewrap(), store.SealedRow{Table: "apps", ID: toks[0].ID, Sealed: randomBytes(200)})
	if err := s.ReplaceSealed(ctx(t), unknown); err == nil {
		t.Error("ReplaceSealed accepted a table that holds no sealed values")
	}

	after, err := s.SealedRows(ctx(t))
	must(t, err)
	diff(t, "sealed values after failed replacements", after, before)
	for _, tok := range toks {
		got, err := s.GetToken(ctx(t), o.ID, tok.Name)
		must(t, err)
		if got.Version != tok.Version {
			t.Errorf("%s: version %d after failed replacements, want %d", tok.Name, got.Version, tok.Version)
		}
	}
}

// testReplaceSealedStale: a token whose value is changed while a master-key
// rotation re-wraps keeps its new value; the rotation fails as a whole and
// can be run again.
func testReplaceSealedStale(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	tok := createToken(t, s, o.ID, "deploy")
	other := createToken(t, s, o.ID, "other")
	app := createApp(t, s, o.ID, "api", "")
	hook := createHook(t, s, o.ID, app.ID)
	createSubscription(t, s, o.ID, when(0))
	rows, err := s.SealedRows(ctx(t))
	must(t, err)

	changed := tok
	changed.Sealed = randomBytes(200)
	_, err = s.UpdateToken(ctx(t), changed)
	must(t, err)

	for i := range rows {
		rows[i].Sealed = randomBytes(200)
	}
	wantErr(t, s.ReplaceSealed(ctx(t), rows), store.ErrConflict)

	got, err := s.GetToken(ctx(t), o.ID, "deploy")
	must(t, err)
	if string(got.Sealed) != string(changed.Sealed) {
		t.Error("the re-wrap of the old value overwrote the updated one")
	}
	got, err = s.GetToken(ctx(t), o.ID, "other")
	must(t, err)
	if string(got.Sealed) != string(other.Sealed) {
		t.Error("a failed ReplaceSealed changed another token")
	}

	// A hook secret changed during the re-wrap is protected the same way.
	rows, err = s.SealedRows(ctx(t))
	must(t, err)
	rotated := hook
	rotated.Sealed = randomBytes(150)
	_, err = s.UpdateHook(ctx(t), rotated)
	must(t, err)
	wantErr(t, s.ReplaceSealed(ctx(t), rows), store.ErrConflict)
	gotHook, err := s.GetHook(ctx(t), hook.ID)
	must(t, err)
	if string(gotHook.Sealed) != string(rotated.Sealed) {
		t.Error("the re-wrap of the old hook secret overwrote the rotated one")
	}

	rows, err = s.SealedRows(ctx(t))
	must(t, err)
	must(t, s.ReplaceSealed(ctx(t), rows))
}
