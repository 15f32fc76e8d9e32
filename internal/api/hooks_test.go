package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/webhook"
)

// fakeWebhooks stands in for webhook.Service: it records what Receive
// was given and answers receipt or err.
type fakeWebhooks struct {
	receipt webhook.Receipt
	err     error

	mu    sync.Mutex
	calls []received
}

type received struct {
	hookID string
	header http.Header
	body   []byte
}

func (f *fakeWebhooks) Receive(_ context.Context, hookID string, h http.Header, body []byte) (webhook.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, received{hookID, h.Clone(), bytes.Clone(body)})
	if f.err != nil {
		return webhook.Receipt{}, f.err
	}
	return f.receipt, nil
}

func (f *fakeWebhooks) received() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.calls...)
}

func newHookFake(t *testing.T) (http.Handler, *fakeWebhooks, *logBuffer) {
	t.Helper()
	log, lb := newTestLogger()
	wh := &fakeWebhooks{}
	return New(Config{Service: &fakeService{}, Webhooks: wh, Logger: log}), wh, lb
}

// deliver posts body to the receiver as a provider would: no API key.
func deliver(t *testing.T, h http.Handler, hookID, contentType string, body io.Reader, header http.Header) response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/hooks/"+hookID, body)
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func TestReceiveHookAnswers(t *testing.T) {
	storeDown := errors.New("sqlite: database is locked (SQLITE_BUSY) at /var/lib/gitaccess/secret-path")
	for _, tc := range []struct {
		name     string
		receipt  webhook.Receipt
		err      error
		status   int
		slug     string
		wantBody string
	}{
		{name: "accepted", receipt: webhook.Receipt{Verdict: webhook.VerdictAccepted, DeliveryID: "d-1", Event: "push"}, status: 200,
			wantBody: `{"verdict":"accepted","delivery_id":"d-1"}`},
		{name: "duplicate", receipt: webhook.Receipt{Verdict: webhook.VerdictDuplicate, DeliveryID: "d-1", Event: "push"}, status: 200,
			wantBody: `{"verdict":"duplicate","delivery_id":"d-1"}`},
		// GitHub's ping is a delivery like any other.
		{name: "ping", receipt: webhook.Receipt{Verdict: webhook.VerdictAccepted, DeliveryID: "d-ping", Event: "ping"}, status: 200,
			wantBody: `{"verdict":"accepted","delivery_id":"d-ping"}`},
		{name: "unknown hook", err: webhook.ErrUnknownHook, status: 404, slug: slugNotFound},
		{name: "unsigned", err: fmt.Errorf("hook hk_1: %w", forge.ErrUnsigned), status: 401, slug: slugBadSignature},
		{name: "bad signature", err: fmt.Errorf("hook hk_1: %w", forge.ErrBadSignature), status: 401, slug: slugBadSignature},
		{name: "store failure", err: fmt.Errorf("storing delivery: %w", storeDown), status: 500, slug: slugInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, wh, logs := newHookFake(t)
			wh.receipt, wh.err = tc.receipt, tc.err
			res := deliver(t, h, "hk_1", "application/json", strings.NewReader(`{"zen":"Keep it logically awesome."}`),
				http.Header{"X-Github-Event": {"push"}, "X-Github-Delivery": {"d-1"}})
			if res.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.status, tc.status, res.body)
			}
			if tc.wantBody != "" {
				if got := strings.TrimSpace(string(res.body)); got != tc.wantBody || res.header.Get("Content-Type") != "application/json" {
					t.Errorf("body = %s (%s), want %s", got, res.header.Get("Content-Type"), tc.wantBody)
				}
			} else {
				m := res.json(t)
				if m["type"] != ProblemTypePrefix+tc.slug || res.header.Get("Content-Type") != "application/problem+json" || m["request_id"] == "" {
					t.Errorf("problem = %v (%s), want type %s with a request id", m, res.header.Get("Content-Type"), tc.slug)
				}
			}
			// No API key is asked for, so none is challenged for.
			if got := res.header.Get("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if strings.Contains(string(res.body), "secret-path") {
				t.Errorf("an internal error reached the provider: %s", res.body)
			}
			if tc.status == 500 && !strings.Contains(logs.String(), "secret-path") {
				t.Errorf("the store failure was not logged:\n%s", logs)
			}
			calls := wh.received()
			if len(calls) != 1 || calls[0].hookID != "hk_1" || calls[0].header.Get("X-GitHub-Event") != "push" {
				t.Errorf("Receive calls = %+v", calls)
			}
		})
	}
}

