package gitlab

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
)

func TestBotName(t *testing.T) {
	tests := []struct {
		username, kind, id string
	}{
		// Since UsernameAndEmailGenerator: prefix, "_", 32 hex digits.
		{"group_42_bot_0f1e2d3c4b5a69788796a5b4c3d2e1f0", "group", "42"},
		{"project_7_bot_0123456789abcdef0123456789abcdef", "project", "7"},
		// Before it: the bare prefix, then Uniquify's counter.
		{"project_7_bot", "project", "7"},
		{"project_7_bot1", "project", "7"},
		{"alice", "", ""},
		{"group_bot", "", ""},
		{"my_project_7_bot", "", ""},
	}
	for _, tc := range tests {
		m := botName.FindStringSubmatch(tc.username)
		var kind, id string
		if m != nil {
			kind, id = m[1], m[2]
		}
		if kind != tc.kind || id != tc.id {
			t.Errorf("%s: kind %q id %q, want %q %q", tc.username, kind, id, tc.kind, tc.id)
		}
	}
}

// The adapter reads the associations answer as GitLab documents it.
func TestAssociationsLevelFromContractExample(t *testing.T) {
	b, err := os.ReadFile("../forgetest/testdata/gitlab/api/personal_access_tokens.self_associations.docs-example.json")
	if err != nil {
		t.Fatal(err)
	}
	var a associations
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind string
		id   int64
		want int
	}{
		{"group", 3, 50},
		{"group", 1, 20},
		{"group", 99, 50}, // not on the page: any listed group's level is inherited from the bot's
		{"project", 1337, 0},
	}
	for _, tc := range tests {
		if got := a.level(tc.kind, tc.id); got != tc.want {
			t.Errorf("level(%s, %d) = %d, want %d", tc.kind, tc.id, got, tc.want)
		}
	}
}

func TestResetTime(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Time
	}{
		{"RateLimit-Reset wins", http.Header{"Ratelimit-Reset": {"1906718460"}, "Retry-After": {"5"}}, time.Unix(1906718460, 0).UTC()},
		{"RateLimit-ResetTime", http.Header{"Ratelimit-Resettime": {"Sat, 01 Jun 2030 12:01:00 GMT"}}, now.Add(time.Minute)},
		{"Retry-After seconds", http.Header{"Retry-After": {"90"}}, now.Add(90 * time.Second)},
		{"Retry-After date", http.Header{"Retry-After": {"Sat, 01 Jun 2030 12:05:00 GMT"}}, now.Add(5 * time.Minute)},
		{"nothing", http.Header{}, time.Time{}},
	}
	for _, tc := range tests {
		if got := resetTime(tc.header, now); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRoleNames(t *testing.T) {
	for level, want := range map[int]string{10: "Guest", 15: "Planner", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"} {
		if got := roleName(level); got != want {
			t.Errorf("roleName(%d) = %q, want %q", level, got, want)
		}
	}
}

func TestInspectRefusesUnknownUse(t *testing.T) {
	e := newEnv(t)
	_, err := inspect(t, e.f, cloud(), tokPersonal, forge.Use("deploy"))
	var ie *forge.InvalidInputError
	if !errors.As(err, &ie) || ie.Field != "use" {
		t.Fatalf("err = %v, want InvalidInputError on use", err)
	}
	if n := e.gl.Requests(tokPersonal); n != 0 {
		t.Errorf("GitLab saw %d requests for a refused call", n)
	}
}
