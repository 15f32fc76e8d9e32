package gitx

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// Errors callers branch on; each comes wrapped with detail.
var (
	// ErrInvalidURL: not an https repository URL, or one carrying credentials.
	ErrInvalidURL = errors.New("invalid repository URL")
	// ErrInvalidRef: not a branch, tag or SHA name git would accept.
	ErrInvalidRef = errors.New("invalid ref")
	// ErrPathEscapes: an archive subdirectory outside the repository tree.
	ErrPathEscapes = errors.New("path escapes the repository tree")
	// ErrPathNotFound: an archive subdirectory that is not a directory at
	// that commit.
	ErrPathNotFound = errors.New("path not found")
	// ErrUnknownMirror: a path that is not a mirror of this cache, or one
	// evicted since it was fetched; Fetch again.
	ErrUnknownMirror = errors.New("unknown mirror")
)

// CredentialFunc supplies the credential for one fetch. It is called only
// when git is about to run; a nil func or an empty password means
// anonymous access.
type CredentialFunc func(ctx context.Context) (username string, password secret.Value, err error)

// FetchOptions is what one fetch needs from the token that serves the
// repository.
type FetchOptions struct {
	// Credential supplies the basic-auth pair (see CredentialFunc).
	Credential CredentialFunc
	// CABundle is the token's CA bundle (PEM), for a provider whose
	// certificate chains to a private CA; nil means the system roots.
	// Git trusts it for the repository's host only.
	CABundle []byte
}

// caDirName is the directory of the cache holding CA bundles git is
// pointed at, each named by its SHA-256.
const caDirName = "ca-bundles"

// Mirrors is a cache of bare mirror repositories in one directory, one per
// repository, so archives are served from local disk and each fetch moves
// only what changed.
//
// The cache is keyed by URL alone: whoever may call Fetch for a URL reads
// what any earlier caller's credential fetched. Authorize before calling.
// One process owns a directory at a time.
type Mirrors struct {
	dir      string
	maxBytes int64
	runner   *Runner
	logger   *slog.Logger

	mu      sync.Mutex
	entries map[string]*mirror // by directory name
	tick    uint64             // LRU clock
}

type mirror struct {
	name    string
	size    int64
	present bool   // the directory exists
	used    uint64 // tick of the last use
	pins    int    // operations under way; a pinned mirror is never evicted
	fetch   *fetchCall
	// suspect is set when reading the mirror hit signs of corruption, so
	// the next fetch checks it with fsck.
	suspect bool
}

// fetchCall is one fetch shared by every concurrent caller for a mirror.
// It runs under its own context, cancelled only when every caller has
// given up, so one impatient caller does not fail the others.
type fetchCall struct {
	done      chan struct{}
	err       error
	waiters   int
	abandoned bool
	cancel    context.CancelFunc
}

var mirrorNameRE = regexp.MustCompile(`^[0-9a-f]{64}\.git$`)

// NewMirrors opens (creating) the cache in dir. maxBytes bounds the total
// size on disk (zero or less: unbounded); least recently used mirrors go
// first. Mirrors left by an earlier process are adopted, debris of
// interrupted clones and evictions removed.
func NewMirrors(dir string, maxBytes int64, runner *Runner, logger *slog.Logger) (*Mirrors, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mirror cache: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("mirror cache: %w", err)
	}
	m := &Mirrors{dir: abs, maxBytes: maxBytes, runner: runner, logger: logger, entries: map[string]*mirror{}}
	des, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("mirror cache: %w", err)
	}
	type found struct {
		e     *mirror
		mtime int64
	}
	var existing []found
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-") || strings.HasPrefix(name, ".trash-"):
			if err := os.RemoveAll(filepath.Join(abs, name)); err != nil {
				logger.Warn("mirror cache: cannot remove debris", "path", filepath.Join(abs, name), "err", err)
			}
		case de.IsDir() && mirrorNameRE.MatchString(name):
			info, err := de.Info()
			if err != nil {
				continue
			}
			size, err := dirSize(filepath.Join(abs, name))
			if err != nil {
				return nil, fmt.Errorf("mirror cache: %w", err)
			}
			existing = append(existing, found{&mirror{name: name, size: size, present: true}, info.ModTime().UnixNano()})
		}
	}
	if debris, err := filepath.Glob(filepath.Join(abs, caDirName, ".tmp-*")); err == nil {
		for _, d := range debris {
			_ = os.Remove(d)
		}
	}
	slices.SortFunc(existing, func(a, b found) int { return cmp.Compare(a.mtime, b.mtime) })
	for _, f := range existing {
		m.tick++
		f.e.used = m.tick
		m.entries[f.e.name] = f.e
	}
	return m, nil
}

