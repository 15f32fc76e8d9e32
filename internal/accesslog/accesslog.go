// Package accesslog holds what the HTTP front ends (the REST API and the
// web console) share to log each request: a ResponseWriter that remembers
// the status it sent.
package accesslog

import "net/http"

// Recorder remembers the first status written through it, for the access
// log line and for recovery (a handler that panics before writing still
// gets an answer).
type Recorder struct {
	http.ResponseWriter
	status int
}

// NewRecorder wraps w.
func NewRecorder(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

// WriteHeader records code, then passes it on.
func (w *Recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200, then passes b on.
func (w *Recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (huma's read deadlines, flushing)
// reach the connection.
func (w *Recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Written reports whether anything was sent yet.
func (w *Recorder) Written() bool { return w.status != 0 }

// Status is the status sent, 200 when the handler wrote nothing.
func (w *Recorder) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
