package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotateWhileACloneIsInFlight rotates a token while a clone through
// the credential helper is midway through its pack: the clone finishes
// with the credential it resolved, and everything that starts after the
// switch (clones, mirror fetches for archives) uses the new value, even
// once the old one is revoked.
func TestRotateWhileACloneIsInFlight(t *testing.T) {
	w := newGitWorld(t)
	// Incompressible content, so the pack is larger than what HoldPack
	// lets through before it stops the transfer.
	blob := make([]byte, 600<<10)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	w.repo("acme/big", map[string]string{"Dockerfile": "FROM scratch\n", "blob.hex": hex.EncodeToString(blob)})
	w.repo("acme/other", map[string]string{"x": "y"})
	oldTok, newTok, partTok := canary("ghp_"), canary("ghp_"), canary("ghp_")
	w.token(oldTok, "acme/big", "acme/other")
	w.token(newTok, "acme/big", "acme/other")
	w.token(partTok, "acme/big")
	h := startWithGit(t, w)

	h.mustCLI(oldTok, "token", "add", "ci", "--provider", "github", "--url", w.base)
	h.mustCLI("", "app", "create", "big", "--repo", w.base+"/acme/big", "--token", "ci")
	h.mustCLI("", "app", "create", "other", "--repo", w.base+"/acme/other")
	work := t.TempDir()
	ctxFile := filepath.Join(work, "ctx.tar.gz")
	h.mustCLI("", "app", "archive", "big", "-o", ctxFile) // warms the mirror with the old value

	// A value that lacks acme/other is refused, and says so per application.
	code, out := h.cli(partTok, "token", "rotate", "ci")
	if code == 0 || !strings.Contains(out, "application other") || !strings.Contains(out, "Nothing was changed") || strings.Contains(out, "application big") {
		t.Fatalf("rotation to a value lacking acme/other: exit %d\n%s", code, out)
	}
	var before map[string]any
	if err := json.Unmarshal([]byte(h.mustCLI("", "token", "show", "ci", "-o", "json")), &before); err != nil {
		t.Fatal(err)
	}

	reached, release := w.gs.HoldPack("acme/big")
	bg := &harness{t: t, cfg: h.cfg, app: h.app, url: h.url, adminKey: h.adminKey, logs: h.logs, gitEnv: h.gitEnv}
	inFlight := filepath.Join(work, "in-flight")
	type result struct {
		code int
		out  string
	}
	done := make(chan result, 1)
	go func() {
		code, out := bg.cli("", "clone", "big", inFlight)
		done <- result{code, out}
	}()
	<-reached // the clone has its credential and is receiving the pack

	out = h.mustCLI(newTok, "token", "rotate", "ci")
	if !strings.Contains(out, "Rotated token ci") || !strings.Contains(out, "proven on 2 application(s)") {
		t.Errorf("rotate output:\n%s", out)
	}
	release()
	if r := <-done; r.code != 0 {
		t.Fatalf("the clone in flight failed across the rotation: exit %d\n%s", r.code, r.out)
	}
	if b, _ := os.ReadFile(filepath.Join(inFlight, "Dockerfile")); string(b) != "FROM scratch\n" {
		t.Errorf("in-flight clone content: %q", b)
	}

	// The old value dies; whatever starts now must use the new one.
	w.gs.Revoke(oldTok)
	w.gh.Revoke(oldTok)
	h.mustCLI("", "clone", "big", filepath.Join(work, "after"))
	w.gs.Commit("acme/big", map[string]string{"Dockerfile": "FROM busybox\n"}, "after the rotation")
	out = h.mustCLI("", "app", "archive", "big", "-o", ctxFile)
	if !strings.Contains(out, w.gs.Head("acme/big", "main")) {
		t.Errorf("the archive after the rotation is not of the new head (the mirror fetch did not use the new value?):\n%s", out)
	}
	var after map[string]any
	if err := json.Unmarshal([]byte(h.mustCLI("", "token", "show", "ci", "-o", "json")), &after); err != nil {
		t.Fatal(err)
	}
	if after["fingerprint"] == before["fingerprint"] || after["status"] != "valid" {
		t.Errorf("token after rotation: fingerprint %v (was %v), status %v", after["fingerprint"], before["fingerprint"], after["status"])
	}
	audit := h.mustCLI("", "audit", "list", "--limit", "200", "-o", "json")
	if !strings.Contains(audit, "token.rotate") || !strings.Contains(audit, before["fingerprint"].(string)+" -> "+after["fingerprint"].(string)) {
		t.Errorf("the rotation is not audited with both fingerprints")
	}
	noSecretIn(t, work, oldTok, newTok, partTok)
}