// NormalizeURL checks that raw is an https repository URL without
// credentials, query or dot segments, and returns the URL git should use
// and the cache key (host lower-cased, default port, trailing slash and
// ".git" dropped, so spellings of one repository share a mirror).
func NormalizeURL(raw string) (gitURL, key string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error repeats the input, which may hold a token.
		return "", "", fmt.Errorf("%w: cannot parse", ErrInvalidURL)
	}
	switch {
	case u.User != nil:
		return "", "", fmt.Errorf("%w: credentials in a URL are refused", ErrInvalidURL)
	case u.Scheme != "https":
		return "", "", fmt.Errorf("%w: only https URLs are supported", ErrInvalidURL)
	case u.Host == "" || u.Opaque != "":
		return "", "", fmt.Errorf("%w: no host", ErrInvalidURL)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", "", fmt.Errorf("%w: query or fragment", ErrInvalidURL)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Host, ":443"))
	p := strings.TrimRight(u.EscapedPath(), "/")
	// Clean changes any path with empty, "." or ".." segments.
	if p == "" || path.Clean(p) != p {
		return "", "", fmt.Errorf("%w: bad repository path", ErrInvalidURL)
	}
	gitURL = "https://" + host + p
	return gitURL, "https://" + host + strings.TrimSuffix(p, ".git"), nil
}

func mirrorName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:]) + ".git"
}

func (m *Mirrors) path(name string) string { return filepath.Join(m.dir, name) }

// touch marks e as just used; callers hold m.mu.
func (m *Mirrors) touch(e *mirror) {
	m.tick++
	e.used = m.tick
}

// Fetch brings the mirror of repoURL up to date, cloning it on first use,
// and returns its path. Concurrent calls for one repository share a single
// git run. A mirror found damaged is deleted and cloned again, once.
//
// The credential reaches git only through --config-env as an
// Authorization header scoped to repoURL, in the environment of the git
// process alone: never in argv, a URL or the mirror's config. A CA bundle
// is written once under the cache (named by its SHA-256, shared by every
// fetch that needs it) and reaches git the same way, as the sslCAInfo of
// the repository's host. Concurrent callers share the first caller's
// options.
func (m *Mirrors) Fetch(ctx context.Context, repoURL string, o FetchOptions) (string, error) {
	gitURL, key, err := NormalizeURL(repoURL)
	if err != nil {
		return "", err
	}
	name := mirrorName(key)
	m.mu.Lock()
	e := m.entries[name]
	if e == nil {
		e = &mirror{name: name}
		m.entries[name] = e
	}
	e.pins++
	m.touch(e)
	m.mu.Unlock()
	defer m.release(e)

	for {
		m.mu.Lock()
		call := e.fetch
		if call != nil && call.abandoned {
			// Its callers all left; let it die before starting afresh.
			m.mu.Unlock()
			select {
			case <-call.done:
				continue
			case <-ctx.Done():
				return "", fmt.Errorf("fetch %s: %w", gitURL, context.Cause(ctx))
			}
		}
		if call == nil {
			fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			call = &fetchCall{done: make(chan struct{}), cancel: cancel}
			e.fetch = call
			go m.runFetch(fctx, e, call, gitURL, o)
		}
		call.waiters++
		m.mu.Unlock()

		select {
		case <-call.done:
			if call.err != nil {
				return "", call.err
			}
			m.evict()
			return m.path(name), nil
		case <-ctx.Done():
			m.mu.Lock()
			call.waiters--
			if call.waiters == 0 {
				call.abandoned = true
				call.cancel()
			}
			m.mu.Unlock()
			return "", fmt.Errorf("fetch %s: %w", gitURL, context.Cause(ctx))
		}
	}
}

