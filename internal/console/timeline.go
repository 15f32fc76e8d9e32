package console

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
)

// The expiry timeline is an SVG drawn here, on the server: no chart
// library, no script. The x axis is the next TimelineDays days; each token
// that expires in them is a marker colored by status with its name beside
// it, names stacked in lanes so they do not overlap.
const (
	TimelineDays = 90
	tlWidth      = 900
	tlLeft       = 90 // room for the "expired" column
	tlRight      = 20
	tlTop        = 12
	tlLane       = 22
	tlMaxLanes   = 8
	tlCharWidth  = 7.2 // average label glyph width at font-size 12
)

type timeline struct {
	Width, Height int
	AxisY         int
	X0, X1        int
	// WarnX ends the shaded band of the last access.ExpiringWithin days.
	WarnX   int
	Ticks   []tick
	Markers []marker
	// Later expire after the window; NoExpiry never expire.
	Later    []access.TokenView
	NoExpiry []access.TokenView
	Summary  string
}

type tick struct {
	X     int
	Label string
}

type marker struct {
	X, Y, LabelX int
	Status       string
	Name, Title  string
}

func newTimeline(tokens []access.TokenView, now time.Time) timeline {
	tl := timeline{Width: tlWidth, X0: tlLeft, X1: tlWidth - tlRight}
	span := float64(tl.X1 - tl.X0)
	xOf := func(t time.Time) int {
		d := t.Sub(now).Hours() / 24
		return tl.X0 + int(span*d/TimelineDays)
	}
	tl.WarnX = xOf(now.Add(access.ExpiringWithin))
	for d := 0; d <= TimelineDays; d += 15 {
		at := now.AddDate(0, 0, d)
		label := at.UTC().Format("Jan 2")
		if d == 0 {
			label = "today"
		}
		tl.Ticks = append(tl.Ticks, tick{X: xOf(at), Label: label})
	}
	type item struct {
		t access.TokenView
		x int
	}
	var items []item
	expired, soon := 0, 0
	for _, t := range tokens {
		switch {
		case t.ExpiresAt == nil:
			tl.NoExpiry = append(tl.NoExpiry, t)
		case !t.ExpiresAt.After(now):
			expired++
			items = append(items, item{t, tl.X0 - 55})
		case t.ExpiresAt.Sub(now) > TimelineDays*24*time.Hour:
			tl.Later = append(tl.Later, t)
		default:
			if t.ExpiresAt.Sub(now) <= access.ExpiringWithin {
				soon++
			}
			items = append(items, item{t, xOf(*t.ExpiresAt)})
		}
	}
	slices.SortStableFunc(items, func(a, b item) int { return a.x - b.x })
	// Greedy lanes: each label goes in the first lane whose last label
	// ends before it starts.
	var laneEnd []int
	for _, it := range items {
		lane := -1
		for i, end := range laneEnd {
			if end < it.x {
				lane = i
				break
			}
		}
		if lane < 0 {
			if len(laneEnd) < tlMaxLanes {
				laneEnd = append(laneEnd, 0)
				lane = len(laneEnd) - 1
			} else {
				lane = len(laneEnd) - 1 // crowded: overlap the last lane
			}
		}
		labelW := int(float64(len(it.t.Name))*tlCharWidth) + 16
		laneEnd[lane] = it.x + labelW
		title := fmt.Sprintf("%s: %s, expires %s", it.t.Name, statusLabel(it.t.Status), it.t.ExpiresAt.UTC().Format(time.DateOnly))
		tl.Markers = append(tl.Markers, marker{X: it.x, Y: tlTop + lane*tlLane + 8, LabelX: it.x + 6, Status: it.t.Status, Name: it.t.Name, Title: title})
	}
	lanes := max(len(laneEnd), 1)
	tl.AxisY = tlTop + lanes*tlLane + 10
	tl.Height = tl.AxisY + 30
	n := len(items) - expired
	verb := "tokens expire"
	if n == 1 {
		verb = "token expires"
	}
	parts := []string{fmt.Sprintf("%d %s within %d days (%d within %d days)", n, verb, TimelineDays, soon, int(access.ExpiringWithin.Hours()/24))}
	for _, p := range []struct {
		n    int
		what string
	}{{expired, "expired"}, {len(tl.Later), "expire later"}, {len(tl.NoExpiry), "never expire"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	tl.Summary = strings.Join(parts, ", ") + "."
	return tl
}