// TestDeleteTokenInUseThroughTheCLI: the impact first, a refusal without
// --reassign or --force, a reassign that is proven before anything moves.
func TestDeleteTokenInUseThroughTheCLI(t *testing.T) {
	w := newGitWorld(t)
	w.repo("acme/api", map[string]string{"x": "1"})
	w.repo("acme/web", map[string]string{"x": "2"})
	oldTok, partTok, fullTok := canary("ghp_"), canary("ghp_"), canary("ghp_")
	w.token(oldTok, "acme/api", "acme/web")
	w.token(partTok, "acme/api")
	w.token(fullTok, "acme/api", "acme/web")
	h := startWithGit(t, w)
	h.mustCLI(oldTok, "token", "add", "old", "--provider", "github", "--url", w.base, "--prefix", w.base+"/acme/")
	h.mustCLI(partTok, "token", "add", "part", "--provider", "github", "--url", w.base, "--prefix", w.base+"/part/")
	h.mustCLI(fullTok, "token", "add", "full", "--provider", "github", "--url", w.base, "--prefix", w.base+"/full/")
	h.mustCLI("", "app", "create", "api", "--repo", w.base+"/acme/api", "--token", "old")
	h.mustCLI("", "app", "create", "web", "--repo", w.base+"/acme/web")

	out := h.mustCLI("", "token", "show", "old")
	if !strings.Contains(out, "Applications:") || !strings.Contains(out, "api") || !strings.Contains(out, "explicit") || !strings.Contains(out, "prefix") {
		t.Errorf("token show does not list the applications it serves:\n%s", out)
	}
	code, out := h.cli("", "token", "delete", "old", "--yes")
	if code == 0 || !strings.Contains(out, "Token old is in use") || !strings.Contains(out, "--reassign") {
		t.Fatalf("deleting a token in use: exit %d\n%s", code, out)
	}
	code, out = h.cli("", "token", "delete", "old", "--yes", "--reassign", "part")
	if code == 0 || !strings.Contains(out, "application web") || !strings.Contains(out, "nothing was moved") {
		t.Fatalf("reassigning to a token that lacks acme/web: exit %d\n%s", code, out)
	}
	out = h.mustCLI("", "token", "delete", "old", "--yes", "--reassign", "full")
	if !strings.Contains(out, "Deleted token old.") || !strings.Contains(out, "now bound to token full") {
		t.Errorf("reassign output:\n%s", out)
	}
	for _, app := range []string{"api", "web"} {
		var v map[string]any
		_ = json.Unmarshal([]byte(h.mustCLI("", "app", "show", app, "-o", "json")), &v)
		if v["token"] != "full" || v["binding"] != "explicit" {
			t.Errorf("app %s after reassign: token %v binding %v", app, v["token"], v["binding"])
		}
	}
	// Clones now use the reassigned token.
	h.mustCLI("", "clone", "web", filepath.Join(t.TempDir(), "web"))

	out = h.mustCLI("", "token", "delete", "full", "--yes", "--force")
	if !strings.Contains(out, "now unbound: they resolve by URL prefix") {
		t.Errorf("forced delete output:\n%s", out)
	}
	var v map[string]any
	_ = json.Unmarshal([]byte(h.mustCLI("", "app", "show", "api", "-o", "json")), &v)
	if v["binding"] != "prefix" {
		t.Errorf("api after a forced delete: %v", v)
	}
}
