package keyring_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/secret/keyring"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestLoadOrCreateKeyringFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys")
	path := filepath.Join(dir, "master.json")

	k, created, err := keyring.LoadOrCreateKeyringFile(path)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v; want a new keyring", created, err)
	}
	if got := mode(t, path); got != 0o600 {
		t.Errorf("keyring file mode = %04o, want 0600", got)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("keyring directory mode = %04o, want 0700", got)
	}
	s := seal(t, k, canary, rowA)

	again, created, err := keyring.LoadOrCreateKeyringFile(path)
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v; want the existing keyring", created, err)
	}
	if v, err := again.Open(s, rowA); err != nil || v.Reveal() != canary {
		t.Errorf("the reloaded keyring does not open what the first sealed: %v", err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the keyring (no temp files left)", len(entries))
	}
}

func TestWriteFileAfterRotatePersistsAllKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.json")
	k, _, err := keyring.LoadOrCreateKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := seal(t, k, canary, rowA)
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, path); got != 0o600 {
		t.Errorf("rewritten keyring file mode = %04o, want 0600", got)
	}
	got, created, err := keyring.LoadOrCreateKeyringFile(path)
	if err != nil || created {
		t.Fatalf("reload: created=%v err=%v", created, err)
	}
	if diff := cmp.Diff(k.KeyIDs(), got.KeyIDs()); diff != "" {
		t.Errorf("KeyIDs after reload (-want +got):\n%s", diff)
	}
	if got.Primary() != k.Primary() {
		t.Errorf("Primary after reload = %d, want %d", got.Primary(), k.Primary())
	}
	if _, err := got.Open(old, rowA); err != nil {
		t.Errorf("reloaded keyring lost the pre-rotation key: %v", err)
	}
}

func TestKeyringFileReadableByOthersIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.json")
	k := newKeyring(t)
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	for _, m := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		_, _, err := keyring.LoadOrCreateKeyringFile(path)
		var insecure *keyring.InsecureFileError
		if !errors.As(err, &insecure) {
			t.Errorf("mode %04o: err = %v, want *InsecureFileError", m, err)
			continue
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: error %q does not tell the operator to chmod 600", m, err)
		}
	}
}

func TestCorruptKeyringFileIsNotReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.json")
	garbage := []byte(`{"primaryKeyId": 12, "key": [`)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, created, err := keyring.LoadOrCreateKeyringFile(path); err == nil || created {
		t.Fatalf("corrupt file: created=%v err=%v; want an error and no new keyring", created, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(garbage), string(got)); diff != "" {
		t.Errorf("the corrupt keyring file was changed; a new key would orphan every sealed value (-want +got):\n%s", diff)
	}
}

func TestLoadKeyringFileNeverCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.json")
	if _, err := keyring.LoadKeyringFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKeyringFile of a missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("LoadKeyringFile created a keyring file")
	}

	k := newKeyring(t)
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := keyring.LoadKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Primary() != k.Primary() {
		t.Errorf("Primary = %d, want %d", got.Primary(), k.Primary())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var insecure *keyring.InsecureFileError
	if _, err := keyring.LoadKeyringFile(path); !errors.As(err, &insecure) {
		t.Errorf("LoadKeyringFile of a 0644 file: err = %v, want *InsecureFileError", err)
	}
}
