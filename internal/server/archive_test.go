package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchiveOfACommitSkipsTheFetch: an archive of a full commit SHA the
// mirror already holds is served without fetching (a commit never
// changes), while a branch, or a commit the mirror lacks, is fetched
// first. The proof is a token revoked at the git host: what still
// succeeds did not fetch.
func TestArchiveOfACommitSkipsTheFetch(t *testing.T) {
	w := newGitWorld(t)
	w.repo("acme/api", map[string]string{"Dockerfile": "FROM scratch\n"})
	tok := canary("ghp_")
	w.token(tok, "acme/api")
	h := startWithGit(t, w)
	h.mustCLI(tok, "token", "add", "api-tok", "--provider", "github", "--url", w.base, "--prefix", w.base+"/acme/")
	h.mustCLI("", "app", "create", "api", "--repo", w.base+"/acme/api")
	first := w.gs.Head("acme/api", "main")
	out := filepath.Join(t.TempDir(), "ctx.tar.gz")
	archive := func(ref string) (int, string) {
		t.Helper()
		_ = os.Remove(out)
		return h.cli("", "app", "archive", "api", "-o", out, "--ref", ref)
	}
	files := func() map[string]string {
		t.Helper()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return readTarGz(t, b)
	}
	mirrorHead := func() string {
		t.Helper()
		des, err := os.ReadDir(filepath.Join(h.cfg.DataDir, "mirrors"))
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			if strings.HasSuffix(de.Name(), ".git") {
				return gitOut(t, filepath.Join(h.cfg.DataDir, "mirrors", de.Name()), "rev-parse", "main")
			}
		}
		t.Fatal("no mirror")
		return ""
	}

	// The first archive clones the mirror.
	if code, msg := archive("main"); code != 0 || !strings.Contains(msg, first) {
		t.Fatalf("archive main: exit %d\n%s", code, msg)
	}
	// A push the mirror has not seen: the old commit is served as it
	// is, without fetching; the new one is fetched.
	second := w.gs.Commit("acme/api", map[string]string{"Dockerfile": "FROM alpine\n"}, "second")
	if code, msg := archive(first); code != 0 || files()["Dockerfile"] != "FROM scratch\n" {
		t.Fatalf("archive %s: exit %d\n%s", first, code, msg)
	}
	if got := mirrorHead(); got != first {
		t.Errorf("archiving a commit the mirror held fetched (main at %s)", got)
	}
	if code, msg := archive(second); code != 0 || files()["Dockerfile"] != "FROM alpine\n" {
		t.Fatalf("archive %s: exit %d\n%s", second, code, msg)
	}
	if got := mirrorHead(); got != second {
		t.Errorf("archiving a commit the mirror lacked did not fetch (main at %s)", got)
	}

	// The git host now refuses the token: only what needs no fetch works.
	w.gs.Revoke(tok)
	for _, sha := range []string{first, second} {
		if code, msg := archive(sha); code != 0 {
			t.Errorf("archive %s from the mirror: exit %d\n%s", sha, code, msg)
		}
	}
	third := w.gs.Commit("acme/api", map[string]string{"Dockerfile": "FROM debian\n"}, "third")
	for _, ref := range []string{"main", third, strings.ToUpper(second), second[:12]} {
		if code, msg := archive(ref); code == 0 {
			t.Errorf("archive %s did not fetch (it succeeded with a revoked token)\n%s", ref, msg)
		}
	}

	audit := h.mustCLI("", "audit", "list", "--limit", "200", "-o", "json")
	if !strings.Contains(audit, "at "+first+" ("+first+")") {
		t.Errorf("the archive served from the mirror is not audited")
	}
}