// Lookup returns the path of the mirror of repoURL when the cache holds
// one that has commit sha (a full SHA), without fetching: a commit never
// changes, so a caller that needs one by its SHA need not bring the mirror
// up to date first. ok is false when there is no mirror yet (or only one
// being cloned), when it lacks the commit, or when the last read found it
// damaged (the next Fetch checks it): Fetch then. A mirror evicted after
// Lookup answers ErrUnknownMirror.
func (m *Mirrors) Lookup(ctx context.Context, repoURL, sha string) (path string, ok bool) {
	_, key, err := NormalizeURL(repoURL)
	if err != nil || !fullSHARE.MatchString(sha) {
		return "", false
	}
	name := mirrorName(key)
	m.mu.Lock()
	e := m.entries[name]
	if e == nil || !e.present || e.suspect {
		m.mu.Unlock()
		return "", false
	}
	e.pins++
	m.touch(e)
	m.mu.Unlock()
	defer m.release(e)
	p := m.path(name)
	var stderr bytes.Buffer
	err = m.runner.Run(ctx, Cmd{Op: "cat-file", Dir: p, Args: []string{"cat-file", "-e", sha + "^{commit}"}, Stderr: &stderr})
	if isCorrupt(stderr.String()) {
		m.setSuspect(e, true)
		return "", false
	}
	return p, err == nil
}

