// Command git-credential-gitaccess is gitaccess's git credential helper as
// a program of its own: the same helper as "gitaccess credential" (package
// credhelper), without the rest of gitaccess, so it starts several times
// faster. Git starts a helper for every clone, fetch and submodule.
//
// Install it beside gitaccess: "gitaccess clone" then uses it. Git finds
// it on PATH as credential.helper=gitaccess, or by absolute path:
//
//	git -c credential.helper=gitaccess -c credential.useHttpPath=true clone https://github.com/acme/api
//
// It reads the server and API key as gitaccess does: the saved login
// (gitaccess login), GITACCESS_SERVER, GITACCESS_API_KEY and
// GITACCESS_CONFIG_DIR.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/gitaccess/gitaccess/internal/client/wire"
	"github.com/gitaccess/gitaccess/internal/credhelper"
	"github.com/gitaccess/gitaccess/internal/login"
)

const name = "git-credential-gitaccess"

const usage = `usage: ` + name + ` [--app APP] get|store|erase

Git's credential helper for gitaccess (see git help credential): git runs
it; people rarely do.

  get    asks the gitaccess server for the token that serves the
         repository (with --app, the application's own token for its
         repository) and answers username= and password=
  store  does nothing: gitaccess keeps the tokens
  erase  tells the server git was refused; it re-inspects the token and
         marks it invalid if its provider refuses it, and the reason is
         printed on stderr

On any failure it prints one line on stderr and answers nothing. Git must
send the repository's path: set credential.useHttpPath=true. The server
and API key come from the saved login (gitaccess login), GITACCESS_SERVER
and GITACCESS_API_KEY, and GITACCESS_CONFIG_DIR.

Example:
  git -c credential.helper=gitaccess -c credential.useHttpPath=true clone https://github.com/acme/api
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, configDir: os.UserConfigDir,
	}))
}

// env is the program's connection to the world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	configDir      func() (string, error)
}

// run parses "[--app APP] ACTION" (flags anywhere, as gitaccess credential
// takes them) and runs the helper. Only a mistaken command line exits
// non-zero; what git asked for is answered, or explained on stderr.
func run(ctx context.Context, args []string, e env) int {
	var app string
	var actions []string
	fail := func(format string, a ...any) int {
		_, _ = fmt.Fprintf(e.stderr, "error: "+format+"; see '"+name+" --help'\n", a...)
		return 1
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			actions = append(actions, args[i+1:]...)
			i = len(args)
		case arg == "-h" || arg == "--help":
			_, _ = io.WriteString(e.stdout, usage)
			return 0
		case arg == "--version":
			_, _ = fmt.Fprintln(e.stdout, name, "version", version())
			return 0
		case arg == "--app":
			if i+1 >= len(args) {
				return fail("flag needs an argument: --app")
			}
			i++
			app = args[i]
		case strings.HasPrefix(arg, "--app="):
			app = strings.TrimPrefix(arg, "--app=")
		case strings.HasPrefix(arg, "-") && arg != "-":
			// Never what follows "=": a mistaken flag may carry a secret.
			flag, _, _ := strings.Cut(arg, "=")
			if !looksLikeFlag(flag) {
				return fail("unknown flag")
			}
			return fail("unknown flag: %s", flag)
		default:
			actions = append(actions, arg)
		}
	}
	if len(actions) != 1 {
		return fail("%s needs the ACTION git asks for: get, store or erase (got %d arguments)", name, len(actions))
	}
	credhelper.Run(ctx, actions[0], app, credhelper.Options{
		Stdin:  e.stdin,
		Stdout: e.stdout,
		Stderr: e.stderr,
		Login:  login.Source{Env: e.getenv, ConfigDir: e.configDir, Warn: e.stderr},
		Wire:   []wire.Option{wire.WithUserAgent(name + "/" + version())},
	})
	return 0
}

// looksLikeFlag is true of a short flag name made of letters, digits and
// dashes: one that may be repeated back.
func looksLikeFlag(s string) bool {
	if len(s) > 30 {
		return false
	}
	for _, r := range strings.TrimLeft(s, "-") {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// version is the module version this program was built from, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
