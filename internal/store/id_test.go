package store

import (
	"regexp"
	"testing"
	"time"
)

func TestSortableIDsSortByTime(t *testing.T) {
	format := regexp.MustCompile(`^dlv_[0-9a-v]{21}$`)
	start := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	prev := ""
	seen := map[string]bool{}
	for i := range 2000 {
		// Several ids per microsecond, as a burst makes them.
		id := NewSortableID("dlv", start.Add(time.Duration(i/4)*time.Microsecond))
		if !format.MatchString(id) {
			t.Fatalf("id %q: want dlv_ and 21 lowercase base32hex characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		if i%4 == 0 && id <= prev {
			t.Fatalf("id %q made a microsecond later sorts before %q", id, prev)
		}
		prev = id
	}
	// Years apart still sort by time (the prefix is the whole timestamp).
	if a, b := NewSortableID("evt", start), NewSortableID("evt", start.AddDate(30, 0, 0)); a >= b {
		t.Fatalf("%q (2026) does not sort before %q (2056)", a, b)
	}
}
