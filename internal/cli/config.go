package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/login"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// The environment the CLI and its credential helper read (package login).
const (
	envServer       = login.EnvServer
	envAPIKey       = login.EnvAPIKey
	envInsecureHTTP = login.EnvInsecureHTTP
	envConfigDir    = login.EnvConfigDir
)

// loginSource is where this invocation finds its login.
func (a *app) loginSource() login.Source {
	return login.Source{Env: a.opts.Env, ConfigDir: a.opts.ConfigDir, Warn: a.opts.Stderr}
}

func (a *app) configPath() (string, error) { return a.loginSource().Path() }

// saveLogin writes config.json with mode 0600 in a 0700 directory, through a
// temporary file so a crash never leaves half a file.
func (a *app) saveLogin(l login.Login) (path string, err error) {
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
	b, err := login.Marshal(l)
	if err != nil {
		return "", err
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

// resolveLogin merges the environment over the saved login (see
// login.Source.Resolve).
func (a *app) resolveLogin() (login.Login, error) {
	l, err := a.loginSource().Resolve()
	if err != nil {
		return login.Login{}, err
	}
	a.remember(l.APIKey)
	return l, nil
}

// clientOptions are the API client options of this invocation.
func (a *app) clientOptions() []client.Option {
	opts := []client.Option{client.WithUserAgent("gitaccess-cli/" + a.opts.Version)}
	if a.opts.HTTPClient != nil {
		opts = append(opts, client.WithHTTPClient(a.opts.HTTPClient))
	}
	return opts
}

func (a *app) newClient(server string, key secret.Value, insecureHTTP bool) (*client.Client, error) {
	conn, err := login.Login{Server: server, APIKey: key, AllowInsecureHTTP: insecureHTTP}.Connect(a.clientOptions()...)
	if err != nil {
		return nil, err
	}
	return client.FromConn(conn), nil
}

// apiClient is the client for the resolved login.
func (a *app) apiClient() (*client.Client, error) {
	l, err := a.resolveLogin()
	if err != nil {
		return nil, err
	}
	return a.newClient(l.Server, l.APIKey, l.AllowInsecureHTTP)
}
