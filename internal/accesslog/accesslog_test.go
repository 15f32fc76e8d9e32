package accesslog

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecorderKeepsTheFirstStatus(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewRecorder(rec)
	if w.Written() || w.Status() != http.StatusOK {
		t.Fatalf("fresh recorder: written %v status %d, want false 200", w.Written(), w.Status())
	}
	w.WriteHeader(http.StatusTeapot)
	w.WriteHeader(http.StatusInternalServerError) // ignored by net/http too
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if !w.Written() || w.Status() != http.StatusTeapot || rec.Code != http.StatusTeapot {
		t.Fatalf("status %d (sent %d), want 418", w.Status(), rec.Code)
	}
	if http.NewResponseController(w).Flush() != nil {
		t.Fatal("Unwrap should let a ResponseController flush the underlying writer")
	}
}

func TestRecorderWriteMeans200(t *testing.T) {
	w := NewRecorder(httptest.NewRecorder())
	if _, err := w.Write([]byte("body")); err != nil {
		t.Fatal(err)
	}
	if !w.Written() || w.Status() != http.StatusOK {
		t.Fatalf("after Write: written %v status %d", w.Written(), w.Status())
	}
}
