// Package server assembles gitaccess from its parts (store, keyring, forge
// adapters, use cases, HTTP API) and runs it. It is the composition root: the
// only package that knows every concrete implementation.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/api"
	"github.com/gitaccess/gitaccess/internal/console"
	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/events"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/bitbucket"
	"github.com/gitaccess/gitaccess/internal/forge/gitea"
	"github.com/gitaccess/gitaccess/internal/forge/github"
	"github.com/gitaccess/gitaccess/internal/forge/gitlab"
	"github.com/gitaccess/gitaccess/internal/forge/ratelimit"
	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/lifecycle"
	"github.com/gitaccess/gitaccess/internal/metrics"
	"github.com/gitaccess/gitaccess/internal/secret/keyring"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/postgres"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
	"github.com/gitaccess/gitaccess/internal/webhook"
)

// Config is everything `gitaccess serve` takes.
type Config struct {
	// DataDir holds the SQLite database, the master keyring and the
	// bootstrap admin key (default ./gitaccess-data).
	DataDir string
	// Listen is the HTTP listen address (default 127.0.0.1:8080).
	Listen string
	// PublicURL is how providers and browsers reach this server.
	PublicURL string
	// DatabaseURL selects PostgreSQL (postgres://...); empty means SQLite in DataDir.
	DatabaseURL string
	// MasterKeyFile overrides <DataDir>/master.key.
	MasterKeyFile string
	// MasterKey is a keyring given inline (GITACCESS_MASTER_KEY).
	MasterKey string
	// AllowInsecureHTTP permits plain-http provider URLs.
	AllowInsecureHTTP bool
	// MirrorMaxBytes bounds the mirror cache under <DataDir>/mirrors
	// (default 10 GiB); the least recently used mirrors go first.
	MirrorMaxBytes int64
	Logger         *slog.Logger

	// Egress overrides the outbound policy's roots and dialing (tests aim
	// provider hostnames at fakes); AllowInsecureHTTP above still applies.
	Egress *egress.Policy
	// Listener, when set, is served instead of listening on Listen.
	Listener net.Listener
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// GitEnv is extra environment for the server's own git processes
	// (tests point GIT_SSL_CAINFO at their CA).
	GitEnv []string
	// MetricsListen, when set, serves /metrics on this address instead
	// of on the main listener (--metrics-listen).
	MetricsListen string
	// RevalidateEvery is how often every token is re-inspected (default
	// 6h, jittered ±10%, once across replicas).
	RevalidateEvery time.Duration
	// SMTP, when set, mails token warnings.
	SMTP *lifecycle.SMTPConfig
}

// Files the data directory holds.
const (
	dbFile          = "gitaccess.db"
	masterKeyFile   = "master.key"
	AdminAPIKeyFile = "admin-api-key"
)

func (c *Config) defaults() {
	if c.DataDir == "" {
		c.DataDir = "gitaccess-data"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, masterKeyFile)
	}
	if c.MirrorMaxBytes <= 0 {
		c.MirrorMaxBytes = 10 << 30
	}
}

// App is an assembled gitaccess, ready to serve.
type App struct {
	Handler  http.Handler
	Service  *access.Service
	Store    store.Store
	Webhooks *webhook.Service
	Events   *events.Dispatcher
	// Lifecycle revalidates tokens on a schedule and mails warnings.
	Lifecycle *lifecycle.Runner
	// Metrics serves /metrics (on Handler, or on MetricsListen).
	Metrics *metrics.Metrics
	cfg     Config
}

// Start runs the background workers (routing deliveries, sending events)
// until ctx ends.
func (a *App) Start(ctx context.Context) {
	go a.Webhooks.Run(ctx)
	go a.Events.Run(ctx)
	go a.Lifecycle.Run(ctx)
}

// leaseOwner names this process's job leases: host, pid and a random part.
func leaseOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), store.RandomString(4))
}

// forgeParsers finds each provider's delivery reader among the adapters.
type forgeParsers access.ForgeMap

func (m forgeParsers) Webhooks(p forge.Provider) (forge.Webhooks, bool) {
	f, ok := m[p]
	return f, ok
}

// DataDir is where the app keeps its files.
func (a *App) DataDir() string { return a.cfg.DataDir }

// Close releases the store.
func (a *App) Close() error { return a.Store.Close() }

