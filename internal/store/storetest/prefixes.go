package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// createTokenWith creates a token of orgID serving prefixes.
func createTokenWith(t *testing.T, s store.Store, orgID, name string, prefixes ...string) store.Token {
	t.Helper()
	tok := newToken(orgID, name)
	tok.Prefixes = prefixes
	must(t, s.CreateToken(ctx(t), tok))
	return stored(tok)
}

// wantMatch checks that rawURL resolves in orgID to the token want through
// prefix.
func wantMatch(t *testing.T, s store.Store, orgID, rawURL string, want store.Token, prefix string) {
	t.Helper()
	got, gotPrefix, err := s.MatchPrefix(ctx(t), orgID, rawURL)
	if err != nil {
		t.Errorf("MatchPrefix(%q): %v, want token %s via %q", rawURL, err, want.Name, prefix)
		return
	}
	if gotPrefix != prefix {
		t.Errorf("MatchPrefix(%q) prefix = %q, want %q", rawURL, gotPrefix, prefix)
	}
	diff(t, "MatchPrefix("+rawURL+") token", got, want)
}

func wantNoMatch(t *testing.T, s store.Store, orgID, rawURL string) {
	t.Helper()
	got, prefix, err := s.MatchPrefix(ctx(t), orgID, rawURL)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MatchPrefix(%q) = token %q via %q, err %v; want ErrNotFound", rawURL, got.Name, prefix, err)
	}
}

func testTokenPrefixes(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	other := newOrg(t, s, "b")
	tok := newToken(o.ID, "deploy")
	// Unsorted, with a duplicate and a capital (byte order puts it first).
	tok.Prefixes = []string{"https://gitlab.com/acme/", "https://github.com/acme/",
		"https://Git.example.com/Acme/", "https://github.com/acme/"}
	must(t, s.CreateToken(ctx(t), tok))
	want := stored(tok)
	diff(t, "stored prefixes", want.Prefixes,
		[]string{"https://Git.example.com/Acme/", "https://github.com/acme/", "https://gitlab.com/acme/"})

	got, err := s.GetToken(ctx(t), o.ID, "deploy")
	must(t, err)
	diff(t, "GetToken", got, want)
	got, err = s.GetTokenByID(ctx(t), o.ID, tok.ID)
	must(t, err)
	diff(t, "GetTokenByID (with Sealed and Prefixes)", got, want)
	wantUTC(t, "GetTokenByID", tokenTimes(&got)...)
	_, err = s.GetTokenByID(ctx(t), other.ID, tok.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetTokenByID(ctx(t), o.ID, newID("tok"))
	wantErr(t, err, store.ErrNotFound)

	plain := createToken(t, s, o.ID, "plain")
	list, _, err := s.ListTokens(ctx(t), o.ID, store.Page{})
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("ListTokens: %d tokens, want 2", len(list))
	}
	diff(t, "listed prefixes", [][]string{list[0].Prefixes, list[1].Prefixes}, [][]string{want.Prefixes, plain.Prefixes})

	// UpdateToken replaces the whole set.
	in := got
	in.Prefixes = []string{"https://github.com/acme/", "https://bitbucket.org/acme/"}
	got, err = s.UpdateToken(ctx(t), in)
	must(t, err)
	newSet := []string{"https://bitbucket.org/acme/", "https://github.com/acme/"}
	diff(t, "UpdateToken result prefixes", got.Prefixes, newSet)
	read, err := s.GetToken(ctx(t), o.ID, "deploy")
	must(t, err)
	diff(t, "GetToken after update", read, got)
	wantNoMatch(t, s, o.ID, "https://gitlab.com/acme/app")
	wantMatch(t, s, o.ID, "https://bitbucket.org/acme/app", read, "https://bitbucket.org/acme/")

	// An empty set clears them.
	read.Prefixes = nil
	got, err = s.UpdateToken(ctx(t), read)
	must(t, err)
	if got.Prefixes != nil {
		t.Errorf("UpdateToken without prefixes returned %q", got.Prefixes)
	}
	read, err = s.GetToken(ctx(t), o.ID, "deploy")
	must(t, err)
	if read.Prefixes != nil {
		t.Errorf("prefixes after clearing: %q", read.Prefixes)
	}
	wantNoMatch(t, s, o.ID, "https://github.com/acme/app")
}

