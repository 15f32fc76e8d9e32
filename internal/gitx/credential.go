package gitx

import (
	"io"
	"strings"

	"github.com/gitaccess/gitaccess/internal/gitx/credproto"
)

// The credential-helper protocol lives in package credproto, which a
// helper can link without the rest of gitx; these names are kept for
// gitx's callers.

// ErrCredentialProtocol means a credential request or response broke the
// protocol (see credproto.ErrProtocol).
var ErrCredentialProtocol = credproto.ErrProtocol

// Request is what git asks a credential helper on stdin (see
// credproto.Request).
type Request = credproto.Request

// Response is a helper's answer to "get" (see credproto.Response).
type Response = credproto.Response

// ParseRequest reads git's credential request (see credproto.ParseRequest).
func ParseRequest(r io.Reader) (*Request, error) { return credproto.ParseRequest(r) }

// HelperCommand builds a credential.helper value that runs exe with args.
// Git runs a value starting with "/" through the shell as written and
// treats any other value not starting with "!" as the name of a
// "git credential-<name>" program, so a quoted path needs the "!" form.
func HelperCommand(exe string, args ...string) string {
	words := append([]string{exe}, args...)
	plain := strings.HasPrefix(exe, "/")
	for _, w := range words {
		if w == "" || strings.ContainsFunc(w, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%", r))
		}) {
			plain = false
		}
	}
	if plain {
		return strings.Join(words, " ")
	}
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = shellQuote(w)
	}
	return "!" + strings.Join(quoted, " ")
}

// HelperCommandSkippingStore is HelperCommand for a helper that does
// nothing on git's "store" (gitaccess keeps the tokens; git sends store
// after every successful authentication). The shell git runs the value
// through answers store itself, reading git's message to its end with a
// builtin, so no further process starts for it; any other action (get,
// erase, one a newer git adds) execs the helper with the action as its
// last argument, as git would have run it.
func HelperCommandSkippingStore(exe string, args ...string) string {
	words := append([]string{exe}, args...)
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = shellQuote(w)
	}
	// Git appends " ACTION" to the value and runs it with sh -c.
	return `!_gitaccess_helper() { if test "$1" = store; then while read -r _l; do :; done; exit 0; fi; exec ` +
		strings.Join(quoted, " ") + ` "$@"; }; _gitaccess_helper`
}

// shellQuote quotes w for sh as one word.
func shellQuote(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
