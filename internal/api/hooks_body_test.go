package api

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// A delivery's body is read whole whatever Content-Length declared (the
// declared length only sizes the first buffer), and the size limit still
// applies.
func TestReadBody(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 600) // 9,600 bytes
	for _, declared := range []int64{-1, 0, 1, 100, int64(len(body)), int64(len(body)) + 1, 1 << 30} {
		// One byte per Read: the buffer must grow past a short declaration.
		got, err := readBody(iotest.OneByteReader(strings.NewReader(body)), declared)
		if err != nil || string(got) != body {
			t.Errorf("declared %d: read %d bytes, %v; want all %d", declared, len(got), err, len(body))
		}
	}
	rd := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(body)), 1000)
	var mbe *http.MaxBytesError
	if _, err := readBody(rd, int64(len(body))); !errors.As(err, &mbe) {
		t.Errorf("over the limit: %v, want a MaxBytesError", err)
	}
	if _, err := readBody(iotest.TimeoutReader(strings.NewReader(body)), 10); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("a failing reader: %v, want its error", err)
	}
}