// testTokenPrefixesInvalid: a prefix both engines could not hold alike is
// refused before anything is written.
func testTokenPrefixesInvalid(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	tok := createTokenWith(t, s, o.ID, "deploy", "https://github.com/acme/")
	for _, bad := range []string{
		"https://github.com/acme", // no trailing slash
		"",                        // empty
		"https://github.com/" + strings.Repeat("a", 2048) + "/", // too long
		"https://github.com/\xff/",                              // not UTF-8
		"https://github.com/a\x00b/",                            // NUL
	} {
		in := newToken(o.ID, "new")
		in.Prefixes = []string{"https://gitlab.com/acme/", bad}
		if err := s.CreateToken(ctx(t), in); err == nil {
			t.Errorf("CreateToken with prefix %q succeeded", bad)
		}
		_, err := s.GetToken(ctx(t), o.ID, "new")
		wantErr(t, err, store.ErrNotFound)

		up := tok
		up.Description = "changed"
		up.Prefixes = []string{bad}
		if _, err := s.UpdateToken(ctx(t), up); err == nil {
			t.Errorf("UpdateToken with prefix %q succeeded", bad)
		}
	}
	wantNoMatch(t, s, o.ID, "https://gitlab.com/acme/x")
	got, err := s.GetToken(ctx(t), o.ID, "deploy")
	must(t, err)
	diff(t, "token after refused updates", got, tok)

	// The longest allowed prefix is accepted and matched.
	long := "https://github.com/" + strings.Repeat("a", 2048-len("https://github.com/")-1) + "/"
	lt := createTokenWith(t, s, o.ID, "long", long)
	wantMatch(t, s, o.ID, long+"repo", lt, long)
}

func testPrefixTaken(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	const (
		p1 = "https://github.com/acme/"
		p2 = "https://gitlab.com/acme/"
		p3 = "https://bitbucket.org/acme/"
		p4 = "https://github.com/acme/api/"
	)
	first := createTokenWith(t, s, a.ID, "first", p1, p2)

	// A create with one taken prefix writes nothing: no token, no prefix.
	in := newToken(a.ID, "second")
	in.Prefixes = []string{p3, p2}
	err := s.CreateToken(ctx(t), in)
	wantErr(t, err, store.ErrPrefixTaken)
	wantErr(t, err, store.ErrConflict)
	_, err = s.GetToken(ctx(t), a.ID, "second")
	wantErr(t, err, store.ErrNotFound)
	wantNoMatch(t, s, a.ID, p3+"app")

	// A taken name with free prefixes is a plain conflict.
	dup := newToken(a.ID, "first")
	dup.Prefixes = []string{p3}
	err = s.CreateToken(ctx(t), dup)
	wantErr(t, err, store.ErrConflict)
	if errors.Is(err, store.ErrPrefixTaken) {
		t.Errorf("duplicate name reported as a taken prefix: %v", err)
	}
	wantNoMatch(t, s, a.ID, p3+"app")

	second := createTokenWith(t, s, a.ID, "second", p3)

	// An update with one taken prefix writes nothing either.
	up := second
	up.Description = "should not be written"
	up.Prefixes = []string{p3, p4, p1}
	_, err = s.UpdateToken(ctx(t), up)
	wantErr(t, err, store.ErrPrefixTaken)
	got, err := s.GetToken(ctx(t), a.ID, "second")
	must(t, err)
	diff(t, "second after a refused update", got, second)
	wantMatch(t, s, a.ID, p4+"x", first, p1) // not second's p4

	// Keeping its own prefixes is no conflict; a released prefix can move.
	first.Prefixes = []string{p1, p2}
	first, err = s.UpdateToken(ctx(t), first)
	must(t, err)
	first.Prefixes = []string{p1}
	first, err = s.UpdateToken(ctx(t), first)
	must(t, err)
	second.Prefixes = []string{p2, p3}
	second, err = s.UpdateToken(ctx(t), second)
	must(t, err)
	wantMatch(t, s, a.ID, p2+"app", second, p2)

	// Prefixes are unique per organization, not globally.
	other := createTokenWith(t, s, b.ID, "first", p1, p2)
	wantMatch(t, s, b.ID, p1+"web", other, p1)
	wantMatch(t, s, a.ID, p1+"web", first, p1)
}