func TestReceiveHookPassesTheRawBody(t *testing.T) {
	// GitHub sends form-encoded payloads when the hook is set so; the
	// signature is over these exact bytes, so nothing may decode them.
	form := "payload=%7B%22zen%22%3A%22Design+for+failure.%22%2C%22hook_id%22%3A1%7D"
	binary := "{\"a\":1}\r\n\x00\xff\xfe not JSON at all \x1b[31m"
	for _, tc := range []struct{ contentType, body string }{
		{"application/x-www-form-urlencoded", form},
		{"application/json", `{"ref":"refs/heads/main",  "after":"0123"}` + "\n"},
		{"application/json", "{not json"},
		{"text/plain; charset=utf-8", binary},
		{"application/octet-stream", ""},
	} {
		h, wh, _ := newHookFake(t)
		wh.receipt = webhook.Receipt{Verdict: webhook.VerdictAccepted}
		// No Authorization header: the provider has no API key.
		res := deliver(t, h, "hk_form", tc.contentType, strings.NewReader(tc.body), nil)
		if res.status != http.StatusOK {
			t.Fatalf("%s: status = %d: %s", tc.contentType, res.status, res.body)
		}
		calls := wh.received()
		if len(calls) != 1 || !bytes.Equal(calls[0].body, []byte(tc.body)) {
			t.Errorf("%s: Receive got %q, want the body byte for byte", tc.contentType, calls[0].body)
		}
		if got := calls[0].header.Get("Content-Type"); got != tc.contentType {
			t.Errorf("Content-Type reached Receive as %q", got)
		}
	}
}

func TestReceiveHookWithoutWebhooksKnowsNoHook(t *testing.T) {
	h, _, _ := newFake(t)
	res := deliver(t, h, "hk_1", "application/json", strings.NewReader("{}"), nil)
	if res.status != http.StatusNotFound {
		t.Errorf("status = %d: %s", res.status, res.body)
	}
}

// countingReader yields n bytes without holding them, counting what is
// read.
type countingReader struct {
	n, read int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n-r.read)
	for i := range k {
		p[i] = 'a'
	}
	r.read += k
	return int(k), nil
}

func TestReceiveHookBoundsTheBody(t *testing.T) {
	t.Run("exactly the limit", func(t *testing.T) {
		h, wh, _ := newHookFake(t)
		wh.receipt = webhook.Receipt{Verdict: webhook.VerdictAccepted}
		res := deliver(t, h, "hk_1", "application/json", &countingReader{n: webhook.MaxBody}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("status = %d: %s", res.status, res.body)
		}
		if calls := wh.received(); len(calls) != 1 || len(calls[0].body) != webhook.MaxBody {
			t.Errorf("Receive did not get the %d bytes", webhook.MaxBody)
		}
	})
	t.Run("one byte more, length unknown", func(t *testing.T) {
		h, wh, _ := newHookFake(t)
		body := &countingReader{n: 2 * webhook.MaxBody}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/hooks/hk_1", body)
		req.ContentLength = -1 // chunked: only reading finds the size out
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkTooLarge(t, response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()})
		if body.read > webhook.MaxBody+1 {
			t.Errorf("read %d bytes of an oversized body; the limit is %d", body.read, webhook.MaxBody)
		}
		if n := len(wh.received()); n != 0 {
			t.Errorf("Receive was called %d times", n)
		}
	})
	t.Run("declared too long", func(t *testing.T) {
		h, wh, _ := newHookFake(t)
		body := &countingReader{n: webhook.MaxBody + 1}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/hooks/hk_1", body)
		req.ContentLength = webhook.MaxBody + 1
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkTooLarge(t, response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()})
		if body.read != 0 {
			t.Errorf("read %d bytes of a body declared too long", body.read)
		}
		if n := len(wh.received()); n != 0 {
			t.Errorf("Receive was called %d times", n)
		}
	})
}