func (m *Mirrors) runFetch(ctx context.Context, e *mirror, call *fetchCall, gitURL string, o FetchOptions) {
	defer call.cancel()
	err := certError(m.update(ctx, e, gitURL, o), gitURL, len(o.CABundle) > 0)
	p := m.path(e.name)
	_, statErr := os.Stat(p)
	size, sizeErr := dirSize(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	e.present = statErr == nil
	if sizeErr == nil {
		e.size = size
	}
	if err != nil {
		call.err = fmt.Errorf("mirror %s: %w", gitURL, err)
	}
	e.fetch = nil
	close(call.done)
}

// Network trouble says nothing about the mirror, so it does not trigger fsck.
var netSigns = []string{"could not resolve", "failed to connect", "connection", "timed out", "ssl", "tls", "certificate", "returned error: 5", "early eof", "rpc failed"}

// gitAuth is what a fetch hands git: the credential (secret) and any
// other per-run settings.
type gitAuth struct {
	secret []SecretConfig
	scrub  []secret.Value
	config []Config
}

func (m *Mirrors) update(ctx context.Context, e *mirror, gitURL string, o FetchOptions) error {
	p := m.path(e.name)
	var auth gitAuth
	var err error
	auth.secret, auth.scrub, err = authConfig(ctx, gitURL, o.Credential)
	if err != nil {
		return err
	}
	if len(o.CABundle) > 0 {
		file, err := writeCAFile(filepath.Join(m.dir, caDirName), o.CABundle)
		if err != nil {
			return err
		}
		c, err := caConfig(gitURL, file)
		if err != nil {
			return err
		}
		auth.config = append(auth.config, c)
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return m.clone(ctx, gitURL, p, auth)
	}
	m.mu.Lock()
	suspect := e.suspect
	m.mu.Unlock()

	var stderr bytes.Buffer
	err = m.runner.Run(ctx, Cmd{
		Op:  "fetch",
		Dir: p,
		// An explicit URL, not the remote's, so the header's URL scope
		// matches whichever spelling of the repository the caller used.
		Args:         []string{"-c", "gc.autoDetach=false", "fetch", "--prune", "--no-write-fetch-head", "--quiet", "--", gitURL, "+refs/*:refs/*"},
		Config:       auth.config,
		SecretConfig: auth.secret,
		Scrub:        auth.scrub,
		Stderr:       &stderr,
	})
	var reason string
	switch {
	case ctx.Err() != nil:
		return err
	case err == nil && isCorrupt(stderr.String()):
		reason = "fetch reported a damaged object store"
	case err == nil && !suspect:
		return nil
	case errors.Is(err, ErrCorrupt):
		reason = "fetch failed on a damaged object store"
	case errors.Is(err, ErrAuthFailed), errors.Is(err, ErrAccessDenied), errors.Is(err, ErrRepoNotFound):
		return err
	case err != nil && containsAny(strings.ToLower(stderr.String()), netSigns):
		return err
	}
	if reason == "" {
		ferr := m.fsck(ctx, p)
		if ferr == nil {
			m.setSuspect(e, false)
			return err
		}
		if ctx.Err() != nil {
			return ferr
		}
		reason = "fsck: " + ferr.Error()
	}
	m.logger.Warn("mirror damaged; cloning it again", "url", gitURL, "mirror", e.name, "reason", reason)
	if err := m.discard(p); err != nil {
		return err
	}
	if err := m.clone(ctx, gitURL, p, auth); err != nil {
		return err
	}
	m.setSuspect(e, false)
	return nil
}

func containsAny(s string, subs []string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
}

// authConfig turns the credential into an Authorization header that git
// takes through --config-env, scoped by URL so git sends it nowhere else.
func authConfig(ctx context.Context, gitURL string, cred CredentialFunc) ([]SecretConfig, []secret.Value, error) {
	if cred == nil {
		return nil, nil, nil
	}
	user, pass, err := cred(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("credential: %w", err)
	}
	if pass.IsZero() {
		return nil, nil, nil
	}
	if strings.ContainsAny(user, ":\r\n\x00") {
		return nil, nil, fmt.Errorf("credential: username has a character basic auth cannot carry")
	}
	b64 := secret.New(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass.Reveal())))
	header := secret.New("Authorization: Basic " + b64.Reveal())
	return []SecretConfig{{Key: "http." + gitURL + ".extraHeader", Value: header}}, []secret.Value{pass, b64}, nil
}

// clone makes a mirror beside its final place and renames it in, so a
// half-made clone is never taken for a mirror.
func (m *Mirrors) clone(ctx context.Context, gitURL, dst string, auth gitAuth) error {
	tmp, err := os.MkdirTemp(m.dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if err := m.runner.Run(ctx, Cmd{
		Op:           "clone",
		Args:         []string{"clone", "--mirror", "--quiet", "--", gitURL, tmp},
		Config:       auth.config,
		SecretConfig: auth.secret,
		Scrub:        auth.scrub,
	}); err != nil {
		return err
	}
	secrets := slices.Clone(auth.scrub)
	for _, a := range auth.secret {
		secrets = append(secrets, a.Value)
	}
	if err := checkConfig(filepath.Join(tmp, "config"), secrets); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	return nil
}

func (m *Mirrors) fsck(ctx context.Context, p string) error {
	var stderr bytes.Buffer
	err := m.runner.Run(ctx, Cmd{Op: "fsck", Dir: p, Args: []string{"fsck", "--connectivity-only", "--no-dangling", "--no-progress"}, Stderr: &stderr})
	if err == nil && isCorrupt(stderr.String()) {
		err = &GitError{Op: "fsck", Stderr: stderr.String()}
	}
	return err
}

// discard moves a mirror out of the way at once (a rename) and deletes it.
func (m *Mirrors) discard(p string) error {
	trash := filepath.Join(m.dir, ".trash-"+rand.Text())
	if err := os.Rename(p, trash); err != nil {
		return fmt.Errorf("discard mirror: %w", err)
	}
	if err := os.RemoveAll(trash); err != nil {
		m.logger.Warn("mirror cache: cannot remove", "path", trash, "err", err)
	}
	return nil
}

func (m *Mirrors) setSuspect(e *mirror, v bool) {
	m.mu.Lock()
	e.suspect = v
	m.mu.Unlock()
}

func (m *Mirrors) release(e *mirror) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.pins--
	if e.pins == 0 && e.fetch == nil && !e.present && m.entries[e.name] == e {
		delete(m.entries, e.name)
	}
}

