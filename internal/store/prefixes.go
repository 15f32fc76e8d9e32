package store

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxPrefixBytes bounds a URL prefix, as the migrations' CHECK does:
// MatchPrefix looks up every candidate prefix of a URL up to this length.
const MaxPrefixBytes = 2048

// PrefixSet checks a token's prefixes and returns them sorted without
// duplicates, nil when there are none. Both engines accept the same set:
// each prefix ends in "/", is valid UTF-8 without NUL bytes, and is at most
// MaxPrefixBytes long.
func PrefixSet(prefixes []string) ([]string, error) {
	if len(prefixes) == 0 {
		return nil, nil
	}
	out := slices.Compact(slices.Sorted(slices.Values(prefixes)))
	for _, p := range out {
		switch {
		case !strings.HasSuffix(p, "/"):
			return nil, fmt.Errorf("URL prefix %q does not end in \"/\"", p)
		case len(p) > MaxPrefixBytes:
			return nil, fmt.Errorf("URL prefix of %d bytes is longer than %d", len(p), MaxPrefixBytes)
		case !utf8.ValidString(p) || strings.IndexByte(p, 0) >= 0:
			return nil, fmt.Errorf("URL prefix %q is not valid UTF-8 text", p)
		}
	}
	return out, nil
}

// CandidatePrefixes returns every prefix of rawURL that a stored prefix
// could equal: those ending at a "/", up to MaxPrefixBytes, stopping before
// text no prefix can hold (invalid UTF-8 or NUL). Shortest first.
func CandidatePrefixes(rawURL string) []string {
	var out []string
	start := 0
	for i := 0; i < len(rawURL) && i < MaxPrefixBytes; i++ {
		if rawURL[i] != '/' {
			continue
		}
		// Cuts fall after an ASCII "/", so the prefix is valid text when
		// each segment between cuts is.
		if seg := rawURL[start : i+1]; !utf8.ValidString(seg) || strings.IndexByte(seg, 0) >= 0 {
			break
		}
		out = append(out, rawURL[:i+1])
		start = i + 1
	}
	return out
}
