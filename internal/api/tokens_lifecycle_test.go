package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestTokenLifecycleOverHTTP: impact, a delete refused while the token is
// in use (409 naming what uses it), forced; rotation input errors.
func TestTokenLifecycleOverHTTP(t *testing.T) {
	w := newWorld(t)
	owner := w.callers[0].key

	imp := do(t, w.h, http.MethodGet, "/api/v1/tokens/prod/impact", owner, nil)
	if imp.status != http.StatusOK {
		t.Fatalf("impact: %d %s", imp.status, imp.body)
	}
	m := imp.json(t)
	apps, _ := m["applications"].([]any)
	if m["in_use"] != true || len(apps) < 2 || len(m["hooks"].([]any)) != 1 {
		t.Errorf("impact of prod = %s", imp.body)
	}

	r := do(t, w.h, http.MethodDelete, "/api/v1/tokens/prod?confirm=prod", owner, nil)
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), "web") || !strings.Contains(string(r.body), "force") {
		t.Fatalf("deleting a token in use: %d %s", r.status, r.body)
	}
	r = do(t, w.h, http.MethodDelete, "/api/v1/tokens/prod?confirm=prod&reassign=prod", owner, nil)
	if r.status != http.StatusBadRequest {
		t.Errorf("reassigning a token to itself: %d %s", r.status, r.body)
	}
	r = do(t, w.h, http.MethodDelete, "/api/v1/tokens/prod?confirm=prod&reassign=nope&force=true", owner, nil)
	if r.status != http.StatusBadRequest {
		t.Errorf("reassign and force together: %d %s", r.status, r.body)
	}

	r = do(t, w.h, http.MethodPost, "/api/v1/tokens/prod/rotate", owner, map[string]any{"value": w.prodValue})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "already holds") {
		t.Errorf("rotating to the same value: %d %s", r.status, r.body)
	}
	r = do(t, w.h, http.MethodPost, "/api/v1/tokens/prod/rotate", owner, map[string]any{"provider_rotate": true})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "GitLab") {
		t.Errorf("provider rotation of a GitHub token: %d %s", r.status, r.body)
	}
	r = do(t, w.h, http.MethodPost, "/api/v1/tokens/prod/rotate", owner, map[string]any{})
	if r.status != http.StatusBadRequest {
		t.Errorf("rotation without a value: %d %s", r.status, r.body)
	}

	r = do(t, w.h, http.MethodDelete, "/api/v1/tokens/prod?confirm=prod&force=true", owner, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("forced delete: %d %s", r.status, r.body)
	}
	if r := do(t, w.h, http.MethodGet, "/api/v1/tokens/prod", owner, nil); r.status != http.StatusNotFound {
		t.Errorf("token still there after a forced delete: %d", r.status)
	}
}
