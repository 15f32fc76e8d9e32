package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// BenchListTokens10k seeds s with one organization of 10,000 realistic
// tokens (report ~1 KB, sealed 200 B), then measures the first page of 100
// and a walk over all of them in pages of 1000, reporting p50 and p99
// latency per operation beside the mean.
func BenchListTokens10k(b *testing.B, s store.Store) {
	const n = 10_000
	org := store.Org{ID: newID("org"), Name: "bench", CreatedAt: when(0)}
	if err := s.CreateOrg(b.Context(), org); err != nil {
		b.Fatal(err)
	}
	SeedTokens(b, s, org.ID, n)

	b.Run("FirstPage100", func(b *testing.B) {
		var lat Latencies
		for b.Loop() {
			start := time.Now()
			page, next, err := s.ListTokens(b.Context(), org.ID, store.Page{Limit: 100})
			lat = append(lat, time.Since(start))
			if err != nil || len(page) != 100 || next == "" {
				b.Fatalf("first page: %d tokens, next %q, err %v", len(page), next, err)
			}
		}
		lat.Report(b)
	})
	b.Run("WalkAll1000", func(b *testing.B) {
		var lat Latencies
		for b.Loop() {
			start := time.Now()
			total, p := 0, store.Page{Limit: 1000}
			for {
				page, next, err := s.ListTokens(b.Context(), org.ID, p)
				if err != nil {
					b.Fatal(err)
				}
				total += len(page)
				if next == "" {
					break
				}
				p.After = next
			}
			lat = append(lat, time.Since(start))
			if total != n {
				b.Fatalf("walked %d tokens, want %d", total, n)
			}
		}
		lat.Report(b)
	})
}

// Latencies collects per-operation durations to report p50 and p99.
type Latencies []time.Duration

