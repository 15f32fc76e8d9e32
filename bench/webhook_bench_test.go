package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the baseline's SQLite, the driver the store uses

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/server"
	"github.com/gitaccess/gitaccess/internal/store/storetest"
	"github.com/gitaccess/gitaccess/internal/webhook"
)

// BenchmarkWebhookDeliveries' load, set with e.g.
// `-args -webhook.deliveries 40000` (see README.md).
var (
	whDeliveries   = flag.Int("webhook.deliveries", 20000, "BenchmarkWebhookDeliveries: closed-loop deliveries per side and iteration")
	whClients      = flag.Int("webhook.clients", 32, "BenchmarkWebhookDeliveries: concurrent keep-alive clients of the closed loop")
	whRateSQLite   = flag.Int("webhook.rate-sqlite", 1000, "BenchmarkWebhookDeliveries: offered deliveries per second of the fixed-rate run on SQLite")
	whRatePostgres = flag.Int("webhook.rate-postgres", 500, "BenchmarkWebhookDeliveries: offered deliveries per second of the fixed-rate run on PostgreSQL")
	whRateFor      = flag.Duration("webhook.rate-for", 5*time.Second, "BenchmarkWebhookDeliveries: length of the fixed-rate run per side")
)

// BenchmarkWebhookDeliveries posts signed GitHub push deliveries (the real
// push.new-branch payload, each with its own X-GitHub-Delivery) to the
// hook of an auto-deploy application on a gitaccess server running in
// this process, and the same load to the baseline: a minimal handler that
// reads the body, checks X-Hub-Signature-256 with hmac.Equal and inserts
// the body into a database of the same engine, opened the same way.
// Goal: gitaccess's closed-loop throughput at least 70% of the baseline's
// (ratio ≥ 0.7) and at least 2,000 deliveries/s on SQLite.
//
// closed-loop: 32 keep-alive clients send as fast as answers come, for a
// fixed count, in the order baseline, gitaccess, gitaccess, baseline (half
// the count each time; reversed every other iteration). fixed-rate: an
// open loop offering a constant rate (1,000/s on SQLite, 500/s on
// PostgreSQL) for 5 s per side; latency counts from each delivery's
// scheduled time, so a server falling behind shows in it. After each
// gitaccess run the benchmark waits, untimed, until every accepted push
// reached the subscriber as its deploy.requested event, and reports the
// longest such wait (backlog-s): routing that lags the receiver.
func BenchmarkWebhookDeliveries(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			var gaDSN, baseDSN string
			rate := *whRateSQLite
			if engine == "postgres" {
				gaDSN, baseDSN = storetest.PostgresDSN(b), storetest.PostgresDSN(b)
				rate = *whRatePostgres
			}
			payloads := pushPayloads(b, 64)
			ga := startHookedGitaccess(b, gaDSN, payloads)
			base := startBaseline(b, engine, baseDSN, payloads)
			// Untimed: connections, statements, caches; the first
			// deliveries' routing is out of the way.
			for _, t := range []*hookTarget{base, ga} {
				if _, _, failed := closedLoop(t, 200, *whClients); failed > 0 {
					b.Fatalf("%s: %d of 200 warm-up deliveries failed: %s", t.name, failed, t.lastError())
				}
				t.drain(b)
			}

			b.Run("closed-loop", func(b *testing.B) {
				n := max(*whDeliveries/2, 1)
				var sides [2]struct {
					lat     durations
					elapsed time.Duration
					failed  int
				}
				backlog := time.Duration(0)
				for i := 0; b.Loop(); i++ {
					order := []int{1, 0, 0, 1} // 0 gitaccess, 1 baseline
					if i%2 == 1 {
						order = []int{0, 1, 1, 0}
					}
					for _, s := range order {
						t := []*hookTarget{ga, base}[s]
						lat, elapsed, failed := closedLoop(t, n, *whClients)
						sides[s].lat = append(sides[s].lat, lat...)
						sides[s].elapsed += elapsed
						sides[s].failed += failed
						b.StopTimer()
						backlog = max(backlog, t.drain(b))
						b.StartTimer()
					}
				}
				var perSec [2]float64
				for s, name := range []string{"gitaccess", "baseline"} {
					side := sides[s]
					if side.failed > 0 {
						b.Errorf("%s: %d deliveries failed: %s", name, side.failed, []*hookTarget{ga, base}[s].lastError())
					}
					perSec[s] = float64(len(side.lat)-side.failed) / side.elapsed.Seconds()
					b.ReportMetric(perSec[s], name+"-deliveries/s")
					reportPercentiles(b, name+"-", side.lat)
				}
				b.ReportMetric(perSec[0]/perSec[1], "ratio")
				b.ReportMetric(backlog.Seconds(), "gitaccess-backlog-s")
			})

			b.Run(fmt.Sprintf("fixed-rate-%d", rate), func(b *testing.B) {
				var lat [2]durations
				var failed [2]int
				backlog := time.Duration(0)
				for i := 0; b.Loop(); i++ {
					order := []int{1, 0}
					if i%2 == 1 {
						order = []int{0, 1}
					}
					for _, s := range order {
						t := []*hookTarget{ga, base}[s]
						l, f := openLoop(t, rate, *whRateFor)
						lat[s] = append(lat[s], l...)
						failed[s] += f
						b.StopTimer()
						backlog = max(backlog, t.drain(b))
						b.StartTimer()
					}
				}
				for s, name := range []string{"gitaccess", "baseline"} {
					if failed[s] > 0 {
						b.Errorf("%s: %d deliveries failed: %s", name, failed[s], []*hookTarget{ga, base}[s].lastError())
					}
					reportPercentiles(b, name+"-", lat[s])
					b.ReportMetric(ms(lat[s].pct(1)), name+"-max-ms")
				}
				b.ReportMetric(backlog.Seconds(), "gitaccess-backlog-s")
			})
		})
	}
}

