package storetest

import (
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
