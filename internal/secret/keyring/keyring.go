// Package keyring seals secret values for storage with envelope encryption
// under a rotatable master keyring.
//
// Each sealed value has its own AES-256-GCM data key; the Keyring's primary
// master key wraps that data key. Both layers bind the caller's associated
// data (the row identity), so a ciphertext copied to another row does not
// open. Rotating the master key re-wraps data keys and leaves value
// ciphertexts untouched.
//
// The keyring file is a tink cleartext JSON keyset: it is the master key
// itself, unencrypted. What protects it is the file mode (0600, enforced on
// load), the directory's, or whatever holds GITACCESS_MASTER_KEY when it
// comes from the environment or a secret manager. Anyone who can read it and
// the database can open every token. A KMS-wrapped keyset is the upgrade path.
//
// It lives apart from package secret, whose Value type the whole program
// uses, so that what does not seal (the git credential helper) does not
// link tink.
package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// ErrCannotOpen means a sealed value did not open: it was sealed for another
// row, under a master key this keyring does not hold, or it was altered.
// Errors wrapping it name the cause but never plaintext or key material.
var ErrCannotOpen = errors.New("secret: sealed value does not open")

// Sealed format, version 1:
//
//	[0]        version (1)
//	[1:3]      big-endian length n of the wrapped data key
//	[3:3+n]    data key sealed by the keyring (tink AEAD output: 0x01,
//	           4-byte master key id, nonce, ciphertext, tag)
//	[3+n:]     value sealed by the data key (AES-256-GCM: nonce, ciphertext, tag)
//
// The two parts are separate so Rewrap can replace the wrapped data key and
// leave the value ciphertext byte for byte as it was.
// redacted is what printing a Keyring shows instead of key material.
const redacted = "[REDACTED]"

const (
	formatV1     byte = 1
	headerLen         = 3
	dekLen            = 32
	tinkPrefix   byte = 0x01
	tinkIDLen         = 5
	maxWrapLen        = 1 << 10
	maxKeyringSz      = 1 << 20
)

// Associated-data labels keep the data-key wrapping and the value encryption
// from ever accepting each other's ciphertexts, and tie both to format 1.
var (
	dekLabel   = "gitaccess/secret/v1/dek\x00"
	valueLabel = "gitaccess/secret/v1/value\x00"
)

// Keyring is the master key set: a tink AEAD keyset of AES-256-GCM keys, one
// of them primary. It wraps the per-value data keys; it never encrypts values
// directly, so rotating it re-wraps 60-odd bytes per value, not the values.
//
// A Keyring is safe for concurrent use. Printing or encoding it shows key ids
// only.
type Keyring struct {
	mu sync.RWMutex
	r  *ring
}

// ring is one immutable generation of the keyring; Rotate swaps it whole.
type ring struct {
	h       *keyset.Handle
	aead    tink.AEAD
	primary uint32
	ids     []uint32 // enabled keys, in keyset order
}

func newRing(h *keyset.Handle) (*ring, error) {
	r := &ring{h: h}
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return nil, fmt.Errorf("secret: keyring entry %d: %w", i, err)
		}
		if e.KeyStatus() != keyset.Enabled {
			continue
		}
		k, ok := e.Key().(*aesgcm.Key)
		if !ok {
			return nil, fmt.Errorf("secret: keyring key %d is not an AES-GCM key; gitaccess master keys are AES-256-GCM", e.KeyID())
		}
		p, ok := k.Parameters().(*aesgcm.Parameters)
		if !ok || p.KeySizeInBytes() != 32 || p.Variant() != aesgcm.VariantTink {
			return nil, fmt.Errorf("secret: keyring key %d must be AES-256-GCM with TINK output prefix", e.KeyID())
		}
		if e.IsPrimary() {
			r.primary = e.KeyID()
		}
		r.ids = append(r.ids, e.KeyID())
	}
	if r.primary == 0 {
		return nil, errors.New("secret: keyring has no enabled primary key")
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("secret: keyring: %w", err)
	}
	r.aead = a
	return r, nil
}

// GenerateKeyring makes a keyring with one fresh AES-256-GCM master key.
func GenerateKeyring() (*Keyring, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("secret: generate keyring: %w", err)
	}
	r, err := newRing(h)
	if err != nil {
		return nil, err
	}
	return &Keyring{r: r}, nil
}