// Open assembles gitaccess: data dir, keyring, store (migrated), provider
// adapters, use cases and API; and bootstraps an empty store.
func Open(ctx context.Context, cfg Config) (*App, error) {
	cfg.defaults()
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", cfg.DataDir, err)
	}
	keys, err := openKeyring(cfg, log)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	policy := egress.Policy{}
	if cfg.Egress != nil {
		policy = *cfg.Egress
	}
	policy.AllowInsecureHTTP = policy.AllowInsecureHTTP || cfg.AllowInsecureHTTP
	if policy.UserAgent == "" {
		policy.UserAgent = "gitaccess"
	}
	runner, err := gitx.NewRunner(filepath.Join(cfg.DataDir, "git-home"), log)
	if err != nil {
		st.Close()
		return nil, err
	}
	runner.Env = append(runner.Env, cfg.GitEnv...)
	mirrors, err := gitx.NewMirrors(filepath.Join(cfg.DataDir, "mirrors"), cfg.MirrorMaxBytes, runner, log)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("opening the mirror cache: %w", err)
	}
	// Every provider request goes through the rate-limit tracker, which
	// also counts it for /metrics.
	met := metrics.New(metrics.Config{Tokens: st, Now: cfg.Now, Logger: log})
	limits := ratelimit.New(ratelimit.Config{Store: st, Observer: met, Logger: log, Now: cfg.Now})
	forges := access.ForgeMap{
		forge.GitHub:    github.New(policy, log).WithTransport(limits.Wrap),
		forge.GitLab:    gitlab.New(policy, log).WithTransport(limits.Wrap),
		forge.Bitbucket: bitbucket.New(policy, log).WithTransport(limits.Wrap),
		forge.Gitea:     gitea.New(policy, log).WithTransport(limits.Wrap),
	}
	eventClient, err := policy.Client(nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	owner := leaseOwner()
	dispatcher := events.New(events.Config{
		Store: st, Opener: keys, Client: eventClient, Logger: log, Now: cfg.Now, Owner: owner,
		AssociatedData: access.AssociatedData, Jitter: rand.Float64, Observer: met,
	})
	svc := access.New(access.Config{
		Store:            st,
		Mirrors:          mirrorCache{mirrors},
		PublicURL:        cfg.PublicURL,
		CheckURL:         policy.CheckURL,
		NewSigningSecret: events.NewSecret,
		WakeEvents:       dispatcher.Wake,
		Sealer:           keys,
		Forges:           forges,
		Logger:           log,
		Now:              cfg.Now,
	})
	key, created, err := svc.Bootstrap(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	if created {
		path := filepath.Join(cfg.DataDir, AdminAPIKeyFile)
		if err := writeSecretFile(path, []byte(key.Reveal()+"\n")); err != nil {
			st.Close()
			return nil, fmt.Errorf("writing the bootstrap owner key: %w", err)
		}
		log.Warn("created organization "+access.BootstrapOrg+" and an Owner API key; the key is in the file named here (mode 0600). Log in with: gitaccess login --server URL < "+path, "path", path)
	}
	hooks := webhook.New(webhook.Config{
		Store: st, Opener: keys, Parsers: forgeParsers(forges), Refresh: svc, Logger: log, Now: cfg.Now,
		Owner: owner, AssociatedData: access.AssociatedData, Notify: dispatcher.Wake, Observer: met,
	})
	h := api.New(api.Config{Service: svc, Webhooks: hooks, Logger: log})
	// The web console serves "/" and /console/; everything else stays the API's.
	web, cerr := console.New(console.Config{Service: svc, Sessions: st, Next: h, PublicURL: cfg.PublicURL, Logger: log, Now: cfg.Now})
	if cerr != nil {
		st.Close()
		return nil, cerr
	}
	h = web
	if cfg.MetricsListen == "" {
		h = withMetrics(h, met)
	}
	lc := lifecycle.Config{Store: st, Tokens: svc, Every: cfg.RevalidateEvery, Holder: owner, Now: cfg.Now, Logger: log}
	if cfg.SMTP != nil {
		lc.Mailer = lifecycle.NewSMTP(*cfg.SMTP)
	}
	return &App{Handler: h, Service: svc, Store: st, Webhooks: hooks, Events: dispatcher, Lifecycle: lifecycle.New(lc), Metrics: met, cfg: cfg}, nil
}

// Run serves until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	app, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	workers, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	app.Start(workers)
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
		}
	}
	if cfg.MetricsListen != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsListen, app.Metrics, cfg.Logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics(context.WithoutCancel(ctx))
	}
	srv := &http.Server{
		Handler:           app.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	cfg.Logger.Info("gitaccess is serving", "url", "http://"+ln.Addr().String(), "public_url", cfg.PublicURL, "data_dir", cfg.DataDir, "database", databaseKind(cfg))
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	cfg.Logger.Info("shutting down")
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func databaseKind(cfg Config) string {
	if cfg.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + filepath.Join(cfg.DataDir, dbFile)
}

func openStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	if cfg.DatabaseURL != "" {
		if !strings.HasPrefix(cfg.DatabaseURL, "postgres://") && !strings.HasPrefix(cfg.DatabaseURL, "postgresql://") {
			return nil, errors.New("--database must be a postgres:// URL; leave it empty for the embedded SQLite store")
		}
		st, err := postgres.Open(ctx, cfg.DatabaseURL, log)
		if err != nil {
			return nil, fmt.Errorf("opening PostgreSQL: %w", err)
		}
		return st, nil
	}
	path := filepath.Join(cfg.DataDir, dbFile)
	st, err := sqlite.Open(ctx, path, log)
	if err != nil {
		return nil, fmt.Errorf("opening SQLite at %s: %w", path, err)
	}
	return st, nil
}