// evict removes least recently used mirrors until the cache fits, skipping
// those in use.
func (m *Mirrors) evict() {
	if m.maxBytes <= 0 {
		return
	}
	m.mu.Lock()
	var total int64
	for _, e := range m.entries {
		total += e.size
	}
	var trash []string
	for total > m.maxBytes {
		var victim *mirror
		for _, e := range m.entries {
			if e.pins == 0 && e.fetch == nil && e.present && (victim == nil || e.used < victim.used) {
				victim = e
			}
		}
		if victim == nil {
			break
		}
		delete(m.entries, victim.name)
		total -= victim.size
		t := filepath.Join(m.dir, ".trash-"+rand.Text())
		if err := os.Rename(m.path(victim.name), t); err != nil {
			m.logger.Warn("mirror cache: cannot evict", "mirror", victim.name, "err", err)
			continue
		}
		trash = append(trash, t)
		m.logger.Info("mirror evicted", "mirror", victim.name, "bytes", victim.size)
	}
	m.mu.Unlock()
	for _, t := range trash {
		if err := os.RemoveAll(t); err != nil {
			m.logger.Warn("mirror cache: cannot remove", "path", t, "err", err)
		}
	}
}

// Usage is the total size of the cached mirrors as last measured.
func (m *Mirrors) Usage() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var total int64
	for _, e := range m.entries {
		total += e.size
	}
	return total
}

// acquire pins the mirror at p for the duration of a read.
func (m *Mirrors) acquire(p string) (*mirror, error) {
	name := filepath.Base(p)
	if filepath.Clean(p) != m.path(name) || !mirrorNameRE.MatchString(name) {
		return nil, fmt.Errorf("%w: %s is not in the cache", ErrUnknownMirror, p)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[name]
	if e == nil || !e.present {
		return nil, fmt.Errorf("%w: %s (evicted?)", ErrUnknownMirror, name)
	}
	e.pins++
	m.touch(e)
	return e, nil
}

// ResolveRef resolves a branch, tag, full or abbreviated SHA, or "" (the
// default branch) to a full commit SHA.
func (m *Mirrors) ResolveRef(ctx context.Context, p, ref string) (string, error) {
	e, err := m.acquire(p)
	if err != nil {
		return "", err
	}
	defer m.release(e)
	if ref == "" {
		ref = "HEAD"
	}
	if err := validRef(ref); err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	err = m.runner.Run(ctx, Cmd{Op: "rev-parse", Dir: p, Args: []string{"rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}"}, Stdout: &stdout, Stderr: &stderr})
	if isCorrupt(stderr.String()) {
		m.setSuspect(e, true)
	}
	var ge *GitError
	if errors.As(err, &ge) && ge.ExitCode == 1 && !isCorrupt(ge.Stderr) {
		// The name may resolve to an object that is missing: damage,
		// not an unknown ref. A full SHA resolves to itself whether or
		// not the mirror has it, which says nothing of damage.
		if oid, err2 := m.runner.Output(ctx, "rev-parse", p, "rev-parse", "--verify", "--quiet", "--end-of-options", ref); err2 == nil && oid != "" && oid != ref {
			if err3 := m.runner.Run(ctx, Cmd{Op: "cat-file", Dir: p, Args: []string{"cat-file", "-e", oid}}); err3 != nil && ctx.Err() == nil {
				m.setSuspect(e, true)
				return "", fmt.Errorf("resolve %s: %w: %s points at a missing object", ref, ErrCorrupt, ref)
			}
		}
		return "", fmt.Errorf("resolve %s: %w", ref, ErrRefNotFound)
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			m.setSuspect(e, true)
		}
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	return strings.TrimSpace(stdout.String()), nil
}

var fullSHARE = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// validRef accepts what git check-ref-format would (hex SHAs included) and
// nothing git could read as an option or a revision expression.
func validRef(ref string) error {
	bad := len(ref) > 1024 || strings.HasPrefix(ref, "-") || strings.HasPrefix(ref, "/") ||
		strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.Contains(ref, "//") || ref == "@" ||
		strings.ContainsFunc(ref, func(r rune) bool { return r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) })
	if bad {
		return fmt.Errorf("%w: %q", ErrInvalidRef, ref)
	}
	return nil
}

