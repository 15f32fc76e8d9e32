// Package secret keeps secret values out of logs, errors and responses, and
// seals them for storage with envelope encryption under a rotatable keyring.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
)

const redacted = "[REDACTED]"

// Value holds a secret. Every way Go prints or encodes a value (fmt verbs,
// JSON, slog) yields a redaction marker, so a Value that reaches a log line,
// an error or a response by mistake leaks nothing. Reveal is the only way out.
type Value struct {
	b []byte
}

// New wraps s as a secret Value.
func New(s string) Value { return Value{b: []byte(s)} }

// NewBytes wraps a copy of b as a secret Value.
func NewBytes(b []byte) Value { return Value{b: append([]byte(nil), b...)} }

// Reveal returns the secret. Call it only where the value leaves for its
// one legitimate destination (an Authorization header, the sealer, the git
// credential protocol).
func (v Value) Reveal() string { return string(v.b) }

// RevealBytes returns a copy of the secret's bytes.
func (v Value) RevealBytes() []byte { return append([]byte(nil), v.b...) }

// IsZero reports whether no secret is held.
func (v Value) IsZero() bool { return len(v.b) == 0 }

// Len is the secret's length in bytes.
func (v Value) Len() int { return len(v.b) }

// Equal compares two secrets in constant time.
func (v Value) Equal(o Value) bool { return subtle.ConstantTimeCompare(v.b, o.b) == 1 }

// Last4 returns the last four characters, which users match against what
// their provider shows; shorter secrets reveal nothing.
func (v Value) Last4() string {
	if len(v.b) < 12 {
		return ""
	}
	return string(v.b[len(v.b)-4:])
}

// Fingerprint identifies a secret without revealing it: the first 16 hex
// digits of its SHA-256. Tokens are high-entropy, so this cannot be inverted.
func (v Value) Fingerprint() string {
	if len(v.b) == 0 {
		return ""
	}
	sum := sha256.Sum256(v.b)
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
	v.b = []byte(s)
	return nil
}