// testPrefixTakenRace: tokens created at once with the same prefix; exactly
// one gets it, the others learn it is taken (PostgreSQL reaches the unique
// index from concurrent transactions, SQLite serializes writers).
func testPrefixTakenRace(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			in := newToken(o.ID, tokenName(i))
			in.Prefixes = []string{"https://github.com/" + tokenName(i) + "/", "https://github.com/acme/"}
			errs[i] = s.CreateToken(t.Context(), in)
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("writers %d and %d both got the prefix", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrPrefixTaken):
			t.Errorf("writer %d: %v, want success or ErrPrefixTaken", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no writer got the prefix")
	}
	list, _, err := s.ListTokens(ctx(t), o.ID, store.Page{})
	must(t, err)
	if len(list) != 1 || list[0].Name != tokenName(won) {
		t.Errorf("tokens after the race: %v, want only %s", tokenNames(list), tokenName(won))
	}
}

func testMatchPrefix(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	host := createTokenWith(t, s, o.ID, "host", "https://github.com/")
	acme := createTokenWith(t, s, o.ID, "acme", "https://github.com/acme/", "https://gitlab.com/acme/")
	api := createTokenWith(t, s, o.ID, "api", "https://github.com/acme/api/")
	intl := createTokenWith(t, s, o.ID, "intl", "https://git.example.com/équipe/")
	createToken(t, s, o.ID, "no-prefixes")

	for _, tc := range []struct {
		url    string
		want   store.Token
		prefix string
	}{
		{"https://github.com/acme/api/sub", api, "https://github.com/acme/api/"},
		{"https://github.com/acme/api/", api, "https://github.com/acme/api/"},
		{"https://github.com/acme/api", acme, "https://github.com/acme/"}, // "api" is not "api/"
		{"https://github.com/acme/apix/y", acme, "https://github.com/acme/"},
		{"https://github.com/acme/web", acme, "https://github.com/acme/"},
		{"https://github.com/acme-other/web", host, "https://github.com/"}, // near miss of acme/
		{"https://github.com/acme", host, "https://github.com/"},
		{"https://github.com/", host, "https://github.com/"},
		{"https://gitlab.com/acme/group/sub/repo", acme, "https://gitlab.com/acme/"},
		{"https://git.example.com/équipe/dépôt", intl, "https://git.example.com/équipe/"},
		// Deeper than any stored prefix can be: the shallow one still wins.
		{"https://github.com/acme/api/" + strings.Repeat("a/", 3000), api, "https://github.com/acme/api/"},
		// Invalid text after the match does not hide it.
		{"https://github.com/acme/web/\xff/x", acme, "https://github.com/acme/"},
	} {
		wantMatch(t, s, o.ID, tc.url, tc.want, tc.prefix)
	}
	for _, miss := range []string{
		"",
		"https://github.com",               // shorter than every prefix
		"https://gitlab.com/acme-other/x",  // near miss, and no host-wide prefix
		"https://gitlab.com/",              // only deeper prefixes on this host
		"HTTPS://GITHUB.COM/acme/x",        // byte-wise: callers normalize
		"http://github.com/acme/x",         // another scheme
		"https://git.example.com/equipe/x", // é is not e
		"https://gitlab.com\x00/acme/x",
		"\xff/https://github.com/acme/",
	} {
		wantNoMatch(t, s, o.ID, miss)
	}
}

func testMatchPrefixIsolation(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	c := newOrg(t, s, "c")
	ta := createTokenWith(t, s, a.ID, "acme", "https://github.com/acme/")
	// b serves a longer prefix of the same URLs; a must not see it.
	tb := createTokenWith(t, s, b.ID, "api", "https://github.com/acme/api/")

	wantMatch(t, s, a.ID, "https://github.com/acme/api/x", ta, "https://github.com/acme/")
	wantMatch(t, s, b.ID, "https://github.com/acme/api/x", tb, "https://github.com/acme/api/")
	wantNoMatch(t, s, b.ID, "https://github.com/acme/web")
	wantNoMatch(t, s, c.ID, "https://github.com/acme/api/x")
	wantNoMatch(t, s, newID("org"), "https://github.com/acme/api/x")
}