func openKeyring(cfg Config, log *slog.Logger) (*reloadingKeyring, error) {
	if cfg.MasterKey != "" {
		k, err := keyring.ParseKeyring([]byte(cfg.MasterKey))
		if err != nil {
			return nil, fmt.Errorf("GITACCESS_MASTER_KEY: %w", err)
		}
		return &reloadingKeyring{k: k}, nil
	}
	k, created, err := keyring.LoadOrCreateKeyringFile(cfg.MasterKeyFile)
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", cfg.MasterKeyFile, err)
	}
	if created {
		log.Warn("GENERATED A NEW MASTER KEY: back this file up; without it no sealed token can ever be opened again", "path", cfg.MasterKeyFile)
	}
	return &reloadingKeyring{k: k, path: cfg.MasterKeyFile}, nil
}

func writeSecretFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// RotateMasterKey adds a new primary master key to the keyring file and
// re-wraps every sealed value's data key under it, in one transaction. The
// old keys stay in the file, so nothing becomes unreadable if the process
// dies between the two steps, and a second run finishes the job without
// adding another key. It returns how many values were re-wrapped.
func RotateMasterKey(ctx context.Context, cfg Config) (int, error) {
	cfg.defaults()
	if cfg.MasterKey != "" {
		return 0, errors.New("the master key comes from GITACCESS_MASTER_KEY, which gitaccess cannot rewrite: write it to a file, pass --master-key-file, rotate, then update the variable from that file")
	}
	k, err := keyring.LoadKeyringFile(cfg.MasterKeyFile)
	if err != nil {
		return 0, fmt.Errorf("master key %s: %w", cfg.MasterKeyFile, err)
	}
	st, err := openStore(ctx, cfg, cfg.Logger)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	rows, err := st.SealedRows(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading sealed values: %w", err)
	}
	// Only add a key when every value is already under the primary: a run
	// interrupted after writing the keyring resumes instead of piling keys.
	if len(stale(rows, k.Primary())) == 0 {
		if err := k.Rotate(); err != nil {
			return 0, fmt.Errorf("adding a master key: %w", err)
		}
		if err := k.WriteFile(cfg.MasterKeyFile); err != nil {
			return 0, fmt.Errorf("writing %s: %w", cfg.MasterKeyFile, err)
		}
	}
	total := 0
	// A value changed while we re-wrap makes ReplaceSealed refuse the batch
	// (ErrConflict); read again and retry a few times.
	for attempt := 0; ; attempt++ {
		todo := stale(rows, k.Primary())
		for i, r := range todo {
			if todo[i].Sealed, err = k.Rewrap(r.Sealed, access.AssociatedData(r.Table, r.ID)); err != nil {
				return total, fmt.Errorf("re-wrapping %s/%s: %w", r.Table, r.ID, err)
			}
		}
		err = st.ReplaceSealed(ctx, todo)
		if err == nil {
			total += len(todo)
			break
		}
		if !errors.Is(err, store.ErrConflict) || attempt == 4 {
			return total, fmt.Errorf("saving re-wrapped values: %w", err)
		}
		if rows, err = st.SealedRows(ctx); err != nil {
			return total, fmt.Errorf("reading sealed values: %w", err)
		}
	}
	cfg.Logger.Info("master key rotated", "rewrapped", total, "primary_key_id", k.Primary())
	return total, nil
}

// stale returns the rows whose data key is not wrapped by primary.
func stale(rows []store.SealedRow, primary uint32) []store.SealedRow {
	var out []store.SealedRow
	for _, r := range rows {
		if id, err := keyring.SealedKeyID(r.Sealed); err != nil || id != primary {
			out = append(out, r)
		}
	}
	return out
}
