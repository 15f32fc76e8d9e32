// Package cli is the gitaccess command line: `serve` for operators and, in
// the style of gh and glab, verbs that drive a gitaccess server over its REST
// API. Secrets (token values, API keys) are read from stdin or a no-echo
// prompt, never from flags or arguments, and never printed.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/server"
)

// Options are the CLI's connections to the world. The zero value uses the
// process's own; tests and embedders replace what they need.
type Options struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Env looks up environment variables (default os.Getenv).
	Env func(string) string
	// IsTerminal reports whether Stdin is an interactive terminal. When it
	// is, secrets and confirmations are asked for through Prompter; when it
	// is not, secrets are read from Stdin and confirmations are refused.
	IsTerminal func() bool
	// Prompter asks the user on the terminal (default: /dev/tty).
	Prompter Prompter
	// ConfigDir is where the gitaccess directory lives (default
	// os.UserConfigDir).
	ConfigDir func() (string, error)
	// HTTPClient, when set, carries API requests (custom roots, tests).
	HTTPClient *http.Client
	// Now is the clock for "days left" (default time.Now).
	Now func() time.Time
	// Version is printed by --version and sent in the User-Agent.
	Version string
	// Serve and RotateMasterKey run the server side (default server.Run and
	// server.RotateMasterKey).
	Serve           func(context.Context, server.Config) error
	RotateMasterKey func(context.Context, server.Config) (int, error)
	// Unsetenv removes a secret from the environment once read, so child
	// processes (git) do not inherit it. Default: os.Unsetenv when Env is
	// the process environment, a no-op otherwise.
	Unsetenv func(string) error
	// NewCloner returns what `gitaccess clone` clones with: its git
	// processes get home as HOME and env on top of their controlled
	// environment (default: a *gitx.Runner).
	NewCloner func(home string, env []string) (Cloner, error)
	// Executable is this program's path, which git runs as the credential
	// helper (default os.Executable).
	Executable func() (string, error)
}

// Cloner clones a repository through a credential helper; *gitx.Runner
// is one.
type Cloner interface {
	Clone(ctx context.Context, o gitx.CloneOptions) error
}

func newGitRunner(home string, env []string) (Cloner, error) {
	r, err := gitx.NewRunner(home, nil)
	if err != nil {
		return nil, err
	}
	r.Env = env
	return r, nil
}

// Prompter asks the person at the terminal.
type Prompter interface {
	// ReadSecret reads a line without echoing it.
	ReadSecret(ctx context.Context, prompt string) (secret.Value, error)
	// ReadLine reads a line with echo.
	ReadLine(ctx context.Context, prompt string) (string, error)
}

// app is one CLI invocation's state.
type app struct {
	opts Options
	// secrets are the values this invocation read or loaded; error
	// messages are scrubbed of them before they are printed.
	secrets []secret.Value
}

func newApp(o Options) *app {
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Unsetenv == nil {
		if o.Env == nil {
			o.Unsetenv = os.Unsetenv
		} else {
			o.Unsetenv = func(string) error { return nil }
		}
	}
	if o.Env == nil {
		o.Env = os.Getenv
	}
	if o.IsTerminal == nil {
		stdin := o.Stdin
		o.IsTerminal = func() bool {
			f, ok := stdin.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		}
	}
	if o.Prompter == nil {
		o.Prompter = ttyPrompter{}
	}
	if o.ConfigDir == nil {
		o.ConfigDir = os.UserConfigDir
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			o.Version = bi.Main.Version
		}
	}
	if o.Serve == nil {
		o.Serve = server.Run
	}
	if o.RotateMasterKey == nil {
		o.RotateMasterKey = server.RotateMasterKey
	}
	if o.NewCloner == nil {
		o.NewCloner = newGitRunner
	}
	if o.Executable == nil {
		o.Executable = os.Executable
	}
	return &app{opts: o}
}

// NewRoot builds the gitaccess command tree. Errors are returned, not
// printed; Run prints them.
func NewRoot(o Options) *cobra.Command {
	return newApp(o).root()
}

// Execute runs gitaccess with the process's arguments and returns its exit
// code.
func Execute(ctx context.Context) int {
	return Run(ctx, os.Args[1:], Options{})
}