// Report adds p50 and p99 metrics to b.
func (l Latencies) Report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(q float64) float64 { return float64(l[int(q*float64(len(l)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns/op")
	b.ReportMetric(at(0.99), "p99-ns/op")
}

// BenchMatchPrefix10k seeds s with one organization of 10,000 tokens, each
// serving two prefixes (its group, and a project nested in the next
// token's group, so lookups have a shorter prefix to pass over), beside a
// second organization with the same prefixes. It measures a resolution
// through the nested prefix, one through the group prefix, and a miss,
// reporting p50 and p99 latency per lookup beside the mean.
func BenchMatchPrefix10k(b *testing.B, s store.Store) {
	const n = 10_000
	group := func(i int) string { return fmt.Sprintf("https://git.example.com/group-%05d/", i%n) }
	prefixes := func(i int) []string { return []string{group(i), group(i+1) + "platform/"} }
	var org store.Org
	for _, name := range []string{"noise", "bench"} {
		org = store.Org{ID: newID("org"), Name: name, CreatedAt: when(0)}
		if err := s.CreateOrg(b.Context(), org); err != nil {
			b.Fatal(err)
		}
		seedTokens(b, s, org.ID, n, prefixes)
	}

	for _, bc := range []struct {
		name, url, prefix string
	}{
		{"Nested", group(4242) + "platform/api/service", group(4242) + "platform/"},
		{"Group", group(4242) + "billing/api", group(4242)},
		{"Miss", "https://git.example.com/unknown/platform/api", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var lat Latencies
			for b.Loop() {
				start := time.Now()
				_, prefix, err := s.MatchPrefix(b.Context(), org.ID, bc.url)
				lat = append(lat, time.Since(start))
				if bc.prefix == "" && !errors.Is(err, store.ErrNotFound) || bc.prefix != "" && (err != nil || prefix != bc.prefix) {
					b.Fatalf("MatchPrefix(%q) = %q, %v; want %q", bc.url, prefix, err, bc.prefix)
				}
			}
			lat.Report(b)
		})
	}
}

// BenchRecordDelivery measures the webhook receiver's hot path: parallel
// RecordDelivery calls with ~4 KB bodies and unique delivery ids, in
// deliveries/s with p50 and p99 latency. BareInsert, in the same run,
// inserts the same bodies with bare through the same connection setup
// (one INSERT of the body into a scratch table): the store-level floor of
// a minimal verify-and-insert handler. The ratio of the two is logged.
func BenchRecordDelivery(b *testing.B, s store.Store, bare func(ctx context.Context, body []byte) error) {
	org := store.Org{ID: newID("org"), Name: "bench", CreatedAt: when(0)}
	if err := s.CreateOrg(b.Context(), org); err != nil {
		b.Fatal(err)
	}
	app := newApp(org.ID, "api", "")
	if err := s.CreateApp(b.Context(), app); err != nil {
		b.Fatal(err)
	}
	hook := newHook(org.ID, app.ID)
	if err := s.CreateHook(b.Context(), hook); err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, 64)
	size := 0
	for i := range bodies {
		bodies[i] = pushPayload(i)
		size += len(bodies[i])
	}
	headers := []byte(`{"Content-Type":["application/json"],"User-Agent":["GitHub-Hookshot/8e1d4b2"],` +
		`"X-Github-Delivery":["72d3162e-cc78-11e3-81ab-4c9367dc0958"],"X-Github-Event":["push"],` +
		`"X-Github-Hook-Id":["48151623"]}`)
	run := rand.Text()[:8]

	var rates [2]float64
	measure := func(b *testing.B, unit string, op func(ctx context.Context, i int64, body []byte) error) float64 {
		b.SetBytes(int64(size / len(bodies)))
		// Many requests in flight, as on a busy receiver.
		b.SetParallelism(8)
		var next atomic.Int64
		var mu sync.Mutex
		var all Latencies
		b.RunParallel(func(pb *testing.PB) {
			var lat Latencies
			for pb.Next() {
				i := next.Add(1)
				start := time.Now()
				if err := op(b.Context(), i, bodies[i%int64(len(bodies))]); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(start))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
		rate := float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(rate, unit)
		all.Report(b)
		return rate
	}
	b.Run("RecordDelivery", func(b *testing.B) {
		rates[0] = measure(b, "deliveries/s", func(ctx context.Context, i int64, body []byte) error {
			d := store.Delivery{ID: fmt.Sprintf("dlv_%s_%d", run, i), OrgID: org.ID, HookID: hook.ID, AppID: app.ID,
				Provider: "github", DeliveryID: fmt.Sprintf("%s-%d", run, i), Event: "push", ReceivedAt: time.Now(),
				Headers: headers, Body: body, Verdict: "pending"}
			_, dup, err := s.RecordDelivery(ctx, d)
			if err == nil && dup {
				err = fmt.Errorf("delivery %s: a duplicate", d.DeliveryID)
			}
			return err
		})
	})
	b.Run("BareInsert", func(b *testing.B) {
		rates[1] = measure(b, "inserts/s", func(ctx context.Context, _ int64, body []byte) error { return bare(ctx, body) })
	})
	if rates[0] > 0 && rates[1] > 0 {
		b.Logf("RecordDelivery: %.0f deliveries/s, %.0f%% of a bare insert's %.0f/s", rates[0], 100*rates[0]/rates[1], rates[1])
	}
}

// pushPayload is a GitHub push delivery of about 4 KB: JSON, with the
// commit ids and messages that make each one different.
func pushPayload(i int) []byte {
	sha := func() string { return hex.EncodeToString(randomBytes(20)) }
	commit := func() map[string]any {
		return map[string]any{
			"id": sha(), "tree_id": sha(), "distinct": true,
			"message":   fmt.Sprintf("Fix flaky deploy step %d\n\n%s", i, strings.Repeat("Details of the change. ", 6)),
			"timestamp": "2025-03-04T05:06:07+01:00",
			"url":       "https://github.com/acme/platform-api/commit/" + sha(),
			"author":    map[string]string{"name": "Dev Eloper", "email": "dev@example.com", "username": "dev"},
			"committer": map[string]string{"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
			"added":     []string{}, "removed": []string{},
			"modified": []string{"services/api/deploy.go", "services/api/deploy_test.go"},
		}
	}
	p := map[string]any{
		"ref": "refs/heads/main", "before": sha(), "after": sha(), "created": false, "deleted": false, "forced": false,
		"compare": "https://github.com/acme/platform-api/compare/" + sha()[:12] + "..." + sha()[:12],
		"commits": []any{commit(), commit(), commit()}, "head_commit": commit(),
		"repository": map[string]any{
			"id": 35129377, "node_id": "MDEwOlJlcG9zaXRvcnkzNTEyOTM3Nw==", "name": "platform-api",
			"full_name": "acme/platform-api", "private": true, "default_branch": "main",
			"html_url": "https://github.com/acme/platform-api", "clone_url": "https://github.com/acme/platform-api.git",
			"owner": map[string]any{"login": "acme", "id": 21031067, "type": "Organization"},
		},
		"pusher": map[string]string{"name": "dev", "email": "dev@example.com"},
		"sender": map[string]any{"login": "dev", "id": 6752317, "type": "User"},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // static shapes: cannot fail
	}
	return b
}
