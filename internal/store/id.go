package store

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
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

// sortable is base32 in an alphabet whose order is the bytes' order, so
// ids made later sort later.
var sortable = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewSortableID returns prefix_ followed by t in microseconds and 40
// random bits, both in lowercase base32hex: ids made later sort later.
// Rows written at a high rate under such ids append to their indexes'
// last pages instead of dirtying a page anywhere in them at every commit.
func NewSortableID(prefix string, t time.Time) string {
	var b [13]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMicro()))
	if _, err := rand.Read(b[8:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return prefix + "_" + strings.ToLower(sortable.EncodeToString(b[:]))
}
