package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

func appTimes(a *store.App) []*time.Time {
	return []*time.Time{&a.CreatedAt, &a.UpdatedAt, a.LastUsedAt}
}

func createApp(t *testing.T, s store.Store, orgID, name, tokenID string) store.App {
	t.Helper()
	a := newApp(orgID, name, tokenID)
	must(t, s.CreateApp(ctx(t), a))
	return storedApp(a)
}

func appNames(l []store.App) []string {
	var names []string
	for _, a := range l {
		names = append(names, a.Name)
	}
	return names
}

func testAppRoundTrip(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	tok := createToken(t, s, o.ID, "deploy")

	full := newApp(o.ID, "api", tok.ID)
	must(t, s.CreateApp(ctx(t), full))
	got, err := s.GetApp(ctx(t), o.ID, "api")
	must(t, err)
	diff(t, "app with every field set", got, storedApp(full))
	wantUTC(t, "app with every field set", appTimes(&got)...)

	minimal := store.App{ID: newID("app"), OrgID: o.ID, Name: "minimal", RepoURL: "https://gitlab.com/acme/minimal"}
	before := time.Now().Truncate(time.Microsecond)
	must(t, s.CreateApp(ctx(t), minimal))
	after := time.Now()
	got, err = s.GetApp(ctx(t), o.ID, "minimal")
	must(t, err)
	if got.CreatedAt.Before(before) || got.CreatedAt.After(after) || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("CreatedAt %v, UpdatedAt %v; want both the time of the create (between %v and %v)",
			got.CreatedAt, got.UpdatedAt, before, after)
	}
	want := minimal
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	diff(t, "app with optional fields unset", got, want)

	_, err = s.GetApp(ctx(t), o.ID, "missing")
	wantErr(t, err, store.ErrNotFound)
}

func testAppConflicts(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	tok := createToken(t, s, a.ID, "deploy")
	tokB := createToken(t, s, b.ID, "deploy")
	first := createApp(t, s, a.ID, "api", tok.ID)

	wantErr(t, s.CreateApp(ctx(t), newApp(a.ID, "api", "")), store.ErrConflict)
	sameID := newApp(a.ID, "other", "")
	sameID.ID = first.ID
	wantErr(t, s.CreateApp(ctx(t), sameID), store.ErrConflict)
	wantErr(t, s.CreateApp(ctx(t), newApp(newID("org"), "api", "")), store.ErrNotFound)
	wantErr(t, s.CreateApp(ctx(t), newApp(a.ID, "web", newID("tok"))), store.ErrNotFound)
	// A token of another organization is not found either.
	wantErr(t, s.CreateApp(ctx(t), newApp(a.ID, "web", tokB.ID)), store.ErrNotFound)

	list, _, err := s.ListApps(ctx(t), a.ID, store.Page{})
	must(t, err)
	diff(t, "apps after refused creates", list, []store.App{first})
}

func testAppIsolation(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	tokA := createToken(t, s, a.ID, "deploy")
	appA := createApp(t, s, a.ID, "api", tokA.ID)
	// Names are unique per organization, not globally.
	appB := createApp(t, s, b.ID, "api", "")

	got, err := s.GetApp(ctx(t), b.ID, "api")
	must(t, err)
	diff(t, "GetApp(b)", got, appB)
	list, _, err := s.ListApps(ctx(t), b.ID, store.Page{})
	must(t, err)
	diff(t, "ListApps(b)", list, []store.App{appB})
	byTok, err := s.ListAppsByToken(ctx(t), b.ID, tokA.ID)
	must(t, err)
	if len(byTok) != 0 {
		t.Errorf("ListAppsByToken(b, a's token) = %v, want none", appNames(byTok))
	}

	wantErr(t, s.DeleteApp(ctx(t), b.ID, appA.ID), store.ErrNotFound)
	steal := appA
	steal.OrgID = b.ID
	steal.Name = "stolen"
	_, err = s.UpdateApp(ctx(t), steal)
	wantErr(t, err, store.ErrNotFound)
	// b cannot bind its application to a's token.
	bind := appB
	bind.TokenID = tokA.ID
	_, err = s.UpdateApp(ctx(t), bind)
	wantErr(t, err, store.ErrNotFound)

	got, err = s.GetApp(ctx(t), a.ID, "api")
	must(t, err)
	diff(t, "a's app after b's attempts", got, appA)
	got, err = s.GetApp(ctx(t), b.ID, "api")
	must(t, err)
	diff(t, "b's app after a refused bind", got, appB)
}

