// Package gitx drives the git CLI for gitaccess: the mirror cache the
// server fetches into and archives from, clones for build workers, and the
// credential-helper protocol through which git asks gitaccess for a token.
//
// A token never reaches git through a URL, an argument or a config file:
// clones get it from a credential helper git runs itself, mirror fetches
// from an environment variable named by --config-env. Every git process
// runs with an environment built from scratch, so no user or system
// configuration, askpass program or trace setting can redirect a
// credential.
package gitx

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// Errors a *GitError matches with errors.Is, read from git's stderr, so
// callers can tell a refused token from a missing repository or a broken
// cache.
var (
	ErrAuthFailed   = errors.New("authentication failed")
	ErrAccessDenied = errors.New("access denied")
	ErrRepoNotFound = errors.New("repository not found")
	ErrRefNotFound  = errors.New("ref not found")
	ErrCorrupt      = errors.New("repository corrupt")
	// ErrCertificate: git did not trust the server's TLS certificate
	// (a private CA it was not given, or a wrong host name).
	ErrCertificate = errors.New("TLS certificate not trusted")
)

// GitError is a git command that exited non-zero.
type GitError struct {
	// Op names the operation ("clone", "fetch", "archive"...).
	Op       string
	ExitCode int
	// Stderr is git's diagnostic output (its last 64 KiB, progress lines
	// left out), with anything resembling a credential masked.
	Stderr string
}

func (e *GitError) Error() string {
	msg := "git " + e.Op + " failed"
	if k := e.kind(); k != nil {
		msg += ": " + k.Error()
	}
	msg += " (exit " + strconv.Itoa(e.ExitCode) + ")"
	if s := summarize(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// Is matches the Err* values by what git said.
func (e *GitError) Is(target error) bool {
	k := e.kind()
	return k != nil && k == target
}

func (e *GitError) kind() error { return classify(e.Stderr) }

// Signatures of git's stderr, lower-cased. Git's messages are stable
// because the Runner forces LC_ALL=C.
var (
	authSigns = []string{
		"authentication failed for", "could not read username", "could not read password",
		"terminal prompts disabled", "returned error: 401", "invalid username or", "http basic: access denied",
	}
	deniedSigns   = []string{"returned error: 403", "permission to ", "access denied"}
	notFoundSigns = []string{"repository not found", "could not be found", "returned error: 404", "does not appear to be a git repository"}
	refSigns      = []string{"remote branch ", "couldn't find remote ref", "unknown revision", "needed a single revision", "invalid reference"}
	corruptSigns  = []string{
		"is corrupt", "bad object", "missing blob", "missing tree", "missing commit", "missing tag",
		"broken link from", "does not match index", "unable to read", "cannot read", "invalid object",
		"inflate:", "unknown object type", "did not send all necessary objects", "object file",
		"bad packed object", "index file", "packfile", "not a git repository", "does not point to a valid object",
		"fatal: loose object", "failed to read object", "unable to unpack", "bad tree object",
	}
	certSigns = []string{
		"server certificate verification failed", "ssl certificate problem", "certificate verify failed",
		"unable to get local issuer certificate", "self signed certificate", "self-signed certificate",
		"no alternative certificate subject name matches", "ssl: certificate subject name",
	}
	repoNotFoundRE = regexp.MustCompile(`repository '[^']*' not found`)
)

func classify(stderr string) error {
	s := strings.ToLower(stderr)
	has := func(signs []string) bool {
		for _, sign := range signs {
			if strings.Contains(s, sign) {
				return true
			}
		}
		return false
	}
	switch {
	case has(certSigns):
		return ErrCertificate
	case has(authSigns):
		return ErrAuthFailed
	case has(deniedSigns):
		return ErrAccessDenied
	case has(notFoundSigns) || repoNotFoundRE.MatchString(s):
		return ErrRepoNotFound
	case isCorrupt(s):
		return ErrCorrupt
	case has(refSigns):
		return ErrRefNotFound
	}
	return nil
}

// isCorrupt reports git complaining about its own object store; such
// complaints can come with a zero exit (git survives a damaged pack when
// the objects are also elsewhere), so callers check stderr, not the code.
func isCorrupt(stderr string) bool {
	s := strings.ToLower(stderr)
	for _, sign := range corruptSigns {
		if strings.Contains(s, sign) {
			return true
		}
	}
	return false
}

// summarize keeps the last few lines of stderr, the ones that say why.
func summarize(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var keep []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "Cloning into") && (len(keep) == 0 || keep[len(keep)-1] != l) {
			keep = append(keep, l)
		}
	}
	if len(keep) > 4 {
		keep = keep[len(keep)-4:]
	}
	s := strings.Join(keep, "; ")
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}

