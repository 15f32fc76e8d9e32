package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/server"
)

// startTrustingNoGitCA is startWithGit for a provider whose certificate
// chains to a private CA: the server's API calls trust the test CA (as
// the token's bundle makes them do in production), but neither the
// server's git nor the CLI's git is told about it. Only a token's CA
// bundle can make git trust the provider.
func startTrustingNoGitCA(t *testing.T, w *gitWorld) *harness {
	t.Helper()
	policy := w.gs.Policy()
	logs := &forgetest.LogBuffer{}
	h := &harness{t: t, logs: logs}
	h.cfg = server.Config{DataDir: t.TempDir(), Logger: slogJSON(logs), Egress: &policy}
	app, err := server.Open(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.app = app
	h.url = newHTTPServer(t, app)
	key, err := os.ReadFile(filepath.Join(h.cfg.DataDir, server.AdminAPIKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	h.adminKey = strings.TrimSpace(string(key))
	return h
}

// TestCloneAndArchiveTrustTheTokensCABundle: a self-hosted provider behind a private
// CA. The token given the CA bundle (token add --ca-file) serves archives
// from the mirror and `gitaccess clone`; a token without one fails with a
// message naming the host and the fix, until it is given the bundle. The
// bundle never lands in a clone's .git/config, and the CLI's temporary
// copy is gone after the clone.
func TestCloneAndArchiveTrustTheTokensCABundle(t *testing.T) {
	w := newGitWorld(t)
	w.repo("acme/api", map[string]string{"Dockerfile": "FROM scratch\n"})
	w.repo("acme/lib", map[string]string{"lib.txt": "library\n"})
	apiTok, libTok := canary("ghp_"), canary("ghp_")
	w.token(apiTok, "acme/api")
	w.token(libTok, "acme/lib")
	h := startTrustingNoGitCA(t, w)
	work := t.TempDir()
	caFile := filepath.Join(work, "ca.pem")
	if err := os.WriteFile(caFile, w.gs.CA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the CLI's temporary CA file goes
	host := strings.TrimPrefix(w.base, "https://")

	h.mustCLI(apiTok, "token", "add", "ghe", "--provider", "github", "--url", w.base, "--ca-file", caFile, "--prefix", w.base+"/acme/api/")
	h.mustCLI(libTok, "token", "add", "plain", "--provider", "github", "--url", w.base, "--prefix", w.base+"/acme/lib/")
	h.mustCLI("", "app", "create", "api", "--repo", w.base+"/acme/api")
	h.mustCLI("", "app", "create", "lib", "--repo", w.base+"/acme/lib")

	// Archive: the mirror fetch trusts the bundle of the token serving it.
	out := filepath.Join(work, "api.tar.gz")
	if msg := h.mustCLI("", "app", "archive", "api", "-o", out); !strings.Contains(msg, w.gs.Head("acme/api", "main")) {
		t.Errorf("archive does not report the commit:\n%s", msg)
	}
	b, _ := os.ReadFile(out)
	if files := readTarGz(t, b); files["Dockerfile"] != "FROM scratch\n" {
		t.Errorf("archive = %v", files)
	}
	// Without a bundle: the certificate error, the host, the token and the fix.
	code, msg := h.cli("", "app", "archive", "lib", "-o", filepath.Join(work, "lib.tar.gz"))
	t.Logf("archive without the bundle: %s", msg)
	for _, want := range []string{host, "git does not trust its certificate", "give token plain", "gitaccess token update plain --ca-file FILE"} {
		if code == 0 || !strings.Contains(msg, want) {
			t.Errorf("archive through a token without the CA bundle: exit %d, no %q in\n%s", code, want, msg)
		}
	}

	// Clone on the user's machine, through the credential helper.
	api := filepath.Join(work, "api")
	h.mustCLI("", "clone", "api", api)
	if b, _ := os.ReadFile(filepath.Join(api, "Dockerfile")); string(b) != "FROM scratch\n" {
		t.Errorf("cloned Dockerfile = %q", b)
	}
	lib := filepath.Join(work, "lib")
	code, msg = h.cli("", "clone", w.base+"/acme/lib", lib)
	t.Logf("clone without the bundle: %s", msg)
	for _, want := range []string{"TLS certificate of " + host, "gitaccess token update plain --ca-file FILE"} {
		if code == 0 || !strings.Contains(msg, want) {
			t.Errorf("clone through a token without the CA bundle: exit %d, no %q in\n%s", code, want, msg)
		}
	}
	if _, err := os.Stat(lib); !os.IsNotExist(err) {
		t.Error("a failed clone left its directory")
	}

	// Given the bundle, the other token serves both too.
	h.mustCLI("", "token", "update", "plain", "--ca-file", caFile)
	h.mustCLI("", "app", "archive", "lib", "-o", filepath.Join(work, "lib.tar.gz"))
	h.mustCLI("", "clone", w.base+"/acme/lib", lib)
	if b, _ := os.ReadFile(filepath.Join(lib, "lib.txt")); string(b) != "library\n" {
		t.Errorf("cloned lib.txt = %q", b)
	}

	for _, dir := range []string{api, lib} {
		cfg, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.ToLower(string(cfg)); strings.Contains(s, "sslcainfo") || strings.Contains(s, "sslverify") || strings.Contains(s, "certificate") {
			t.Errorf("%s/.git/config configures TLS:\n%s", dir, cfg)
		}
	}
	noSecretIn(t, work, apiTok, libTok, h.adminKey)
	des, _ := os.ReadDir(tmp)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "gitaccess-ca-") {
			t.Errorf("the CLI left its temporary CA file %s", de.Name())
		}
	}
	// Both tokens carry the same bundle: the server keeps one copy.
	if cas, _ := filepath.Glob(filepath.Join(h.cfg.DataDir, "mirrors", "ca-bundles", "*.pem")); len(cas) != 1 {
		t.Errorf("server CA files = %v, want one", cas)
	}
}