func checkTooLarge(t *testing.T, res response) {
	t.Helper()
	if res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d: %s", res.status, res.body)
	}
	if m := res.json(t); m["type"] != ProblemTypePrefix+slugRequestTooLarge || !strings.Contains(m["detail"].(string), "25 MB") {
		t.Errorf("problem = %v", m)
	}
}

// Over a real store and webhook.Service: what the provider's deliveries
// became is what hook deliveries shows, refusals included.
func TestReceiveHookThroughTheStore(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	app, err := w.svc.GetApp(ctx, w.owner, "hooked")
	if err != nil {
		t.Fatal(err)
	}
	hook, err := w.st.GetHookByApp(ctx, w.owner.OrgID, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := w.kr.Open(hook.Sealed, access.AssociatedData("hooks", hook.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(app.Hook.URL, "/hooks/"+hook.ID) {
		t.Fatalf("hook URL %s does not end in /hooks/%s", app.Hook.URL, hook.ID)
	}
	push := func(sig, id string) response {
		hdr := http.Header{"X-Github-Event": {"push"}, "X-Github-Delivery": {id}}
		if sig != "" {
			hdr.Set("X-Test-Signature", sig)
		}
		return deliver(t, w.h, hook.ID, "application/json", strings.NewReader(`{"ref":"refs/heads/main"}`), hdr)
	}
	if res := push("", "d-unsigned"); res.status != http.StatusUnauthorized {
		t.Errorf("unsigned: %d %s", res.status, res.body)
	}
	if res := push("wrong", "d-forged"); res.status != http.StatusUnauthorized {
		t.Errorf("forged: %d %s", res.status, res.body)
	}
	for _, want := range []string{`{"verdict":"accepted","delivery_id":"d-1"}`, `{"verdict":"duplicate","delivery_id":"d-1"}`} {
		if res := push(sec.Reveal(), "d-1"); res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != want {
			t.Errorf("signed: %d %s, want %s", res.status, res.body, want)
		}
	}
	if res := deliver(t, w.h, "hk_nobody", "application/json", strings.NewReader("{}"), nil); res.status != http.StatusNotFound {
		t.Errorf("unknown hook: %d %s", res.status, res.body)
	}

	member := w.callers[3]
	res := do(t, w.h, http.MethodGet, "/api/v1/apps/hooked/deliveries", member.key, nil)
	if res.status != http.StatusOK {
		t.Fatalf("deliveries: %d %s", res.status, res.body)
	}
	var list struct {
		Items []access.DeliveryView `json:"items"`
	}
	if err := json.Unmarshal(res.body, &list); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range list.Items {
		got = append(got, fmt.Sprintf("%s %s %s dup=%d", d.Event, d.DeliveryID, d.Verdict, d.Duplicates))
	}
	// Refused deliveries keep no provider id, so a forged one cannot
	// block the real one.
	want := []string{"push d-1 pending dup=1", "push  bad-signature dup=0", "push  bad-signature dup=0"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("deliveries, newest first (-want +got):\n%s", d)
	}
	if strings.Contains(string(res.body), sec.Reveal()) || strings.Contains(w.logs.String(), sec.Reveal()) {
		t.Error("the hook secret was shown")
	}
}

func TestHookSubscriptionAndEventRoutes(t *testing.T) {
	h, f, logs := newFake(t)

	res := do(t, h, http.MethodDelete, "/api/v1/apps/web?force=true", fakeKey, nil)
	if res.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	do(t, h, http.MethodDelete, "/api/v1/apps/web", fakeKey, nil)
	if d := cmp.Diff([]string{"web force=true", "web force=false"}, f.deletes); d != "" {
		t.Errorf("deletes (-want +got):\n%s", d)
	}

	for _, path := range []string{"/api/v1/apps/web/hook/check", "/api/v1/apps/web/hook/repair"} {
		res := do(t, h, http.MethodPost, path, fakeKey, nil)
		if res.status != http.StatusOK || res.json(t)["state"] != "installed" || res.json(t)["url"] != "https://gitaccess.example.com/hooks/hk_1" {
			t.Errorf("%s: %d %s", path, res.status, res.body)
		}
	}

	res = do(t, h, http.MethodGet, "/api/v1/apps/web/deliveries?cursor=c1&limit=5", fakeKey, nil)
	want := `{"items":[{"id":"dlv_1","delivery_id":"d-1","event":"push","received_at":"2026-03-04T05:06:07Z","verdict":"ignored","detail":"push to feature, not main"}],"next_cursor":""}`
	if res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != want {
		t.Errorf("deliveries: %d %s", res.status, res.body)
	}
	if d := cmp.Diff(store.Page{After: "c1", Limit: 5}, f.pages[len(f.pages)-1]); d != "" {
		t.Errorf("page (-want +got):\n%s", d)
	}
	res = do(t, h, http.MethodGet, "/api/v1/apps/web/deliveries?limit=5000", fakeKey, nil)
	if res.status != http.StatusBadRequest {
		t.Errorf("limit 5000: %d %s", res.status, res.body)
	}

	res = do(t, h, http.MethodPost, "/api/v1/subscriptions", fakeKey, map[string]any{"url": "https://platform.example.com/events", "events": []string{"deploy.*", "preview.*"}})
	if res.status != http.StatusCreated {
		t.Fatalf("create subscription: %d %s", res.status, res.body)
	}
	want = `{"id":"sub_1","url":"https://platform.example.com/events","events":["deploy.*","preview.*"],"created_at":"2026-03-04T05:06:07Z","secret":"` + fakeSubSecret + `"}`
	if got := strings.TrimSpace(string(res.body)); got != want {
		t.Errorf("created subscription = %s, want %s", got, want)
	}
	if d := cmp.Diff([]access.SubscriptionInput{{URL: "https://platform.example.com/events", Events: []string{"deploy.*", "preview.*"}}}, f.subs); d != "" {
		t.Errorf("subscription input (-want +got):\n%s", d)
	}
	res = do(t, h, http.MethodPost, "/api/v1/subscriptions", fakeKey, map[string]any{"url": "https://x.example", "events": []string{"*"}, "secret": "mine"})
	if res.status != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s", res.status, res.body)
	}

	res = do(t, h, http.MethodGet, "/api/v1/subscriptions", fakeKey, nil)
	if res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != `{"items":[]}` {
		t.Errorf("list subscriptions: %d %s", res.status, res.body)
	}
	if res := do(t, h, http.MethodDelete, "/api/v1/subscriptions/sub_1", fakeKey, nil); res.status != http.StatusNoContent {
		t.Errorf("delete subscription: %d %s", res.status, res.body)
	}

	res = do(t, h, http.MethodGet, "/api/v1/events?limit=20", fakeKey, nil)
	want = `{"items":[{"id":"evt_1","type":"deploy.requested","created_at":"2026-03-04T05:06:07Z","payload":{"app":"web"},` +
		`"deliveries":[{"subscription":"sub_1","status":"failed","attempts":3,"last_error":"HTTP 500","last_status":500}]}],"next_cursor":""}`
	if res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != want {
		t.Errorf("events: %d %s", res.status, res.body)
	}
	res = do(t, h, http.MethodPost, "/api/v1/events/evt_1/replay", fakeKey, nil)
	if res.status != http.StatusAccepted || len(bytes.TrimSpace(res.body)) != 0 {
		t.Errorf("replay: %d %q", res.status, res.body)
	}

	f.err = &access.Error{Kind: access.KindNotFound, Message: `no event "evt_9" in organization default`}
	res = do(t, h, http.MethodPost, "/api/v1/events/evt_9/replay", fakeKey, nil)
	if res.status != http.StatusNotFound {
		t.Errorf("replay unknown: %d %s", res.status, res.body)
	}

	if strings.Contains(logs.String(), fakeSubSecret) {
		t.Error("the signing secret reached the log")
	}
}