// ParseKeyring reads a tink cleartext JSON keyset, or the same bytes
// base64-encoded (the GITACCESS_MASTER_KEY form, where a JSON document with
// newlines is awkward). Parse errors never quote the input: it is key material.
func ParseKeyring(data []byte) (*Keyring, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("secret: the keyring is empty")
	}
	if data[0] != '{' {
		dec, err := decodeBase64(string(data))
		if err != nil {
			return nil, errors.New("secret: the keyring is neither a tink JSON keyset nor its base64 encoding")
		}
		data = bytes.TrimSpace(dec)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(data)))
	if err != nil {
		// tink's reader error is generic already; the input stays unquoted.
		return nil, fmt.Errorf("secret: the keyring is not a valid tink JSON keyset: %w", err)
	}
	r, err := newRing(h)
	if err != nil {
		return nil, err
	}
	return &Keyring{r: r}, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func (k *Keyring) get() (*ring, error) {
	if k == nil {
		return nil, errors.New("secret: nil keyring")
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.r == nil {
		return nil, errors.New("secret: empty keyring; use GenerateKeyring or ParseKeyring")
	}
	return k.r, nil
}

// Rotate adds a fresh master key and makes it primary. Older keys stay, so
// values wrapped under them still open until Rewrap moves them. The change is
// in memory only: persist it (WriteFile) before re-wrapping anything, or a
// crash would leave values wrapped under a key that exists nowhere.
func (k *Keyring) Rotate() error {
	if k == nil {
		return errors.New("secret: nil keyring")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.r == nil {
		return errors.New("secret: empty keyring; use GenerateKeyring or ParseKeyring")
	}
	m := keyset.NewManagerFromHandle(k.r.h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("secret: rotate: add key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return fmt.Errorf("secret: rotate: set primary: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return fmt.Errorf("secret: rotate: %w", err)
	}
	r, err := newRing(h)
	if err != nil {
		return err
	}
	k.r = r
	return nil
}

// Primary is the id of the master key that wraps newly sealed values.
func (k *Keyring) Primary() uint32 {
	r, err := k.get()
	if err != nil {
		return 0
	}
	return r.primary
}

// KeyIDs lists the enabled master keys, oldest first: the keys whose values
// this keyring can open.
func (k *Keyring) KeyIDs() []uint32 {
	r, err := k.get()
	if err != nil {
		return nil
	}
	return slices.Clone(r.ids)
}

func dekAD(ad []byte) []byte   { return append([]byte(dekLabel), ad...) }
func valueAD(ad []byte) []byte { return append([]byte(valueLabel), ad...) }

// Seal encrypts v under a fresh data key and wraps that key with the primary
// master key, both bound to ad. ad is the row identity (table and id): a
// ciphertext copied to another row then fails to open. Empty ad is refused
// because it would bind to nothing.
func (k *Keyring) Seal(v secret.Value, ad []byte) ([]byte, error) {
	r, err := k.get()
	if err != nil {
		return nil, err
	}
	if len(ad) == 0 {
		return nil, errors.New("secret: Seal needs associated data (the row identity)")
	}
	dek := make([]byte, dekLen)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return nil, fmt.Errorf("secret: data key: %w", err)
	}
	gcm, err := dataCipher(dek)
	if err != nil {
		return nil, err
	}
	ct := gcm.Seal(nil, nil, v.RevealBytes(), valueAD(ad))
	wrapped, err := r.aead.Encrypt(dek, dekAD(ad))
	if err != nil {
		return nil, fmt.Errorf("secret: wrap data key: %w", err)
	}
	return assemble(wrapped, ct)
}

// Open reverses Seal. Every failure wraps ErrCannotOpen.
func (k *Keyring) Open(sealed, ad []byte) (secret.Value, error) {
	r, err := k.get()
	if err != nil {
		return secret.Value{}, err
	}
	dek, ct, err := r.unwrap(sealed, ad)
	if err != nil {
		return secret.Value{}, err
	}
	defer clear(dek)
	pt, err := openValue(dek, ct, ad)
	if err != nil {
		return secret.Value{}, err
	}
	v := secret.NewBytes(pt)
	clear(pt)
	return v, nil
}

// Rewrap re-wraps the data key of sealed under the current primary master
// key and leaves the value ciphertext byte for byte as it was. It checks the
// value still opens, so a corrupt row fails the rotation rather than getting
// a fresh, valid-looking wrap.
func (k *Keyring) Rewrap(sealed, ad []byte) ([]byte, error) {
	r, err := k.get()
	if err != nil {
		return nil, err
	}
	dek, ct, err := r.unwrap(sealed, ad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	pt, err := openValue(dek, ct, ad)
	if err != nil {
		return nil, err
	}
	clear(pt)
	wrapped, err := r.aead.Encrypt(dek, dekAD(ad))
	if err != nil {
		return nil, fmt.Errorf("secret: wrap data key: %w", err)
	}
	return assemble(wrapped, ct)
}

// SealedKeyID reports which master key wraps a sealed value, so a rotation
// can count or skip values already under the primary, and an operator can
// tell which old key is still needed before dropping it.
func SealedKeyID(sealed []byte) (uint32, error) {
	wrapped, _, err := split(sealed)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(wrapped[1:tinkIDLen]), nil
}

func dataCipher(dek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, fmt.Errorf("secret: data key cipher: %w", err)
	}
	// A data key encrypts exactly one value, so a random nonce cannot repeat.
	gcm, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secret: data key cipher: %w", err)
	}
	return gcm, nil
}

func openValue(dek, ct, ad []byte) ([]byte, error) {
	gcm, err := dataCipher(dek)
	if err != nil {
		return nil, err
	}
	pt, err := gcm.Open(nil, nil, ct, valueAD(ad))
	if err != nil {
		return nil, fmt.Errorf("%w: the value ciphertext does not match its data key and row (altered, or sealed for another row)", ErrCannotOpen)
	}
	return pt, nil
}

func assemble(wrapped, ct []byte) ([]byte, error) {
	if len(wrapped) > maxWrapLen {
		return nil, fmt.Errorf("secret: wrapped data key is %d bytes, more than the format allows", len(wrapped))
	}
	out := make([]byte, 0, headerLen+len(wrapped)+len(ct))
	out = append(out, formatV1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(wrapped)))
	out = append(out, wrapped...)
	return append(out, ct...), nil
}