// hookTarget is a webhook receiver under load: its URL and secret, the
// signed payloads, and a keep-alive client of its own.
type hookTarget struct {
	name     string
	url      string
	payloads [][]byte
	sigs     []string // X-Hub-Signature-256 of each payload
	client   *http.Client
	// routed counts the deploy events the subscriber received (gitaccess);
	// nil for the baseline, which routes nothing.
	routed   *atomic.Int64
	accepted atomic.Int64
	errMu    sync.Mutex
	lastErr  string
}

// newHookTarget signs the payloads with secret, ahead of the load.
func newHookTarget(b *testing.B, name, url, secret string, payloads [][]byte) *hookTarget {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 1024
	b.Cleanup(tr.CloseIdleConnections)
	t := &hookTarget{name: name, url: url, payloads: payloads, client: &http.Client{Transport: tr, Timeout: time.Minute}}
	for _, p := range payloads {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(p)
		t.sigs = append(t.sigs, "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	return t
}

var deliverySeq atomic.Int64

// deliveryPrefix keeps delivery ids unique across runs on one database.
var deliveryPrefix = strings.ToLower(rand.Text()[:8])

// deliver posts payload i with a new delivery id; false on anything but 200.
func (t *hookTarget) deliver(i int) bool {
	i %= len(t.payloads)
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(t.payloads[i]))
	if err != nil {
		t.fail(err.Error())
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/bench")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Hook-ID", "1")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("%s-%08d-0000-4000-8000-000000000000", deliveryPrefix, deliverySeq.Add(1)))
	req.Header.Set("X-Hub-Signature-256", t.sigs[i])
	resp, err := t.client.Do(req)
	if err != nil {
		t.fail(err.Error())
		return false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.fail(fmt.Sprintf("HTTP %d: %.300s", resp.StatusCode, body))
		return false
	}
	t.accepted.Add(1)
	return true
}

func (t *hookTarget) fail(msg string) {
	t.errMu.Lock()
	t.lastErr = msg
	t.errMu.Unlock()
}

func (t *hookTarget) lastError() string {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.lastErr
}

// drain waits until every accepted delivery reached the subscriber as an
// event and returns how long that took (0 for the baseline).
func (t *hookTarget) drain(b *testing.B) time.Duration {
	if t.routed == nil {
		return 0
	}
	start := time.Now()
	for deadline := start.Add(2 * time.Minute); t.routed.Load() < t.accepted.Load(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d deliveries accepted, %d deploy events routed after %s", t.name, t.accepted.Load(), t.routed.Load(), time.Since(start))
		}
	}
	return time.Since(start)
}

