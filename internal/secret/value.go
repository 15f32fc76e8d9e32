// Package secret keeps secret values out of logs, errors and responses:
// a Value prints, logs and encodes as a redaction marker.
//
// Sealing values for storage is package keyring (internal/secret/keyring),
// kept apart so that code that only carries secrets does not link tink.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

const redacted = "[REDACTED]"

// Value holds a secret. Every way Go prints or encodes a value (fmt verbs,
// JSON, slog) yields a redaction marker, so a Value that reaches a log line,
// an error or a response by mistake leaks nothing. Reveal is the only way out.
//
// The secret sits behind a *string because fmt cannot call Format on a Value
// held in an unexported struct field: it prints such a field by reflection,
// and a pointer to a string is the one shape it then prints as an address
// under every verb (a pointer to a slice or struct would be followed).
// The zero-length func array makes Value incomparable with ==, which would
// compare pointers; use Equal.
type Value struct {
	_ [0]func()
	p *string
}

// New wraps s as a secret Value.
func New(s string) Value { return Value{p: &s} }

// NewBytes wraps a copy of b as a secret Value.
func NewBytes(b []byte) Value { return New(string(b)) }

func (v Value) str() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v Value) bytes() []byte { return []byte(v.str()) }

// Reveal returns the secret. Call it only where the value leaves for its
// one legitimate destination (an Authorization header, the sealer, the git
// credential protocol).
func (v Value) Reveal() string { return v.str() }

// RevealBytes returns a copy of the secret's bytes.
func (v Value) RevealBytes() []byte { return v.bytes() }

// IsZero reports whether no secret is held.
func (v Value) IsZero() bool { return v.str() == "" }

// Len is the secret's length in bytes.
func (v Value) Len() int { return len(v.str()) }

// Equal compares two secrets in constant time.
func (v Value) Equal(o Value) bool { return subtle.ConstantTimeCompare(v.bytes(), o.bytes()) == 1 }

// Last4 returns the last four characters, which users match against what
// their provider shows; shorter secrets reveal nothing.
func (v Value) Last4() string {
	s := v.str()
	if len(s) < 12 {
		return ""
	}
	return s[len(s)-4:]
}

// Fingerprint identifies a secret without revealing it: the first 16 hex
// digits of its SHA-256. Tokens are high-entropy, so this cannot be inverted.
func (v Value) Fingerprint() string {
	if v.IsZero() {
		return ""
	}
	sum := sha256.Sum256(v.bytes())
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// String redacts.
func (v Value) String() string { return redacted }

// GoString redacts, so %#v is safe too.
func (v Value) GoString() string { return redacted }

// Format redacts under every verb.
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts in log/slog.
func (v Value) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts: a Value never leaves in a response body.
func (v Value) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText redacts (YAML, form and text encoders).
func (v Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalJSON accepts a JSON string, so request bodies can carry a value in.
func (v *Value) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("secret: expected a JSON string")
	}
	*v = New(s)
	return nil
}

// Redact replaces every occurrence of the secret in s. Use it on text that
// came from elsewhere, such as a provider's error body, which might echo
// the value back.
func (v Value) Redact(s string) string {
	if v.IsZero() {
		return s
	}
	return strings.ReplaceAll(s, v.Reveal(), redacted)
}