func split(sealed []byte) (wrapped, ct []byte, err error) {
	if len(sealed) < headerLen {
		return nil, nil, fmt.Errorf("%w: truncated (%d bytes)", ErrCannotOpen, len(sealed))
	}
	if sealed[0] != formatV1 {
		return nil, nil, fmt.Errorf("%w: unknown format version %d", ErrCannotOpen, sealed[0])
	}
	n := int(binary.BigEndian.Uint16(sealed[1:headerLen]))
	if n < tinkIDLen || n > maxWrapLen || len(sealed) < headerLen+n {
		return nil, nil, fmt.Errorf("%w: malformed (wrapped data key length %d of %d bytes)", ErrCannotOpen, n, len(sealed))
	}
	wrapped = sealed[headerLen : headerLen+n]
	if wrapped[0] != tinkPrefix {
		return nil, nil, fmt.Errorf("%w: malformed (wrapped data key has no key id)", ErrCannotOpen)
	}
	return wrapped, sealed[headerLen+n:], nil
}

func (r *ring) unwrap(sealed, ad []byte) (dek, ct []byte, err error) {
	wrapped, ct, err := split(sealed)
	if err != nil {
		return nil, nil, err
	}
	id := binary.BigEndian.Uint32(wrapped[1:tinkIDLen])
	if !slices.Contains(r.ids, id) {
		return nil, nil, fmt.Errorf("%w: wrapped by master key %d, which this keyring does not hold (it holds %v)", ErrCannotOpen, id, r.ids)
	}
	dek, err = r.aead.Decrypt(wrapped, dekAD(ad))
	if err != nil || len(dek) != dekLen {
		return nil, nil, fmt.Errorf("%w: the data key does not unwrap under master key %d (altered, or sealed for another row)", ErrCannotOpen, id)
	}
	return dek, ct, nil
}

// String shows key ids only: the keyring is the master key, so nothing that
// prints it may reveal key material.
func (k *Keyring) String() string {
	r, err := k.get()
	if err != nil {
		return "secret.Keyring(empty)"
	}
	return fmt.Sprintf("secret.Keyring(primary=%d keys=%v key material %s)", r.primary, r.ids, redacted)
}

// GoString is String, so %#v is safe too.
func (k *Keyring) GoString() string { return k.String() }

// Format prints String under every verb.
func (k *Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue shows key ids only in log/slog.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("primary", k.Primary()), slog.Any("keys", k.KeyIDs()))
}

// MarshalJSON shows key ids only; the file format is written by WriteFile.
func (k *Keyring) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Primary uint32   `json:"primary"`
		Keys    []uint32 `json:"keys"`
	}{k.Primary(), k.KeyIDs()})
}

// MarshalText is String, for text encoders.
func (k *Keyring) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
