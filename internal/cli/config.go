package cli

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

	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	envServer       = "GITACCESS_SERVER"
	envAPIKey       = "GITACCESS_API_KEY"
	envInsecureHTTP = "GITACCESS_ALLOW_INSECURE_HTTP"
	// envConfigDir names the directory holding config.json. gitaccess
	// clone sets it for the credential helper, which git runs with an
	// empty HOME.
	envConfigDir   = "GITACCESS_CONFIG_DIR"
	maxConfigBytes = 64 << 10
)

var errNotLoggedIn = errors.New("not logged in: run gitaccess login --server URL (or set " + envServer + " and " + envAPIKey + ")")

// login is where the CLI talks to and with which key.
type login struct {
	Server            string
	APIKey            secret.Value
	AllowInsecureHTTP bool
}

// loginFile is config.json. The key is stored in clear text, like gh's
// hosts file; the file's 0600 mode is its protection.
type loginFile struct {
	Server            string `json:"server"`
	APIKey            string `json:"api_key"`
	AllowInsecureHTTP bool   `json:"allow_insecure_http,omitempty"`
}

func (a *app) configPath() (string, error) {
	if dir := a.opts.Env(envConfigDir); dir != "" {
		return filepath.Join(dir, "config.json"), nil
	}
	dir, err := a.opts.ConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory: %w", err)
	}
	return filepath.Join(dir, "gitaccess", "config.json"), nil
}

// loadLogin reads the saved login; ok is false when there is none.
func (a *app) loadLogin() (l login, ok bool, err error) {
	path, err := a.configPath()
	if err != nil {
		return login{}, false, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return login{}, false, nil
	}
	if err != nil {
		return login{}, false, fmt.Errorf("read login: %w", err)
	}
	defer func() { _ = f.Close() }()
	if fi, err := f.Stat(); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		_, _ = fmt.Fprintf(a.opts.Stderr, "warning: %s is readable by other users; run: chmod 600 %s\n", path, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes))
	if err != nil {
		return login{}, false, fmt.Errorf("read login: %w", err)
	}
	var lf loginFile
	if err := json.Unmarshal(b, &lf); err != nil {
		return login{}, false, fmt.Errorf("%s is damaged (%w); run gitaccess login again", path, err)
	}
	clear(b)
	if lf.Server == "" || lf.APIKey == "" {
		return login{}, false, nil
	}
	l = login{Server: lf.Server, APIKey: secret.New(lf.APIKey), AllowInsecureHTTP: lf.AllowInsecureHTTP}
	a.remember(l.APIKey)
	return l, true, nil
}

// saveLogin writes config.json with mode 0600 in a 0700 directory, through a
// temporary file so a crash never leaves half a file.
func (a *app) saveLogin(l login) (path string, err error) {
	path, err = a.configPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("restrict %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(loginFile{Server: l.Server, APIKey: l.APIKey.Reveal(), AllowInsecureHTTP: l.AllowInsecureHTTP}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode login: %w", err)
	}
	defer clear(b)
	if err := writeFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return "", fmt.Errorf("save login: %w", err)
	}
	return path, nil
}

// writeFileAtomic writes path (mode 0600) through a temporary file beside
// it, synced and renamed into place only once write succeeded, so a crash
// or a failed write never leaves half a file.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// removeLogin deletes config.json; existed is false when there was none.
func (a *app) removeLogin() (path string, existed bool, err error) {
	path, err = a.configPath()
	if err != nil {
		return "", false, err
	}
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, false, nil
	}
	if err != nil {
		return path, false, fmt.Errorf("remove login: %w", err)
	}
	return path, true, nil
}

// resolveLogin merges the environment over the saved login. A saved key is
// only ever sent to the server it was saved for: pointing GITACCESS_SERVER
// elsewhere without GITACCESS_API_KEY is refused rather than leaking it.
func (a *app) resolveLogin() (login, error) {
	saved, ok, err := a.loadLogin()
	if err != nil {
		return login{}, err
	}
	envSrv := a.opts.Env(envServer)
	envKey := a.opts.Env(envAPIKey)
	insecure, _ := strconv.ParseBool(a.opts.Env(envInsecureHTTP))
	var l login
	switch {
	case envSrv == "" && envKey == "":
		if !ok {
			return login{}, errNotLoggedIn
		}
		l = saved
	case envSrv != "" && envKey != "":
		l = login{Server: envSrv, APIKey: secret.New(envKey)}
		a.remember(l.APIKey)
	case envSrv != "":
		if !ok || !sameServer(envSrv, saved.Server) {
			return login{}, fmt.Errorf("%s is set, but you have no saved login for that server: set %s too, or run gitaccess login --server URL", envServer, envAPIKey)
		}
		l = saved
	default:
		if !ok {
			return login{}, fmt.Errorf("%s is set but no server is known: set %s, or run gitaccess login --server URL", envAPIKey, envServer)
		}
		l = login{Server: saved.Server, APIKey: secret.New(envKey), AllowInsecureHTTP: saved.AllowInsecureHTTP}
		a.remember(l.APIKey)
	}
	l.AllowInsecureHTTP = l.AllowInsecureHTTP || insecure
	return l, nil
}

func sameServer(x, y string) bool {
	nx, err1 := client.NormalizeServerURL(x, true)
	ny, err2 := client.NormalizeServerURL(y, true)
	return err1 == nil && err2 == nil && nx == ny
}

func (a *app) newClient(server string, key secret.Value, insecureHTTP bool) (*client.Client, error) {
	opts := []client.Option{client.WithUserAgent("gitaccess-cli/" + a.opts.Version)}
	if a.opts.HTTPClient != nil {
		opts = append(opts, client.WithHTTPClient(a.opts.HTTPClient))
	}
	if insecureHTTP {
		opts = append(opts, client.AllowInsecureHTTP())
	}
	c, err := client.New(server, key, opts...)
	if errors.Is(err, client.ErrInsecureHTTP) {
		return nil, fmt.Errorf("%w (on a trusted network, log in with --allow-insecure-http or set %s=1)", err, envInsecureHTTP)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// apiClient is the client for the resolved login.
func (a *app) apiClient() (*client.Client, error) {
	l, err := a.resolveLogin()
	if err != nil {
		return nil, err
	}
	return a.newClient(l.Server, l.APIKey, l.AllowInsecureHTTP)
}
