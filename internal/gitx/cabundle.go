package gitx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
)

// A token for a self-hosted provider may carry a CA bundle (PEM, public):
// the provider's certificate chains to a private CA. Git gets it as
// http.<https://HOST/>.sslCAInfo through GIT_CONFIG_COUNT in the
// environment of its own process, so it applies to that host alone, for
// that run alone, never lands in a .git/config, and never weakens
// verification: git then trusts exactly the bundle for that host (curl's
// CA file replaces, rather than adds to, the default one).

// CertificateError is a git run that failed because git did not trust the
// server's TLS certificate.
type CertificateError struct {
	// Host is the server, host[:port].
	Host string
	// WithBundle says git was given a CA bundle for Host and still did
	// not trust it.
	WithBundle bool
	// Token names the token that serves the repository, when the caller
	// knows it, for the advice.
	Token string
	// Err is the *GitError, with git's own words.
	Err error
}

func (e *CertificateError) Error() string {
	tok, name := "the token that serves the repository", "TOKEN"
	if e.Token != "" {
		tok, name = "token "+e.Token, e.Token
	}
	if e.WithBundle {
		return fmt.Sprintf("git does not trust the TLS certificate of %s even with the CA bundle of %s: check that the bundle holds the CA that issued it (gitaccess token update %s --ca-file FILE): %v", e.Host, tok, name, e.Err)
	}
	return fmt.Sprintf("git does not trust the TLS certificate of %s: if a private CA issued it, give %s that CA's PEM bundle (gitaccess token update %s --ca-file FILE): %v", e.Host, tok, name, e.Err)
}

func (e *CertificateError) Unwrap() error { return e.Err }

// certError turns a git failure over an untrusted certificate into a
// *CertificateError naming the host; other errors pass unchanged.
func certError(err error, gitURL string, withBundle bool) error {
	var ce *CertificateError
	if err == nil || !errors.Is(err, ErrCertificate) || errors.As(err, &ce) {
		return err
	}
	host := urlHost(gitURL)
	// A submodule may live on another host: git names the URL it failed on.
	var ge *GitError
	if errors.As(err, &ge) {
		if m := unableToAccessRE.FindStringSubmatch(ge.Stderr); m != nil {
			if h := urlHost(m[1]); h != "" && h != host {
				host, withBundle = h, false
			}
		}
	}
	return &CertificateError{Host: host, WithBundle: withBundle, Err: err}
}

var unableToAccessRE = regexp.MustCompile(`unable to access '([^']+)'`)

func urlHost(gitURL string) string {
	u, err := url.Parse(gitURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// caConfig is the setting that makes git trust the CA file for the
// repository's host only: the URL ends at the host, so every repository
// (and submodule) on it matches and no other host does.
func caConfig(gitURL, file string) (Config, error) {
	u, err := url.Parse(gitURL)
	if err != nil || u.Host == "" {
		return Config{}, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	return Config{Key: "http." + u.Scheme + "://" + u.Host + "/.sslCAInfo", Value: file}, nil
}

// checkBundle refuses what is not a PEM certificate bundle before git gets
// to complain about it in its own words.
func checkBundle(pem []byte) error {
	if !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")) {
		return errors.New("CA bundle: no PEM certificate in it")
	}
	if bytes.IndexByte(pem, 0) >= 0 {
		return errors.New("CA bundle: not PEM text")
	}
	return nil
}

// caFileName is the content address of a bundle.
func caFileName(pem []byte) string {
	sum := sha256.Sum256(pem)
	return hex.EncodeToString(sum[:]) + ".pem"
}

// writeCAFile returns the path of a file under dir holding pem, named by
// its SHA-256, writing it when missing or not what its name says. Writers
// racing on one bundle each rename a complete file into place, so a
// reader never sees half of one, and all end up sharing it.
func writeCAFile(dir string, pem []byte) (string, error) {
	if err := checkBundle(pem); err != nil {
		return "", err
	}
	name := caFileName(pem)
	p := filepath.Join(dir, name)
	if b, err := os.ReadFile(p); err == nil && caFileName(b) == name {
		return p, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*.pem")
	if err != nil {
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // a no-op once renamed
	if _, err := f.Write(pem); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	// Public data: readable by whoever may read the directory.
	if err := os.Chmod(tmp, 0o644); err != nil {
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	return p, nil
}

// tempCAFile writes pem to a new temporary file for one git run; remove
// deletes it.
func tempCAFile(pem []byte) (path string, remove func(), err error) {
	if err := checkBundle(pem); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp("", "gitaccess-ca-*.pem")
	if err != nil {
		return "", nil, fmt.Errorf("CA bundle: %w", err)
	}
	remove = func() { _ = os.Remove(f.Name()) }
	if _, err := f.Write(pem); err != nil {
		_ = f.Close()
		remove()
		return "", nil, fmt.Errorf("CA bundle: %w", err)
	}
	if err := f.Close(); err != nil {
		remove()
		return "", nil, fmt.Errorf("CA bundle: %w", err)
	}
	return f.Name(), remove, nil
}