// Runner runs git with an environment built from scratch: no system or
// global configuration (they could add credential helpers, askpass
// programs, URL rewrites or proxies that see tokens), no terminal prompts,
// an empty HOME, C locale, https transport only, and protocol v2.
type Runner struct {
	// Git is the git executable; empty means "git" from PATH.
	Git string
	// Env is added to every git process, e.g. GIT_SSL_CAINFO for a private
	// CA, or what a credential helper git runs needs to find its server.
	// Credentials never go here.
	Env []string
	// OnExec, when set, receives the argv of every git process started, so
	// tests and audits can prove no secret is in it.
	OnExec func(argv []string)

	home   string
	logger *slog.Logger
}

// NewRunner returns a Runner whose git processes get home as HOME and
// XDG_CONFIG_HOME. The directory is created and must stay empty: it exists
// so nothing of the service user's own git configuration applies.
func NewRunner(home string, logger *slog.Logger) (*Runner, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("git home: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{home: home, logger: logger}, nil
}

// inheritedEnv lists the only variables a git process takes from ours:
// what finding programs and reaching the network need. Everything GIT_* is
// dropped (GIT_DIR, GIT_CONFIG_PARAMETERS, GIT_ASKPASS, GIT_TRACE_CURL...).
var inheritedEnv = []string{
	"PATH", "TMPDIR", "TZ",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
}

// Config is one git configuration setting.
type Config struct{ Key, Value string }

// Cmd is one git invocation.
type Cmd struct {
	// Op names the operation in errors and logs.
	Op   string
	Dir  string
	Args []string
	// Config reaches git through GIT_CONFIG_COUNT/KEY/VALUE, which git
	// passes on to the git processes it starts (submodule clones
	// included), unlike "-c".
	Config []Config
	// SecretConfig maps a config key to a secret value. Each reaches git
	// via --config-env=key=VAR with the value in VAR in this process's
	// environment only, and is masked in errors.
	SecretConfig []SecretConfig
	// Scrub lists further secrets to mask in errors and progress lines.
	Scrub  []secret.Value
	Stdin  io.Reader
	Stdout io.Writer
	// Stderr, when set, also receives the (masked) stderr lines.
	Stderr io.Writer
	// Progress receives each stderr line (git ends progress updates with
	// "\r"; each becomes a line), masked.
	Progress func(line string)
}

// SecretConfig is a config setting whose value is a secret.
type SecretConfig struct {
	Key   string
	Value secret.Value
}

// killGrace is how long git has to clean up (remove a half-made clone,
// stop its children) after SIGTERM before it is killed.
const killGrace = 10 * time.Second

// stderrKeep bounds the stderr kept for an error.
const stderrKeep = 64 << 10

// Run runs git. A non-zero exit is a *GitError; a cancelled context is
// reported as the context's error.
func (r *Runner) Run(ctx context.Context, c Cmd) error {
	git := r.Git
	if git == "" {
		git = "git"
	}
	args := []string{"-c", "protocol.version=2"}
	env := r.baseEnv()
	scrub := append([]secret.Value(nil), c.Scrub...)
	for i, sc := range c.SecretConfig {
		if strings.ContainsAny(sc.Key, "=\n\x00") {
			return fmt.Errorf("git %s: bad config key %q", c.Op, sc.Key)
		}
		name := "GITACCESS_SECRET_" + strconv.Itoa(i)
		args = append(args, "--config-env="+sc.Key+"="+name)
		env = append(env, name+"="+sc.Value.Reveal())
		scrub = append(scrub, sc.Value)
	}
	args = append(args, c.Args...)
	if len(c.Config) > 0 {
		env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(c.Config)))
		for i, kv := range c.Config {
			env = append(env, "GIT_CONFIG_KEY_"+strconv.Itoa(i)+"="+kv.Key, "GIT_CONFIG_VALUE_"+strconv.Itoa(i)+"="+kv.Value)
		}
	}

	cmd := exec.CommandContext(ctx, git, args...)
	// Never the service's working directory: git would find and use a
	// repository around it.
	cmd.Dir = cmp.Or(c.Dir, r.home)
	cmd.Env = env
	cmd.Stdin = c.Stdin
	terminateGroup(cmd)
	cmd.WaitDelay = killGrace
	var stdout bytes.Buffer
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	} else {
		cmd.Stdout = &stdout
	}
	sw := &stderrWriter{scrub: scrub, progress: c.Progress, tee: c.Stderr}
	cmd.Stderr = sw
	if r.OnExec != nil {
		r.OnExec(append([]string{git}, args...))
	}

	start := time.Now()
	err := cmd.Run()
	sw.flush()
	r.logger.LogAttrs(ctx, slog.LevelDebug, "git", slog.String("op", c.Op), slog.String("dir", c.Dir),
		slog.String("args", scrubString(strings.Join(c.Args, " "), scrub)),
		slog.Duration("took", time.Since(start)), slog.Any("err", err))
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("git %s interrupted: %w", c.Op, context.Cause(ctx))
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() >= 0 {
		return &GitError{Op: c.Op, ExitCode: exitErr.ExitCode(), Stderr: sw.text()}
	}
	return fmt.Errorf("git %s: %w", c.Op, err)
}