func testListAppsPages(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	want := map[string]store.App{}
	var names []string
	for i := range 25 {
		app := createApp(t, s, a.ID, tokenName(i), "")
		want[app.Name] = app
		names = append(names, app.Name)
	}
	createApp(t, s, b.ID, "an-app-of-b", "")
	slices.Sort(names) // byte order

	var gotNames, cursors []string
	var sizes []int
	p := store.Page{Limit: 10}
	for {
		page, next, err := s.ListApps(ctx(t), a.ID, p)
		must(t, err)
		sizes = append(sizes, len(page))
		for _, app := range page {
			diff(t, "listed app "+app.Name, app, want[app.Name])
			gotNames = append(gotNames, app.Name)
		}
		if next == "" {
			break
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

	page, next, err := s.ListApps(ctx(t), a.ID, store.Page{After: names[9] + "~", Limit: 3})
	must(t, err)
	diff(t, "page after a vanished cursor", appNames(page), names[10:13])
	if next != names[12] {
		t.Errorf("next = %q, want %q", next, names[12])
	}
	page, next, err = s.ListApps(ctx(t), a.ID, store.Page{After: names[19], Limit: 5})
	must(t, err)
	if len(page) != 5 || next != "" {
		t.Errorf("exact last page: %d apps, next %q; want 5 and none", len(page), next)
	}
	page, next, err = s.ListApps(ctx(t), newID("org"), store.Page{})
	must(t, err)
	if len(page) != 0 || next != "" {
		t.Errorf("unknown org: %d apps, next %q; want none", len(page), next)
	}
}

func testListAppsLimits(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	const n = store.MaxPageLimit + 1
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := s.CreateApp(t.Context(), newApp(o.ID, tokenName(i), "")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit, want int
	}{
		{0, store.DefaultPageLimit},
		{-5, store.DefaultPageLimit},
		{7, 7},
		{store.MaxPageLimit + 500, store.MaxPageLimit},
	} {
		page, next, err := s.ListApps(ctx(t), o.ID, store.Page{Limit: tc.limit})
		must(t, err)
		if len(page) != tc.want || next != page[len(page)-1].Name {
			t.Errorf("Limit %d: %d apps, next %q; want %d and the last name", tc.limit, len(page), next, tc.want)
		}
	}
	page, next, err := s.ListApps(ctx(t), o.ID, store.Page{Limit: store.MaxPageLimit})
	must(t, err)
	rest, next, err := s.ListApps(ctx(t), o.ID, store.Page{After: next, Limit: store.MaxPageLimit})
	must(t, err)
	if len(page)+len(rest) != n || next != "" {
		t.Errorf("two full pages: %d apps, next %q; want %d and none", len(page)+len(rest), next, n)
	}
}

func testListAppsByToken(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	t1 := createToken(t, s, o.ID, "one")
	t2 := createToken(t, s, o.ID, "two")
	bAPI := createApp(t, s, o.ID, "b-api", t1.ID)
	aWeb := createApp(t, s, o.ID, "a-web", t1.ID)
	worker := createApp(t, s, o.ID, "c-worker", t2.ID)
	createApp(t, s, o.ID, "d-site", "")

	got, err := s.ListAppsByToken(ctx(t), o.ID, t1.ID)
	must(t, err)
	diff(t, "apps bound to one, by name", got, []store.App{aWeb, bAPI})
	got, err = s.ListAppsByToken(ctx(t), o.ID, t2.ID)
	must(t, err)
	diff(t, "apps bound to two", got, []store.App{worker})
	got, err = s.ListAppsByToken(ctx(t), o.ID, newID("tok"))
	must(t, err)
	if len(got) != 0 {
		t.Errorf("apps bound to an unknown token: %v", appNames(got))
	}
}

func testUpdateApp(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	t1 := createToken(t, s, o.ID, "one")
	t2 := createToken(t, s, o.ID, "two")
	orig := createApp(t, s, o.ID, "api", t1.ID)

	in := orig
	in.Name = "api-renamed"
	in.RepoURL = "https://gitlab.com/acme/api"
	in.RepoFullName = "acme/api"
	in.Branch = "release"
	in.TokenID = t2.ID
	in.Path = "."
	in.AutoDeploy, in.Previews = false, false
	in.CreatedAt = when(-time.Hour) // ignored: creation time is history
	in.UpdatedAt = when(49 * time.Hour)
	in.LastUsedAt = ptr(when(2 * time.Hour))

	got, err := s.UpdateApp(ctx(t), in)
	must(t, err)
	want := storedApp(in)
	want.CreatedAt = orig.CreatedAt
	want.Version = orig.Version + 1
	diff(t, "UpdateApp result", got, want)
	wantUTC(t, "UpdateApp result", appTimes(&got)...)
	read, err := s.GetApp(ctx(t), o.ID, "api-renamed")
	must(t, err)
	diff(t, "GetApp after update", read, want)
	_, err = s.GetApp(ctx(t), o.ID, "api")
	wantErr(t, err, store.ErrNotFound)

	// Unbinding: the token is found by prefix from now on.
	read.TokenID = ""
	read.LastUsedAt = nil // kept: only uses move it, and only forward
	before := time.Now().Truncate(time.Microsecond)
	read.UpdatedAt = time.Time{}
	got, err = s.UpdateApp(ctx(t), read)
	must(t, err)
	after := time.Now()
	if got.TokenID != "" || got.Version != want.Version+1 {
		t.Errorf("after unbinding: TokenID %q, version %d; want none and %d", got.TokenID, got.Version, want.Version+1)
	}
	diff(t, "LastUsedAt after an update without one", got.LastUsedAt, want.LastUsedAt)
	if got.UpdatedAt.Before(before) || got.UpdatedAt.After(after) {
		t.Errorf("UpdatedAt = %v, want the time of the update (between %v and %v)", got.UpdatedAt, before, after)
	}
	bound, err := s.ListAppsByToken(ctx(t), o.ID, t2.ID)
	must(t, err)
	if len(bound) != 0 {
		t.Errorf("apps still bound to two: %v", appNames(bound))
	}
}

func testUpdateAppErrors(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	tok := createToken(t, s, a.ID, "deploy")
	tokB := createToken(t, s, b.ID, "deploy")
	app := createApp(t, s, a.ID, "api", tok.ID)
	createApp(t, s, a.ID, "taken", "")

	stale := app
	stale.Version--
	stale.Branch = "stale write"
	_, err := s.UpdateApp(ctx(t), stale)
	wantErr(t, err, store.ErrConflict)

	clash := app
	clash.Name = "taken"
	_, err = s.UpdateApp(ctx(t), clash)
	wantErr(t, err, store.ErrConflict)

	for _, tokenID := range []string{newID("tok"), tokB.ID} {
		rebind := app
		rebind.TokenID = tokenID
		_, err = s.UpdateApp(ctx(t), rebind)
		wantErr(t, err, store.ErrNotFound)
	}

	gone := app
	gone.ID = newID("app")
	_, err = s.UpdateApp(ctx(t), gone)
	wantErr(t, err, store.ErrNotFound)

	got, err := s.GetApp(ctx(t), a.ID, "api")
	must(t, err)
	diff(t, "app after refused updates", got, app)

	// The first writer wins; the second, holding the same version, loses.
	first := app
	first.Branch = "first"
	_, err = s.UpdateApp(ctx(t), first)
	must(t, err)
	second := app
	second.Branch = "second"
	_, err = s.UpdateApp(ctx(t), second)
	wantErr(t, err, store.ErrConflict)
	got, err = s.GetApp(ctx(t), a.ID, "api")
	must(t, err)
	if got.Branch != "first" {
		t.Errorf("Branch = %q, want the first writer's", got.Branch)
	}
}

func testUpdateAppRace(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	app := createApp(t, s, o.ID, "api", "")
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			u := app
			u.Branch = fmt.Sprintf("writer-%d", i)
			_, errs[i] = s.UpdateApp(context.Background(), u)
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
	got, err := s.GetApp(ctx(t), o.ID, "api")
	must(t, err)
	if got.Version != app.Version+1 {
		t.Errorf("Version = %d, want %d", got.Version, app.Version+1)
	}
}

func testDeleteApp(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	app := createApp(t, s, o.ID, "api", "")
	keep := createApp(t, s, o.ID, "keep", "")

	must(t, s.DeleteApp(ctx(t), o.ID, app.ID))
	_, err := s.GetApp(ctx(t), o.ID, "api")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteApp(ctx(t), o.ID, app.ID), store.ErrNotFound)
	_, err = s.UpdateApp(ctx(t), app)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.TouchApp(ctx(t), app.ID, when(0)), store.ErrNotFound)

	got, err := s.GetApp(ctx(t), o.ID, "keep")
	must(t, err)
	diff(t, "the other app", got, keep)

	// The name is free again.
	createApp(t, s, o.ID, "api", "")
}

