package ratelimit

import (
	"bytes"
	"container/list"
	"io"
	"net/http"
	"sync"
	"time"
)

// maxCachedBody bounds one cached answer; larger ones are not cached.
// gitaccess's GETs ask for one item or one small page.
const maxCachedBody = 256 << 10

// cache keeps GitHub answers to revalidate with If-None-Match, least
// recently used first out. Keys hold the token id and a fingerprint of
// its value (GitHub's ETag depends on the Authorization header, so a new
// value never matches an old entry anyway), the Accept header and the URL.
// Nothing secret is kept: bodies and headers are what GitHub answered.
type cache struct {
	max    int
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	order *list.List // of *entry, most recently used first
	byKey map[string]*list.Element
}

type entry struct {
	key    string
	etag   string
	header http.Header
	body   []byte
	// fetched is when the full answer came; past maxAge it is not
	// revalidated but fetched again.
	fetched time.Time
}

func newCache(max int, maxAge time.Duration, now func() time.Time) *cache {
	return &cache{max: max, maxAge: maxAge, now: now, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *cache) get(key string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byKey[key]
	if el == nil {
		return nil
	}
	e := el.Value.(*entry)
	if c.now().Sub(e.fetched) > c.maxAge {
		c.order.Remove(el)
		delete(c.byKey, key)
		return nil
	}
	c.order.MoveToFront(el)
	return e
}

// put keeps a 200 answer that carries an ETag and returns it with its body
// still readable. A body too large, or one that fails to read, is not
// kept; the caller reads it, or its error, as if nothing had happened.
func (c *cache) put(key string, resp *http.Response) (*http.Response, error) {
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
	if err != nil || len(buf) > maxCachedBody {
		resp.Body = &replayBody{r: io.MultiReader(bytes.NewReader(buf), errOr(err, resp.Body)), c: resp.Body}
		return resp, nil
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(buf))
	e := &entry{key: key, etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: buf, fetched: c.now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.byKey[key]; el != nil {
		c.order.Remove(el)
	}
	c.byKey[key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*entry).key)
	}
	return resp, nil
}

// revalidated turns a 304 into the cached 200: the stored headers updated
// with the 304's (RFC 9111 §4.3.4), so fresh rate-limit headers, and the
// scopes and expiry headers when GitHub repeats them, win; headers the 304
// leaves out keep their stored values.
func (e *entry) revalidated(req *http.Request, notModified *http.Response) *http.Response {
	_, _ = io.Copy(io.Discard, io.LimitReader(notModified.Body, 4<<10))
	_ = notModified.Body.Close()
	h := e.header.Clone()
	for k, v := range notModified.Header {
		switch k {
		case "Content-Length", "Content-Encoding", "Transfer-Encoding":
			continue
		}
		h[k] = v
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK,
		Proto: notModified.Proto, ProtoMajor: notModified.ProtoMajor, ProtoMinor: notModified.ProtoMinor,
		Header: h, Body: io.NopCloser(bytes.NewReader(e.body)), ContentLength: int64(len(e.body)),
		Request: req, TLS: notModified.TLS,
	}
}

func errOr(err error, r io.Reader) io.Reader {
	if err != nil {
		return errReader{err}
	}
	return r
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// replayBody reads what was already read, then the rest, and closes the
// original body.
type replayBody struct {
	r io.Reader
	c io.Closer
}

func (b *replayBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *replayBody) Close() error               { return b.c.Close() }