// CleanSubdir checks an archive subdirectory and returns it cleaned ("."
// for the whole tree). Absolute paths and paths leaving the tree are
// refused rather than clamped, since they are never what a caller meant.
func CleanSubdir(subdir string) (string, error) {
	if subdir == "" {
		return ".", nil
	}
	if strings.ContainsFunc(subdir, func(r rune) bool { return r < 0x20 || r == 0x7f }) || strings.HasPrefix(subdir, "/") || strings.Contains(subdir, `\`) {
		return "", fmt.Errorf("%w: %q", ErrPathEscapes, subdir)
	}
	c := path.Clean(subdir)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %q", ErrPathEscapes, subdir)
	}
	return c, nil
}

// Archive writes a gzipped tar of the tree at commit sha (a full SHA, as
// ResolveRef returns), or of its subdir with paths relative to subdir.
// Entries carry the commit's time, except under a subdir, where git
// stamps the current time.
func (m *Mirrors) Archive(ctx context.Context, p, sha, subdir string, w io.Writer) error {
	e, err := m.acquire(p)
	if err != nil {
		return err
	}
	defer m.release(e)
	if !fullSHARE.MatchString(sha) {
		return fmt.Errorf("%w: archive needs a full commit SHA, got %q", ErrInvalidRef, sha)
	}
	sub, err := CleanSubdir(subdir)
	if err != nil {
		return err
	}
	treeish := sha
	if sub != "." {
		treeish = sha + ":" + sub
		var stderr bytes.Buffer
		var out bytes.Buffer
		err := m.runner.Run(ctx, Cmd{Op: "cat-file", Dir: p, Args: []string{"cat-file", "-t", treeish}, Stdout: &out, Stderr: &stderr})
		if isCorrupt(stderr.String()) {
			m.setSuspect(e, true)
			return fmt.Errorf("archive %s: %w", sub, err)
		}
		if err != nil || strings.TrimSpace(out.String()) != "tree" {
			return fmt.Errorf("archive: %w: %s is not a directory at %s", ErrPathNotFound, sub, sha)
		}
	}
	var stderr bytes.Buffer
	err = m.runner.Run(ctx, Cmd{Op: "archive", Dir: p, Args: []string{"archive", "--format=tar.gz", treeish}, Stdout: w, Stderr: &stderr})
	if isCorrupt(stderr.String()) {
		m.setSuspect(e, true)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("archive: %w: %w", ErrCorrupt, err)
		}
	}
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// dirSize is the total size of the files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total, err
}

// checkConfig fails when a git config file holds anything credential-like:
// one of the given secrets, a URL with a password, or an extra header.
func checkConfig(file string, secrets []secret.Value) error {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", file, err)
	}
	s := string(b)
	leak := passwordURLRE.MatchString(s) || strings.Contains(strings.ToLower(s), "extraheader")
	for _, v := range secrets {
		if v.Len() >= 4 && strings.Contains(s, v.Reveal()) {
			leak = true
		}
	}
	if leak {
		return fmt.Errorf("%s holds a credential; refusing the clone", file)
	}
	return nil
}

var passwordURLRE = regexp.MustCompile(`://[^/@\s]*:[^/@\s]*@`)
