package console

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
)

func tokenExpiring(name, status string, at *time.Time) access.TokenView {
	return access.TokenView{Name: name, Status: status, ExpiresAt: at}
}

func TestTimelinePlacesEveryToken(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	in := func(days int) *time.Time { v := now.Add(time.Duration(days) * 24 * time.Hour); return &v }
	tokens := []access.TokenView{
		tokenExpiring("late", access.StatusValid, in(80)),
		tokenExpiring("soon", access.StatusExpiring, in(10)),
		tokenExpiring("gone", access.StatusExpired, in(-3)),
		tokenExpiring("never", access.StatusValid, nil),
		tokenExpiring("next-year", access.StatusValid, in(400)),
		tokenExpiring("soon-too", access.StatusExpiring, in(11)),
	}
	tl := newTimeline(tokens, now)

	x := map[string]marker{}
	for _, m := range tl.Markers {
		x[m.Name] = m
	}
	if len(tl.Markers) != 4 {
		t.Fatalf("markers = %+v, want gone, soon, soon-too, late", tl.Markers)
	}
	// Position follows the date: expired left of today, then by days.
	if !(x["gone"].X < tl.X0 && tl.X0 < x["soon"].X && x["soon"].X < x["soon-too"].X && x["soon-too"].X < x["late"].X && x["late"].X <= tl.X1) {
		t.Errorf("marker x: gone %d, today %d, soon %d, soon-too %d, late %d, end %d", x["gone"].X, tl.X0, x["soon"].X, x["soon-too"].X, x["late"].X, tl.X1)
	}
	if want := tl.X0 + (tl.X1-tl.X0)*80/TimelineDays; x["late"].X < want-1 || x["late"].X > want+1 {
		t.Errorf("80 days out is at x=%d, want about %d", x["late"].X, want)
	}
	// Close labels go to different lanes.
	if x["soon"].Y == x["soon-too"].Y {
		t.Errorf("soon and soon-too, a day apart, share a lane (y=%d): their names would overlap", x["soon"].Y)
	}
	if x["soon"].Status != access.StatusExpiring || !strings.Contains(x["soon"].Title, "expires 2026-12-02") {
		t.Errorf("soon marker = %+v", x["soon"])
	}
	if len(tl.Later) != 1 || tl.Later[0].Name != "next-year" || len(tl.NoExpiry) != 1 || tl.NoExpiry[0].Name != "never" {
		t.Errorf("later = %v, no expiry = %v", tl.Later, tl.NoExpiry)
	}
	if !strings.Contains(tl.Summary, "3 tokens expire within 90 days (2 within 30 days), 1 expired, 1 expire later, 1 never expire.") {
		t.Errorf("summary = %q", tl.Summary)
	}
	if tl.WarnX <= tl.X0 || tl.WarnX >= x["late"].X {
		t.Errorf("the 30-day band ends at x=%d", tl.WarnX)
	}
	// Every marker sits above the axis, inside the drawing.
	for _, m := range tl.Markers {
		if m.Y <= 0 || m.Y >= tl.AxisY || tl.AxisY >= tl.Height {
			t.Errorf("marker %s at y=%d, axis %d, height %d", m.Name, m.Y, tl.AxisY, tl.Height)
		}
	}
}

func TestTimelineLanesDoNotOverlap(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var tokens []access.TokenView
	for i := range 12 {
		at := now.Add(time.Duration(30+i)*24*time.Hour + time.Hour)
		tokens = append(tokens, tokenExpiring(fmt.Sprintf("token-number-%02d", i), access.StatusValid, &at))
	}
	tl := newTimeline(tokens, now)
	lanes := map[int][]marker{}
	for _, m := range tl.Markers {
		lanes[m.Y] = append(lanes[m.Y], m)
	}
	if len(lanes) > tlMaxLanes {
		t.Errorf("%d lanes, at most %d", len(lanes), tlMaxLanes)
	}
	overlaps := 0
	for _, ms := range lanes {
		for i := 1; i < len(ms); i++ {
			end := ms[i-1].X + int(float64(len(ms[i-1].Name))*tlCharWidth)
			if end >= ms[i].X {
				overlaps++
			}
		}
	}
	// Twelve long names in twelve days cannot all fit in eight lanes; only
	// the overflow may overlap.
	if overlaps > len(tokens)-tlMaxLanes {
		t.Errorf("%d overlapping labels", overlaps)
	}
}
