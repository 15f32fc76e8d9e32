package gitx_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// The service user's own git setup must not reach git: a global helper or
// URL rewrite would see or redirect tokens. Not parallel: it sets the
// process environment.
func TestRunnerIgnoresUserConfigAndEnvironment(t *testing.T) {
	home := t.TempDir()
	gitconfig := "[credential]\n\thelper = !leak\n[url \"https://evil.test/\"]\n\tinsteadOf = https://\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("GIT_CONFIG_PARAMETERS", "'credential.helper'='!leak'")
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "http.extraHeader")
	t.Setenv("GIT_CONFIG_VALUE_0", "X-Leak: 1")
	t.Setenv("GIT_ASKPASS", "/bin/false")
	t.Setenv("GIT_DIR", "/nonexistent")

	r, err := gitx.NewRunner(filepath.Join(t.TempDir(), "home"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The test runs inside a git checkout (this source tree); the Runner
	// must not discover that repository's config either.
	out, err := r.Output(context.Background(), "config", "", "config", "--list", "--show-origin")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "command line:") {
			t.Errorf("config from outside the Runner: %q", line)
		}
	}
	if !strings.Contains(out, "protocol.version=2") {
		t.Errorf("protocol v2 not forced:\n%s", out)
	}
	// GIT_ALLOW_PROTOCOL refuses anything but https, submodules included.
	err = r.Run(context.Background(), gitx.Cmd{Op: "ls-remote", Args: []string{"ls-remote", "ext::sh -c true"}})
	if err == nil || !strings.Contains(err.Error(), "transport 'ext' not allowed") {
		t.Errorf("ext transport: %v", err)
	}
}

func TestGitErrorMasksCredentials(t *testing.T) {
	t.Parallel()
	r, err := gitx.NewRunner(filepath.Join(t.TempDir(), "home"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := r.Output(context.Background(), "init", dir, "init", "--quiet"); err != nil {
		t.Fatal(err)
	}
	// git echoes an unknown ref; each is something a token could be.
	for _, tc := range []struct {
		arg, secret string
		scrub       []secret.Value
	}{
		{"tok-ABCDEF-123456", "tok-ABCDEF-123456", []secret.Value{secret.New("tok-ABCDEF-123456")}},
		{"https://user:hunter2-pass@git.example.test/x", "hunter2-pass", nil},
		{"password=hunter3-pass", "hunter3-pass", nil},
	} {
		var lines []string
		err := r.Run(context.Background(), gitx.Cmd{Op: "show-ref", Dir: dir, Args: []string{"show-ref", "--verify", "refs/heads/" + tc.arg}, Scrub: tc.scrub,
			Progress: func(l string) { lines = append(lines, l) }})
		var ge *gitx.GitError
		if !errors.As(err, &ge) || ge.ExitCode != 128 || ge.Op != "show-ref" {
			t.Fatalf("%s: %v", tc.arg, err)
		}
		if strings.Contains(err.Error(), tc.secret) || strings.Contains(ge.Stderr, tc.secret) || strings.Contains(strings.Join(lines, "\n"), tc.secret) {
			t.Errorf("secret shown: %v / %q", err, lines)
		}
		if !strings.Contains(ge.Stderr, "[REDACTED]") {
			t.Errorf("nothing masked: %q", ge.Stderr)
		}
	}
}
