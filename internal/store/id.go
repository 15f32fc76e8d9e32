package store

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns prefix_ followed by 16 random lowercase base32 characters
// (80 bits): unguessable, URL-safe, and telling its kind at a glance.
func NewID(prefix string) string {
	return prefix + "_" + RandomString(10)
}

// RandomString returns n random bytes as lowercase base32.
func RandomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics
		// inside Read instead); keep the contract explicit.
		panic("crypto/rand: " + err.Error())
	}
	return strings.ToLower(idEncoding.EncodeToString(b))
}
