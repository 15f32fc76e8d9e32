package server

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/secret/keyring"
)

// reloadingKeyring lets a running server open values re-wrapped by
// `gitaccess admin rotate-master-key` in another process: when a value does
// not open, the keyring file is read again once and the open retried.
type reloadingKeyring struct {
	path string // empty when the keyring came from the environment
	mu   sync.RWMutex
	k    *keyring.Keyring
}

func (r *reloadingKeyring) current() *keyring.Keyring {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.k
}

func (r *reloadingKeyring) Seal(v secret.Value, ad []byte) ([]byte, error) {
	return r.current().Seal(v, ad)
}

func (r *reloadingKeyring) Open(sealed, ad []byte) (secret.Value, error) {
	v, err := r.current().Open(sealed, ad)
	if err == nil || r.path == "" || !errors.Is(err, keyring.ErrCannotOpen) {
		return v, err
	}
	fresh, lerr := keyring.LoadKeyringFile(r.path)
	if lerr != nil {
		return secret.Value{}, fmt.Errorf("%w (and reloading %s failed: %v)", err, r.path, lerr)
	}
	r.mu.Lock()
	r.k = fresh
	r.mu.Unlock()
	return fresh.Open(sealed, ad)
}