func testDeleteTokenCascadesPrefixes(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	acme := createTokenWith(t, s, o.ID, "acme", "https://github.com/acme/")
	api := createTokenWith(t, s, o.ID, "api", "https://github.com/acme/api/", "https://gitlab.com/acme/")
	wantMatch(t, s, o.ID, "https://github.com/acme/api/x", api, "https://github.com/acme/api/")

	must(t, s.DeleteToken(ctx(t), o.ID, api.ID))
	wantMatch(t, s, o.ID, "https://github.com/acme/api/x", acme, "https://github.com/acme/")
	wantNoMatch(t, s, o.ID, "https://gitlab.com/acme/x")

	// The deleted token's prefixes are free for another.
	again := createTokenWith(t, s, o.ID, "again", "https://github.com/acme/api/", "https://gitlab.com/acme/")
	wantMatch(t, s, o.ID, "https://gitlab.com/acme/x", again, "https://gitlab.com/acme/")
}

func testDeleteTokenInUse(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	tok := createTokenWith(t, s, o.ID, "deploy", "https://github.com/acme/")
	other := createToken(t, s, o.ID, "other")
	app := newApp(o.ID, "api", tok.ID)
	must(t, s.CreateApp(ctx(t), app))
	// An application matching by prefix holds no token.
	must(t, s.CreateApp(ctx(t), newApp(o.ID, "web", "")))

	err := s.DeleteToken(ctx(t), o.ID, tok.ID)
	wantErr(t, err, store.ErrInUse)
	wantErr(t, err, store.ErrConflict)
	got, err := s.GetTokenByID(ctx(t), o.ID, tok.ID)
	must(t, err)
	diff(t, "bound token after a refused delete", got, tok)
	wantMatch(t, s, o.ID, "https://github.com/acme/api", tok, "https://github.com/acme/")

	// Rebinding the application frees the token.
	a, err := s.GetApp(ctx(t), o.ID, "api")
	must(t, err)
	a.TokenID = other.ID
	_, err = s.UpdateApp(ctx(t), a)
	must(t, err)
	must(t, s.DeleteToken(ctx(t), o.ID, tok.ID))

	// Deleting the application frees the other.
	wantErr(t, s.DeleteToken(ctx(t), o.ID, other.ID), store.ErrInUse)
	must(t, s.DeleteApp(ctx(t), o.ID, app.ID))
	must(t, s.DeleteToken(ctx(t), o.ID, other.ID))
	_, err = s.GetTokenByID(ctx(t), o.ID, other.ID)
	wantErr(t, err, store.ErrNotFound)
}

func testTouchToken(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	tok := createToken(t, s, o.ID, "deploy") // last used at when(2h)
	lastUsed := func() *time.Time {
		t.Helper()
		got, err := s.GetTokenByID(ctx(t), o.ID, tok.ID)
		must(t, err)
		if got.Version != tok.Version {
			t.Errorf("Version = %d after touches, want %d: a use is no edit", got.Version, tok.Version)
		}
		return got.LastUsedAt
	}

	must(t, s.TouchToken(ctx(t), tok.ID, when(3*time.Hour)))
	diff(t, "LastUsedAt after a newer touch", lastUsed(), cutPtr(ptr(when(3*time.Hour))))
	must(t, s.TouchToken(ctx(t), tok.ID, when(time.Hour)))
	diff(t, "LastUsedAt after an older touch", lastUsed(), cutPtr(ptr(when(3*time.Hour))))
	wantErr(t, s.TouchToken(ctx(t), newID("tok"), when(0)), store.ErrNotFound)

	never := newToken(o.ID, "never-used")
	never.LastUsedAt = nil
	must(t, s.CreateToken(ctx(t), never))
	must(t, s.TouchToken(ctx(t), never.ID, when(time.Minute)))
	got, err := s.GetTokenByID(ctx(t), o.ID, never.ID)
	must(t, err)
	diff(t, "LastUsedAt after the first touch", got.LastUsedAt, cutPtr(ptr(when(time.Minute))))

	// An update carrying the time it read before a touch does not undo it.
	stale := tok
	stale.Description = "edited"
	_, err = s.UpdateToken(ctx(t), stale)
	must(t, err)
	tok.Version++
	diff(t, "LastUsedAt after an update with an older one", lastUsed(), cutPtr(ptr(when(3*time.Hour))))
}

func testBuilderKey(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	k := store.APIKey{ID: newID("key"), OrgID: o.ID, Name: "builds", Role: store.RoleBuilder,
		Hash: randomBytes(32), CreatedAt: when(0)}
	must(t, s.CreateAPIKey(ctx(t), k))
	got, err := s.GetAPIKey(ctx(t), k.ID)
	must(t, err)
	if got.Role != store.RoleBuilder {
		t.Errorf("Role = %q, want %q", got.Role, store.RoleBuilder)
	}
}