// Output runs git and returns its stdout without the trailing newline.
func (r *Runner) Output(ctx context.Context, op, dir string, args ...string) (string, error) {
	var out bytes.Buffer
	err := r.Run(ctx, Cmd{Op: op, Dir: dir, Args: args, Stdout: &out})
	return strings.TrimRight(out.String(), "\n"), err
}

func (r *Runner) baseEnv() []string {
	env := make([]string, 0, 16+len(r.Env))
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env,
		"HOME="+r.home,
		"GIT_CEILING_DIRECTORIES="+r.home,
		"XDG_CONFIG_HOME="+r.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		// https only, submodules included: no ext:: commands, no local
		// paths, no plain http a helper could hand a token to.
		"GIT_ALLOW_PROTOCOL=https",
		"GCM_INTERACTIVE=never",
		"LC_ALL=C",
		"LANGUAGE=C",
	)
	return append(env, r.Env...)
}

// stderrWriter splits git's stderr into lines (on "\n" and on the "\r" of
// progress updates), masks secrets in each, hands them to the progress
// callback and keeps the tail for errors, leaving repeated progress
// updates out of it.
type stderrWriter struct {
	scrub    []secret.Value
	progress func(string)
	tee      io.Writer
	partial  []byte
	kept     []byte
}

func (w *stderrWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexAny(w.partial, "\r\n")
		if i < 0 {
			break
		}
		progress := w.partial[i] == '\r'
		w.line(string(w.partial[:i]), progress)
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > stderrKeep {
		w.line(string(w.partial), false)
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

func (w *stderrWriter) flush() {
	if len(w.partial) > 0 {
		w.line(string(w.partial), false)
		w.partial = nil
	}
}

func (w *stderrWriter) line(l string, progress bool) {
	if l == "" {
		return
	}
	l = scrubString(l, w.scrub)
	if w.progress != nil {
		w.progress(l)
	}
	if w.tee != nil {
		_, _ = io.WriteString(w.tee, l+"\n")
	}
	if progress {
		return
	}
	w.kept = append(w.kept, l...)
	w.kept = append(w.kept, '\n')
	if len(w.kept) > stderrKeep {
		w.kept = w.kept[len(w.kept)-stderrKeep:]
	}
}

func (w *stderrWriter) text() string { return string(w.kept) }

var (
	userinfoRE = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'"]+@`)
	authHdrRE  = regexp.MustCompile(`(?i)(authorization:\s*)[^\s'"]+(\s+[^\s'"]+)?`)
	passwordRE = regexp.MustCompile(`(?i)(password=)\S+`)
)

// scrubString masks the given secrets and anything shaped like a credential
// (URL userinfo, Authorization headers, password= attributes), in case
// git or a server echoes one.
func scrubString(s string, secrets []secret.Value) string {
	for _, v := range secrets {
		if v.Len() >= 4 { // shorter values would mask ordinary text
			s = v.Redact(s)
		}
	}
	s = userinfoRE.ReplaceAllString(s, "${1}[REDACTED]@")
	s = authHdrRE.ReplaceAllString(s, "${1}[REDACTED]")
	return passwordRE.ReplaceAllString(s, "${1}[REDACTED]")
}