func testTouchApp(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	app := createApp(t, s, o.ID, "api", "") // last used at when(1h)
	lastUsed := func() *time.Time {
		t.Helper()
		got, err := s.GetApp(ctx(t), o.ID, "api")
		must(t, err)
		if got.Version != app.Version {
			t.Errorf("Version = %d after touches, want %d: a use is no edit", got.Version, app.Version)
		}
		return got.LastUsedAt
	}

	must(t, s.TouchApp(ctx(t), app.ID, when(3*time.Hour)))
	diff(t, "LastUsedAt after a newer touch", lastUsed(), cutPtr(ptr(when(3*time.Hour))))
	must(t, s.TouchApp(ctx(t), app.ID, when(2*time.Hour)))
	diff(t, "LastUsedAt after an older touch", lastUsed(), cutPtr(ptr(when(3*time.Hour))))
	wantErr(t, s.TouchApp(ctx(t), newID("app"), when(0)), store.ErrNotFound)

	fresh := newApp(o.ID, "fresh", "")
	fresh.LastUsedAt = nil
	must(t, s.CreateApp(ctx(t), fresh))
	must(t, s.TouchApp(ctx(t), fresh.ID, when(time.Minute)))
	got, err := s.GetApp(ctx(t), o.ID, "fresh")
	must(t, err)
	diff(t, "LastUsedAt after the first touch", got.LastUsedAt, cutPtr(ptr(when(time.Minute))))

	// An update carrying the time it read before a touch does not undo it.
	stale := app
	stale.Branch = "edited"
	_, err = s.UpdateApp(ctx(t), stale)
	must(t, err)
	app.Version++
	diff(t, "LastUsedAt after an update with an older one", lastUsed(), cutPtr(ptr(when(3*time.Hour))))
}
