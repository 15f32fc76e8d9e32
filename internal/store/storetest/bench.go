package storetest

import (
	"errors"
	"fmt"
	"slices"
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