// closedLoop sends n deliveries from clients concurrent senders, each
// sending its next one when the last is answered.
func closedLoop(t *hookTarget, n, clients int) (lat durations, elapsed time.Duration, failed int) {
	var next, bad atomic.Int64
	per := make([]durations, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				t0 := time.Now()
				if !t.deliver(i) {
					bad.Add(1)
				}
				per[c] = append(per[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	for _, p := range per {
		lat = append(lat, p...)
	}
	return lat, elapsed, int(bad.Load())
}

// openLoop offers rate deliveries per second for d, each sent at its
// scheduled time whatever the server's pace, and measures each one's
// latency from that time.
func openLoop(t *hookTarget, rate int, d time.Duration) (durations, int) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make(durations, n)
	var bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			if !t.deliver(i) {
				bad.Add(1)
			}
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	return lat, int(bad.Load())
}

// pushPayloads is GitHub's real push.new-branch delivery to master, n
// times with a different head SHA each (the bytes otherwise as GitHub
// sent them).
func pushPayloads(b *testing.B, n int) [][]byte {
	b.Helper()
	push := readContract(b, "github/webhooks/push/push.new-branch.json")
	var p struct{ After string }
	if err := json.Unmarshal(push, &p); err != nil || len(p.After) != 40 {
		b.Fatalf("push.new-branch.json: after %q: %v", p.After, err)
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.ReplaceAll(push, []byte(p.After), fmt.Appendf(nil, "%040x", 0xbe0c0000+i))
	}
	return out
}

// readContract reads a file of the shared contracts beside the repository.
func readContract(b *testing.B, rel string) []byte {
	b.Helper()
	for _, dir := range []string{"../../shared/contracts", "../shared/contracts"} {
		if data, err := os.ReadFile(filepath.Join(dir, rel)); err == nil {
			return data
		}
	}
	b.Fatalf("contract %s not found beside the repository", rel)
	return nil
}

// startHookedGitaccess runs gitaccess (SQLite in its data directory, or
// PostgreSQL at dsn) on a listener known before it opens, so its public
// URL is its own, with an auto-deploy application on GitHub (the fake API,
// over TLS under a test CA) and a subscriber to deploy events that counts
// them; it returns the application's hook.
func startHookedGitaccess(b *testing.B, dsn string, payloads [][]byte) *hookTarget {
	b.Helper()
	const repo = "Codertocat/Hello-World"
	gh := forgetest.NewGitHub()
	fake := forgetest.NewServer(b, nil, forgetest.ByHost{"api.github.com": gh})
	gh.AddRepo(forgetest.GitHubRepo{FullName: repo, DefaultBranch: "master"})
	token := "ghp_" + strings.Repeat("H00ks", 7) + "x"
	gh.AddToken(token, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: []string{repo}})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	policy := fake.Policy()
	w := &world{b: b, dataDir: b.TempDir(), cfgDir: b.TempDir(), url: "http://" + ln.Addr().String()}
	app, err := server.Open(context.Background(), server.Config{
		DataDir: w.dataDir, DatabaseURL: dsn, Logger: slog.New(slog.DiscardHandler), Egress: &policy,
		PublicURL: w.url,
		// The subscriber listens on plain http on this host.
		AllowInsecureHTTP: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app.Start(ctx)
	ts := httptest.NewUnstartedServer(app.Handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	b.Cleanup(func() { cancel(); ts.Close(); app.Close() })
	admin, err := os.ReadFile(filepath.Join(w.dataDir, server.AdminAPIKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	owner := strings.TrimSpace(string(admin))

	routed := new(atomic.Int64)
	sub := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		routed.Add(1)
		rw.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(sub.Close)

	w.mustCLI(owner, token, "token", "add", "gh", "--provider", "github")
	w.mustCLI(owner, "", "subscription", "add", sub.URL+"/events", "--events", "deploy.*")
	w.mustCLI(owner, "", "app", "create", "hello", "--repo", "https://github.com/"+repo, "--auto-deploy")
	hooks := gh.Hooks(repo)
	if len(hooks) != 1 || !strings.HasPrefix(hooks[0].URL, w.url+"/hooks/") {
		b.Fatalf("installed hooks = %+v", hooks)
	}
	t := newHookTarget(b, "gitaccess", hooks[0].URL, hooks[0].Secret, payloads)
	t.routed = routed
	return t
}

// startBaseline serves the minimal receiver on its own listener: read the
// body (up to the same 25 MB), check X-Hub-Signature-256 with hmac.Equal,
// insert the body into a scratch table, answer 200. SQLite is a file
// opened as the store opens its own (WAL, synchronous=NORMAL, one writer
// connection, IMMEDIATE transactions, a prepared insert); PostgreSQL a
// pgx pool on its own database with default settings, as the store's.
func startBaseline(b *testing.B, engine, dsn string, payloads [][]byte) *hookTarget {
	b.Helper()
	ctx := context.Background()
	var insert func(ctx context.Context, body []byte) error
	switch engine {
	case "sqlite":
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		u := url.URL{Scheme: "file", Path: filepath.Join(b.TempDir(), "baseline.db"), RawQuery: q.Encode()}
		db, err := sql.Open("sqlite", u.String())
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		b.Cleanup(func() { db.Close() })
		if _, err := db.ExecContext(ctx, `CREATE TABLE deliveries (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`); err != nil {
			b.Fatal(err)
		}
		stmt, err := db.PrepareContext(ctx, `INSERT INTO deliveries (body) VALUES (?)`)
		if err != nil {
			b.Fatal(err)
		}
		insert = func(ctx context.Context, body []byte) error {
			_, err := stmt.ExecContext(ctx, body)
			return err
		}
	case "postgres":
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		if _, err := pool.Exec(ctx, `CREATE TABLE deliveries (id bigserial PRIMARY KEY, body bytea NOT NULL)`); err != nil {
			b.Fatal(err)
		}
		insert = func(ctx context.Context, body []byte) error {
			_, err := pool.Exec(ctx, `INSERT INTO deliveries (body) VALUES ($1)`, body)
			return err
		}
	}
	secret := strings.ToLower(rand.Text())
	key := []byte(secret)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, webhook.MaxBody))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		got, err := hex.DecodeString(strings.TrimPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256="))
		m := hmac.New(sha256.New, key)
		m.Write(body)
		if err != nil || !hmac.Equal(m.Sum(nil), got) {
			http.Error(rw, "bad signature", http.StatusUnauthorized)
			return
		}
		if err := insert(r.Context(), body); err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(srv.Close)
	return newHookTarget(b, "baseline", srv.URL+"/hooks/baseline", secret, payloads)
}
