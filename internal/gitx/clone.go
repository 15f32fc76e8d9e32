package gitx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrDirNotEmpty means a clone's target directory already has content.
var ErrDirNotEmpty = errors.New("target directory exists and is not empty")

// CloneOptions describes a working-tree clone for a build.
type CloneOptions struct {
	URL string
	Dir string
	// Ref is a branch or tag, or a full commit SHA (not with Depth); empty
	// means the default branch.
	Ref   string
	Depth int
	// RecurseSubmodules clones submodules too, through the same helper.
	RecurseSubmodules bool
	// HelperCommand is the credential.helper value git runs to get a
	// token, such as HelperCommand("/usr/bin/gitaccess", "credential").
	// Empty means anonymous.
	HelperCommand string
	// CABundle is the PEM CA bundle of the token that serves the
	// repository, for a provider whose certificate chains to a private
	// CA; nil means the system roots. Git trusts it for the repository's
	// host only (submodules there included), through a temporary file
	// that is gone when Clone returns and is named in git's environment,
	// not in the clone's .git/config.
	CABundle []byte
	Progress func(line string)
}

// Clone clones into o.Dir through a credential helper that git runs
// itself, so no token passes through this process, argv or a URL; git
// asks the helper per repository path (credential.useHttpPath), so
// submodules on other repositories get their own tokens. The clone is made
// in a hidden sibling directory and renamed into place only once complete
// and checked for credentials, so a failed or interrupted clone leaves no
// Dir behind.
func (r *Runner) Clone(ctx context.Context, o CloneOptions) error {
	gitURL, _, err := NormalizeURL(o.URL)
	if err != nil {
		return err
	}
	if strings.ContainsAny(o.HelperCommand, "\r\n\x00") {
		return fmt.Errorf("clone: helper command has a newline or NUL")
	}
	if o.Depth < 0 {
		return fmt.Errorf("clone: negative depth")
	}
	sha := fullSHARE.MatchString(o.Ref)
	if o.Ref != "" {
		if err := validRef(o.Ref); err != nil {
			return fmt.Errorf("clone: %w", err)
		}
		if sha && o.Depth > 0 {
			return fmt.Errorf("clone: %w: a shallow clone needs a branch or tag, not a commit SHA", ErrInvalidRef)
		}
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	if err := checkTarget(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".clone-")
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	// Through the environment, not -c: git hands GIT_CONFIG_COUNT on to
	// the git processes that clone submodules. The empty helper first
	// clears any helper configured elsewhere.
	config := []Config{
		{"credential.helper", ""},
		{"credential.useHttpPath", "true"},
		{"protocol.version", "2"},
	}
	if o.HelperCommand != "" {
		config = append(config, Config{"credential.helper", o.HelperCommand})
	}
	if len(o.CABundle) > 0 {
		file, remove, err := tempCAFile(o.CABundle)
		if err != nil {
			return fmt.Errorf("clone: %w", err)
		}
		defer remove()
		c, err := caConfig(gitURL, file)
		if err != nil {
			return fmt.Errorf("clone: %w", err)
		}
		config = append(config, c)
	}
	withCA := len(o.CABundle) > 0
	args := []string{"clone"}
	if o.Progress != nil {
		args = append(args, "--progress")
	}
	if sha {
		args = append(args, "--no-checkout")
	} else {
		if o.Ref != "" {
			args = append(args, "--branch", o.Ref)
		}
		if o.RecurseSubmodules {
			args = append(args, "--recurse-submodules")
		}
	}
	if o.Depth > 0 {
		args = append(args, "--depth", strconv.Itoa(o.Depth))
	}
	args = append(args, "--", gitURL, tmp)
	if err := r.Run(ctx, Cmd{Op: "clone", Args: args, Config: config, Progress: o.Progress}); err != nil {
		return certError(err, gitURL, withCA)
	}
	if sha {
		if err := r.Run(ctx, Cmd{Op: "checkout", Dir: tmp, Args: []string{"checkout", "--quiet", "--detach", o.Ref, "--"}, Config: config, Progress: o.Progress}); err != nil {
			return err
		}
		if o.RecurseSubmodules {
			if err := r.Run(ctx, Cmd{Op: "submodule update", Dir: tmp, Args: []string{"submodule", "update", "--init", "--recursive"}, Config: config, Progress: o.Progress}); err != nil {
				return certError(err, gitURL, withCA)
			}
		}
	}
	if err := checkClone(tmp); err != nil {
		return err
	}
	// An empty Dir may exist (checkTarget allowed it); rename cannot
	// replace it everywhere, so remove it first.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clone: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	return nil
}

func checkTarget(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); !errors.Is(err, io.EOF) {
		return fmt.Errorf("clone into %s: %w", dir, ErrDirNotEmpty)
	}
	return nil
}

// checkClone fails when the clone's config, or a submodule's, holds a
// credential: a last guard against a helper or remote that put one there.
func checkClone(worktree string) error {
	gitDir := filepath.Join(worktree, ".git")
	if err := checkConfig(filepath.Join(gitDir, "config"), nil); err != nil {
		return err
	}
	return filepath.WalkDir(filepath.Join(gitDir, "modules"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() && d.Name() == "config" {
			return checkConfig(p, nil)
		}
		return nil
	})
}
