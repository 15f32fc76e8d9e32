package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// InsecureFileError means the keyring file can be read by users other than
// its owner. It is refused: whoever reads it can open every sealed value.
type InsecureFileError struct {
	Path string
	Mode fs.FileMode
}

func (e *InsecureFileError) Error() string {
	return fmt.Sprintf("secret: keyring file %s has mode %04o, open to group or others; run chmod 600 %s", e.Path, e.Mode.Perm(), e.Path)
}

// LoadOrCreateKeyringFile loads the keyring at path, or, when there is no
// file, generates one and writes it with mode 0600 (directory 0700). created
// tells the caller to announce loudly that a new master key exists and must
// be backed up. When two processes race to create it, both end up with the
// file's keyring: an existing file is never overwritten here.
func LoadOrCreateKeyringFile(path string) (k *Keyring, created bool, err error) {
	k, err = LoadKeyringFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = GenerateKeyring()
	if err != nil {
		return nil, false, err
	}
	err = k.writeFile(path, false)
	if errors.Is(err, fs.ErrExist) {
		k, err = LoadKeyringFile(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// LoadKeyringFile loads an existing keyring file and never creates one:
// rotation and reloads must fail, not start over with a key that opens
// nothing. A missing file gives an error wrapping fs.ErrNotExist.
func LoadKeyringFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secret: keyring file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: keyring file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: keyring file %s is not a regular file", path)
	}
	// Windows has no POSIX modes to check; there the ACLs protect the file.
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, &InsecureFileError{Path: path, Mode: st.Mode()}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyringSz+1))
	if err != nil {
		return nil, fmt.Errorf("secret: keyring file %s: %w", path, err)
	}
	if len(data) > maxKeyringSz {
		return nil, fmt.Errorf("secret: keyring file %s is larger than %d bytes", path, maxKeyringSz)
	}
	k, err := ParseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", path, err)
	}
	return k, nil
}

// WriteFile writes the keyring as a tink cleartext JSON keyset, mode 0600,
// replacing path atomically: a crash leaves the old keyring or the new one,
// never a torn file that would make every sealed value unreadable.
func (k *Keyring) WriteFile(path string) error {
	return k.writeFile(path, true)
}

func (k *Keyring) writeFile(path string, replace bool) (err error) {
	r, err := k.get()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(r.h, keyset.NewJSONWriter(&buf)); err != nil {
		return fmt.Errorf("secret: encode keyring: %w", err)
	}
	buf.WriteByte('\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secret: keyring directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secret: keyring file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			_ = tmp.Close()
		}
		_ = os.Remove(tmpName)
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("secret: keyring file: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("secret: write keyring file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("secret: write keyring file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secret: write keyring file: %w", err)
	}
	tmp = nil
	if replace {
		err = os.Rename(tmpName, path)
	} else {
		// A hard link publishes the complete file but, unlike rename, fails
		// when path exists, so a racing creator's keyring is never replaced.
		err = os.Link(tmpName, path)
	}
	if err != nil {
		return fmt.Errorf("secret: keyring file: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes the rename durable: losing it after values were re-wrapped
// under a new key would lose those values.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("secret: sync keyring directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("secret: sync keyring directory: %w", err)
	}
	return nil
}