// Run runs one command line and returns its exit code, printing any error
// to Stderr as "error: ...".
func Run(ctx context.Context, args []string, o Options) int {
	a := newApp(o)
	root := a.root()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		_, _ = fmt.Fprintln(a.opts.Stderr, "error: "+a.scrub(err.Error()))
		return 1
	}
	return 0
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "gitaccess",
		Short: "Self-hosted access to Git repositories for your deployment platform",
		Long: `gitaccess keeps an organization's Git provider tokens (GitHub, GitLab,
Bitbucket, Gitea), tests each with its provider before saving it, and hands
builds a credential when they clone.

Operators run "gitaccess serve". Everyone else logs in to a server and
manages tokens, applications, organizations and API keys; builds clone
with "gitaccess clone", which has git ask "gitaccess credential" for the
token, or fetch a build context with "gitaccess app archive". Webhooks
turn pushes and pull requests into events your platform subscribes to
("gitaccess hook", "gitaccess subscription", "gitaccess events").

Secrets are never taken from flags or arguments: token values and API keys
are read from stdin when it is not a terminal, otherwise from a prompt that
does not echo.

Environment:
  GITACCESS_SERVER      server URL (overrides the saved login)
  GITACCESS_API_KEY     API key (overrides the saved login)
  GITACCESS_CONFIG_DIR  directory of the saved login (default <user config dir>/gitaccess)`,
		Example: `  echo "$GITACCESS_KEY" | gitaccess login --server https://gitaccess.example.com
  gitaccess token add ci --provider github < token.txt
  gitaccess token list
  gitaccess clone web`,
		Version:       a.opts.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	group(root)
	root.SuggestionsMinimumDistance = 2
	root.SetIn(a.opts.Stdin)
	root.SetOut(a.opts.Stdout)
	root.SetErr(a.opts.Stderr)
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		a.serveCmd(),
		a.adminCmd(),
		a.loginCmd(),
		a.logoutCmd(),
		a.whoamiCmd(),
		a.tokenCmd(),
		a.appCmd(),
		a.hookCmd(),
		a.subscriptionCmd(),
		a.eventsCmd(),
		a.repoCmd(),
		a.cloneCmd(),
		a.credentialCmd(),
		a.orgCmd(),
		a.apikeyCmd(),
		a.auditCmd(),
		a.statusCmd(),
	)
	return root
}

// looksLikeCommand is true of what a mistyped subcommand looks like;
// anything else (a pasted token, say) is not repeated back.
func looksLikeCommand(s string) bool {
	if s == "" || len(s) > 30 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// group makes a command that only holds subcommands fail on an unknown
// one (cobra would print help and exit 0); bare, it prints its help.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = unknownSubcommand
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
}

func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if !looksLikeCommand(args[0]) {
		return fmt.Errorf("unknown command; run '%s --help' for the list", cmd.CommandPath())
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return errors.New(msg)
}

// flagError rewrites pflag's errors so none repeats what was typed after a
// flag: `--value=ghp_...` must not land in a terminal log or CI output.
func flagError(cmd *cobra.Command, err error) error {
	usage := fmt.Sprintf("; see '%s --help'", cmd.CommandPath())
	var inv *pflag.InvalidValueError
	if errors.As(err, &inv) {
		f := inv.GetFlag()
		if f.Value.Type() == "bool" {
			return fmt.Errorf("--%s takes no value%s", f.Name, usage)
		}
		return fmt.Errorf("invalid value for --%s%s", f.Name, usage)
	}
	var ne *pflag.NotExistError
	if errors.As(err, &ne) && ne.GetSpecifiedShortnames() != "" {
		return fmt.Errorf("unknown shorthand flag -%c%s", ne.GetSpecifiedName()[0], usage)
	}
	var syn *pflag.InvalidSyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("bad flag syntax%s", usage)
	}
	return fmt.Errorf("%w%s", err, usage)
}

// scrub removes every secret this invocation handled from msg: the last
// line of defence should a server or library ever quote one back.
func (a *app) scrub(msg string) string {
	for _, s := range a.secrets {
		if v := s.Reveal(); len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[REDACTED]")
		}
	}
	return msg
}

func (a *app) remember(v secret.Value) { a.secrets = append(a.secrets, v) }

// usageArgs is cobra.ExactArgs with a message that names the arguments and
// never repeats them (a mistaken extra argument may be a pasted secret).
func usageArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		if n == 0 {
			return fmt.Errorf("%s takes no arguments (got %d); see '%s --help'", cmd.CommandPath(), len(args), cmd.CommandPath())
		}
		return fmt.Errorf("%s needs %s (got %d arguments); see '%s --help'", cmd.CommandPath(), names, len(args), cmd.CommandPath())
	}
}
