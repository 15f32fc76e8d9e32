package webhook

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// What keeps receiving cheap under load: hooks are read and their secrets
// opened once per hookTTL, not per delivery, and concurrent deliveries are
// stored together in one transaction (group commit), each answered only
// once that transaction committed.

// hookTTL bounds how long a hook is served from memory: a hook deleted
// without its application (deleting the application is noticed at once,
// when storing the delivery fails) keeps taking deliveries for at most
// this long. A changed secret is noticed at once: a delivery the cached
// secret refuses is verified again with the stored one.
const hookTTL = 5 * time.Second

// hookCacheSize bounds the cached hooks; beyond it, expired ones are
// dropped first, then any.
const hookCacheSize = 4096

// cachedHook is a hook with what verifying its deliveries needs.
type cachedHook struct {
	row    store.Hook
	parser forge.Webhooks
	secret secret.Value
	// cached: served from memory, so possibly stale.
	cached bool
	at     time.Time
}

// hookCache maps hook ids to cachedHooks younger than hookTTL.
type hookCache struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]cachedHook
}

func newHookCache(now func() time.Time) *hookCache {
	return &hookCache{now: now, m: map[string]cachedHook{}}
}

func (c *hookCache) get(id string) (cachedHook, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hk, ok := c.m[id]
	if !ok {
		return cachedHook{}, false
	}
	if c.now().Sub(hk.at) >= hookTTL {
		delete(c.m, id)
		return cachedHook{}, false
	}
	hk.cached = true
	return hk, true
}

func (c *hookCache) put(id string, hk cachedHook) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.m[id]; !ok && len(c.m) >= hookCacheSize {
		for k, v := range c.m {
			if now.Sub(v.at) >= hookTTL {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < hookCacheSize {
				break
			}
			delete(c.m, k)
		}
	}
	hk.cached, hk.at = false, now
	c.m[id] = hk
}

func (c *hookCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// Group commit limits: a batch takes at most this many deliveries, and
// stops adding bodies past this many bytes (a single larger one goes
// alone).
const (
	commitMaxRows  = 256
	commitMaxBytes = 16 << 20
)

// recordReq is one delivery waiting to be stored.
type recordReq struct {
	d    store.Delivery
	res  store.Recorded
	err  error
	done chan struct{}
	// lead is signalled (once: handed) when this request heads the queue
	// and must commit the next batch.
	lead   chan struct{}
	handed bool
}

// committer stores concurrent deliveries in shared transactions, up to
// slots of them at once. There is no goroutine of its own: a caller that
// finds a slot free leads, committing whatever queued (itself included);
// when it is done and more queued meanwhile, it hands the lead to the
// oldest waiter, whose request is then in the batch it commits. So no
// caller commits others' batches after its own, and while batches commit
// the next gathers. Each caller is answered with its own verdict once its
// batch committed.
type committer struct {
	store Store
	slots int
	mu    sync.Mutex
	// queue holds requests not yet taken into a batch; it has some only
	// while every slot is busy.
	queue  []*recordReq
	active int
	// lastSize and lastAt are the size and end of the last batch.
	lastSize int
	lastAt   time.Time
	// arriving counts deliveries being received that have not queued
	// yet: see gatherDelay.
	arriving atomic.Int64
}

// ConcurrentWriter is a Store that gains from committing several batches
// of deliveries at once (PostgreSQL, with a pool of connections); others
// (SQLite, one writer) get one batch at a time.
type ConcurrentWriter interface {
	WriteConcurrency() int
}

func newCommitter(st Store) *committer {
	c := &committer{store: st, slots: 1}
	if cw, ok := st.(ConcurrentWriter); ok {
		c.slots = max(1, cw.WriteConcurrency())
	}
	return c
}

// record stores d, durably when it returns nil.
func (c *committer) record(ctx context.Context, d store.Delivery) (store.Recorded, error) {
	r := &recordReq{d: d, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, r)
	c.arriving.Add(-1)
	if c.active == c.slots {
		c.mu.Unlock()
		// The request is committed by a leader or by this caller once it
		// leads; it is not abandoned when ctx ends, since a leader may
		// already be storing it.
		select {
		case <-r.done:
			// Another leader took the request after it was handed the
			// lead (slots > 1): the lead still must be taken, or the
			// slot would be lost. A hand-off only happens while the
			// request is queued, before done, so it shows by now.
			select {
			case <-r.lead:
				c.lead(context.WithoutCancel(ctx))
			default:
			}
			return r.res, r.err
		case <-r.lead:
		}
	} else {
		c.active++
		c.mu.Unlock()
	}
	c.lead(context.WithoutCancel(ctx))
	<-r.done
	return r.res, r.err
}

// gatherDelay bounds how long a leader waits for more deliveries to join
// its batch: while others are being received (verified, about to queue),
// or, when it is alone in the queue, while the last batch ended less than
// busyFor ago (deliveries are arriving back to back). When the cores, not
// the writer, are what is short, deliveries reach an idle writer one at
// a time, and each would pay a transaction of its own (for SQLite the
// commit's WAL writes and checkpoints were most of a receipt's cost);
// waiting this long for the ones just behind stores them all in one. At
// a rate with gaps between deliveries nobody waits.
const (
	gatherDelay = 500 * time.Microsecond
	busyFor     = 2 * time.Millisecond
)

// gather waits, at most gatherDelay, while deliveries are arriving and
// the queue has room for them.
func (c *committer) gather() {
	deadline := time.Now().Add(gatherDelay)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		queued, last := len(c.queue), c.lastAt
		c.mu.Unlock()
		if queued >= commitMaxRows ||
			c.arriving.Load() <= 0 && (queued > 1 || time.Since(last) >= busyFor) {
			return
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// lead commits one batch from the head of the queue and passes the lead on.
func (c *committer) lead(ctx context.Context) {
	c.gather()
	c.mu.Lock()
	n, size := 0, 0
	for n < len(c.queue) && n < commitMaxRows {
		size += len(c.queue[n].d.Body)
		if n > 0 && size > commitMaxBytes {
			break
		}
		n++
	}
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	c.commit(ctx, batch)

	c.mu.Lock()
	c.lastSize, c.lastAt = len(batch), time.Now()
	// The slot goes to the oldest waiter not handed one yet.
	for _, w := range c.queue {
		if !w.handed {
			w.handed = true
			w.lead <- struct{}{}
			c.mu.Unlock()
			return
		}
	}
	c.active--
	if len(c.queue) == 0 {
		c.queue = nil
	}
	c.mu.Unlock()
}

// saturatedFor is how long after a batch of several deliveries the
// receiver still counts as saturated.
const saturatedFor = 5 * time.Millisecond

// saturated: deliveries wait behind a batch being stored, or the last
// batch, just now, held several (they arrived while the one before was
// being stored). At a rate the receiver keeps up with, batches hold one.
func (c *committer) saturated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) > 0 || c.lastSize > 1 && time.Since(c.lastAt) < saturatedFor
}

func (c *committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// commit stores batch and answers each request in it.
func (c *committer) commit(ctx context.Context, batch []*recordReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	if len(batch) > 1 {
		ds := make([]store.Delivery, len(batch))
		for i, r := range batch {
			ds[i] = r.d
		}
		res, err := c.store.RecordDeliveries(ctx, ds)
		if err == nil {
			for i, r := range batch {
				r.res = res[i]
			}
			return
		}
		// All or nothing failed (say, one delivery's application was
		// deleted): store each alone, so each gets its own answer.
	}
	for _, r := range batch {
		r.res.Stored, r.res.Dup, r.err = c.store.RecordDelivery(ctx, r.d)
	}
}
