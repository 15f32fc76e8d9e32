// Package login is where the gitaccess CLI and its git credential helper
// find their server and API key: the saved login (config.json in the
// user's config directory, or in GITACCESS_CONFIG_DIR), overridden by
// GITACCESS_SERVER and GITACCESS_API_KEY. It links only the standard
// library and small internal packages, so the credential helper, which
// git starts for every clone, can use it and start fast.
package login

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/gitaccess/gitaccess/internal/client/wire"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Environment variables.
const (
	EnvServer       = "GITACCESS_SERVER"
	EnvAPIKey       = "GITACCESS_API_KEY"
	EnvInsecureHTTP = "GITACCESS_ALLOW_INSECURE_HTTP"
	// EnvConfigDir names the directory holding config.json. gitaccess
	// clone sets it for the credential helper, which git runs with an
	// empty HOME.
	EnvConfigDir = "GITACCESS_CONFIG_DIR"
)

const maxFileBytes = 64 << 10

// ErrNotLoggedIn means there is neither a saved login nor one in the
// environment.
var ErrNotLoggedIn = errors.New("not logged in: run gitaccess login --server URL (or set " + EnvServer + " and " + EnvAPIKey + ")")

// Login is where to talk to and with which key.
type Login struct {
	Server            string
	APIKey            secret.Value
	AllowInsecureHTTP bool
}

// file is config.json. The key is stored in clear text, like gh's hosts
// file; the file's 0600 mode is its protection.
type file struct {
	Server            string `json:"server"`
	APIKey            string `json:"api_key"`
	AllowInsecureHTTP bool   `json:"allow_insecure_http,omitempty"`
}

// Marshal is l as config.json holds it. The bytes hold the key: clear
// them once written.
func Marshal(l Login) ([]byte, error) {
	b, err := json.MarshalIndent(file{Server: l.Server, APIKey: l.APIKey.Reveal(), AllowInsecureHTTP: l.AllowInsecureHTTP}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode login: %w", err)
	}
	return b, nil
}

// Source is where a login is looked for.
type Source struct {
	// Env looks up environment variables (os.Getenv).
	Env func(string) string
	// ConfigDir is the user's config directory (os.UserConfigDir); the
	// login is in its gitaccess directory unless GITACCESS_CONFIG_DIR
	// names another.
	ConfigDir func() (string, error)
	// Warn, when set, is told that the saved login is readable by others.
	Warn io.Writer
}

// Path is the saved login's file.
func (s Source) Path() (string, error) {
	if dir := s.Env(EnvConfigDir); dir != "" {
		return filepath.Join(dir, "config.json"), nil
	}
	dir, err := s.ConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory: %w", err)
	}
	return filepath.Join(dir, "gitaccess", "config.json"), nil
}

// Load reads the saved login; ok is false when there is none.
func (s Source) Load() (l Login, ok bool, err error) {
	path, err := s.Path()
	if err != nil {
		return Login{}, false, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Login{}, false, nil
	}
	if err != nil {
		return Login{}, false, fmt.Errorf("read login: %w", err)
	}
	defer func() { _ = f.Close() }()
	if fi, err := f.Stat(); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 && s.Warn != nil {
		_, _ = fmt.Fprintf(s.Warn, "warning: %s is readable by other users; run: chmod 600 %s\n", path, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes))
	if err != nil {
		return Login{}, false, fmt.Errorf("read login: %w", err)
	}
	var lf file
	if err := json.Unmarshal(b, &lf); err != nil {
		return Login{}, false, fmt.Errorf("%s is damaged (%w); run gitaccess login again", path, err)
	}
	clear(b)
	if lf.Server == "" || lf.APIKey == "" {
		return Login{}, false, nil
	}
	return Login{Server: lf.Server, APIKey: secret.New(lf.APIKey), AllowInsecureHTTP: lf.AllowInsecureHTTP}, true, nil
}

// Resolve merges the environment over the saved login. A saved key is
// only ever sent to the server it was saved for: pointing GITACCESS_SERVER
// elsewhere without GITACCESS_API_KEY is refused rather than leaking it.
func (s Source) Resolve() (Login, error) {
	saved, ok, err := s.Load()
	if err != nil {
		return Login{}, err
	}
	envSrv := s.Env(EnvServer)
	envKey := s.Env(EnvAPIKey)
	insecure, _ := strconv.ParseBool(s.Env(EnvInsecureHTTP))
	var l Login
	switch {
	case envSrv == "" && envKey == "":
		if !ok {
			return Login{}, ErrNotLoggedIn
		}
		l = saved
	case envSrv != "" && envKey != "":
		l = Login{Server: envSrv, APIKey: secret.New(envKey)}
	case envSrv != "":
		if !ok || !sameServer(envSrv, saved.Server) {
			return Login{}, fmt.Errorf("%s is set, but you have no saved login for that server: set %s too, or run gitaccess login --server URL", EnvServer, EnvAPIKey)
		}
		l = saved
	default:
		if !ok {
			return Login{}, fmt.Errorf("%s is set but no server is known: set %s, or run gitaccess login --server URL", EnvAPIKey, EnvServer)
		}
		l = Login{Server: saved.Server, APIKey: secret.New(envKey), AllowInsecureHTTP: saved.AllowInsecureHTTP}
	}
	l.AllowInsecureHTTP = l.AllowInsecureHTTP || insecure
	return l, nil
}

func sameServer(x, y string) bool {
	nx, err1 := wire.NormalizeServerURL(x, true)
	ny, err2 := wire.NormalizeServerURL(y, true)
	return err1 == nil && err2 == nil && nx == ny
}

// Connect returns a connection to l's server with l's key.
func (l Login) Connect(opts ...wire.Option) (*wire.Conn, error) {
	if l.AllowInsecureHTTP {
		opts = append(opts, wire.AllowInsecureHTTP())
	}
	c, err := wire.New(l.Server, l.APIKey, opts...)
	if errors.Is(err, wire.ErrInsecureHTTP) {
		return nil, fmt.Errorf("%w (on a trusted network, log in with --allow-insecure-http or set %s=1)", err, EnvInsecureHTTP)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
