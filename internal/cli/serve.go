package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/server"
)

const (
	envDatabaseURL = "GITACCESS_DATABASE_URL"
	envMasterKey   = "GITACCESS_MASTER_KEY"
)

// storeFlags say where the server's state and master key are; serve and
// admin share them.
type storeFlags struct {
	dataDir       string
	database      string
	masterKeyFile string
	logLevel      string
	logFormat     string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.dataDir, "data-dir", "./gitaccess-data", "directory for the SQLite database, the master keyring and the bootstrap key")
	fs.StringVar(&f.database, "database", "", "PostgreSQL URL, postgres://user@host/db (default $"+envDatabaseURL+"; empty: SQLite in --data-dir); keep passwords in the environment or ~/.pgpass")
	fs.StringVar(&f.masterKeyFile, "master-key-file", "", "master keyring file (default <data-dir>/master.key; $"+envMasterKey+" gives it inline)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "json", "json or text")
	_ = cmd.MarkFlagDirname("data-dir")
	_ = cmd.MarkFlagFilename("master-key-file")
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"json", "text"}, cobra.ShellCompDirectiveNoFileComp))
}

// config turns the flags and environment into a server.Config. Secrets
// read from the environment are then removed from it, so the git processes
// the server starts do not inherit them.
func (a *app) config(f *storeFlags) (server.Config, error) {
	logger, err := newLogger(a.opts.Stderr, f.logLevel, f.logFormat)
	if err != nil {
		return server.Config{}, err
	}
	db := f.database
	if db != "" && hasPassword(db) {
		return server.Config{}, fmt.Errorf("--database must not contain a password: every user of this machine can read command lines; put the URL in %s, or the password in PGPASSWORD or ~/.pgpass", envDatabaseURL)
	}
	if db == "" {
		db = a.opts.Env(envDatabaseURL)
	}
	cfg := server.Config{
		DataDir:       f.dataDir,
		DatabaseURL:   db,
		MasterKeyFile: f.masterKeyFile,
		MasterKey:     a.opts.Env(envMasterKey),
		Logger:        logger,
	}
	for _, name := range []string{envMasterKey, envDatabaseURL} {
		if err := a.opts.Unsetenv(name); err != nil {
			return server.Config{}, fmt.Errorf("unset %s: %w", name, err)
		}
	}
	return cfg, nil
}

// hasPassword spots a password in a PostgreSQL URL or keyword/value string.
func hasPassword(dsn string) bool {
	if strings.Contains(strings.ToLower(dsn), "password=") {
		return true
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return false
	}
	_, set := u.User.Password()
	return set
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", clean(level))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use json or text", clean(format))
}

func (a *app) serveCmd() *cobra.Command {
	var (
		sf                storeFlags
		listen, publicURL string
		insecureHTTP      bool
		lf                lifecycleFlags
		metricsListen     string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gitaccess server",
		Long: `Runs the API, the console and the background workers until interrupted
(SIGINT or SIGTERM), then shuts down gracefully.

With no --database, state lives in SQLite under --data-dir; several replicas
share one PostgreSQL database. The master keyring comes from
$GITACCESS_MASTER_KEY, --master-key-file, or <data-dir>/master.key (created
on first start).

Environment:
  GITACCESS_DATABASE_URL  PostgreSQL URL when --database is not given
  GITACCESS_MASTER_KEY    master keyring, inline
  GITACCESS_SMTP_URL      SMTP URL (may hold the password) when --smtp-url is not given
` + lifecycleHelp,
		Example: `  gitaccess serve
  gitaccess serve --listen 0.0.0.0:8080 --public-url https://gitaccess.example.com
  GITACCESS_DATABASE_URL=postgres://gitaccess@db/gitaccess gitaccess serve --log-format text`,
		Args: usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(&sf)
			if err != nil {
				return err
			}
			cfg.Listen = listen
			cfg.PublicURL = publicURL
			cfg.AllowInsecureHTTP = insecureHTTP
			cfg.MetricsListen = metricsListen
			if err := lf.apply(a, &cfg); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := a.opts.Serve(ctx, cfg); err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	cmd.Flags().StringVar(&publicURL, "public-url", "", "URL at which providers and browsers reach this server (webhooks, console links)")
	cmd.Flags().BoolVar(&insecureHTTP, "allow-insecure-http", false, "allow plain-http provider URLs (test setups only)")
	cmd.Flags().StringVar(&metricsListen, "metrics-listen", "", "serve /metrics (Prometheus) on this address instead of on --listen, e.g. 127.0.0.1:9090")
	lf.register(cmd)
	return cmd
}

func (a *app) adminCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "admin",
		Short: "Operator tasks on the server's own store",
	})
	var sf storeFlags
	rotate := &cobra.Command{
		Use:   "rotate-master-key",
		Short: "Add a new master key and re-wrap every sealed value under it",
		Long: `Adds a new primary key to the master keyring and re-wraps every sealed
value's data key under it, in one transaction. Values themselves are not
re-encrypted. Give it the same --data-dir, --database and master key as
serve.`,
		Example: `  gitaccess admin rotate-master-key --data-dir /var/lib/gitaccess`,
		Args:    usageArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(&sf)
			if err != nil {
				return err
			}
			n, err := a.opts.RotateMasterKey(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("rotate master key: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Rotated the master key: re-wrapped %d sealed values.\n", n)
			return err
		},
	}
	sf.register(rotate)
	cmd.AddCommand(rotate)
	return cmd
}
