package kube

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// DefaultRequestTimeout bounds one request to the API server that is not a
// watch, when Settings name no other bound. A request that carries no
// context (discovery, REST mapping, Helm's storage and kube clients) would
// otherwise wait until HTTP/2's health check gives up on a hung API server
// (about 45 s); a watch ends with the context of the wait that made it.
const DefaultRequestTimeout = 30 * time.Second

// DefaultGrace is how long a request made after its operation's context
// ended may take (see Binding): time enough for Helm to record a failed
// revision on an API server that answers, little enough that a hung one
// keeps a timeout or an interrupt within a few seconds of its moment.
const DefaultGrace = 5 * time.Second

// isWatch reports whether req opens a watch (or streams, as a follow of
// logs does): those run as long as their caller's context.
func isWatch(req *http.Request) bool {
	q := req.URL.Query()
	return q.Get("watch") == "true" || q.Get("watch") == "1" || q.Get("follow") == "true"
}

// deadlines is the transport every client of Connect shares: each
// request that is not a watch gets at most timeout, and health learns
// whether the API server answers.
type deadlines struct {
	next    http.RoundTripper
	timeout time.Duration
	health  *Health
}

func (d deadlines) RoundTrip(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	var err error
	if d.timeout <= 0 || isWatch(req) {
		resp, err = d.next.RoundTrip(req)
	} else {
		ctx, cancel := context.WithTimeout(req.Context(), d.timeout)
		resp, err = roundTrip(d.next, req.WithContext(ctx), cancel)
	}
	d.health.observe(req, err)
	return resp, err
}

// Health is what a client's requests have learnt about the API server: since
// when it has not answered (client-go retries a watch on a refused
// connection without telling its caller, so a wait learns it here).
type Health struct {
	mu      sync.Mutex
	since   time.Time
	lastErr error
}

func (h *Health) observe(req *http.Request, err error) {
	if h == nil {
		return
	}
	if err != nil && errors.Is(req.Context().Err(), context.Canceled) {
		// The caller gave up; the server said nothing either way.
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.since, h.lastErr = time.Time{}, nil
	case IsUnreachable(err):
		if h.since.IsZero() {
			h.since = time.Now()
		}
		h.lastErr = err
	}
}

// Unreachable returns since when the API server has not answered (zero: it
// answered the last request) and the last error.
func (h *Health) Unreachable() (time.Time, error) {
	if h == nil {
		return time.Time{}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.since, h.lastErr
}

// roundTrip sends req and calls cancel once its response body is closed
// (or at once when there is no response): a deadline on the request's
// context then covers reading the body too.
func roundTrip(next http.RoundTripper, req *http.Request, cancel func()) (*http.Response, error) {
	resp, err := next.RoundTrip(req)
	if err != nil || resp == nil || resp.Body == nil {
		cancel()
		return resp, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Binding ties the requests of clients made from one rest.Config (Bind) to
// the context of the operation that uses them. Helm's SDK makes most of
// its requests (storage, kube client, hooks) without a context, so a
// timeout or an interrupt on the operation's context would not reach
// them: through a Binding it does.
//
//   - While the operation's context is live, every request ends when it
//     ends (watches included).
//   - A request made after the context ended, while the operation still
//     runs (Helm marking a cancelled install failed), gets Grace.
//   - After Close, every request fails at once: a goroutine Helm left
//     behind cannot write once plate has moved on.
type Binding struct {
	// Grace bounds each request made after the context ended (default
	// DefaultGrace).
	Grace time.Duration

	mu     sync.Mutex
	ctx    context.Context
	closed bool
}

// Use binds the requests to ctx until the next Use or Close.
func (b *Binding) Use(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ctx = ctx
}

// Close makes every later request fail at once.
func (b *Binding) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
}

// ErrOperationOver is the error of a request made through a closed
// Binding.
var ErrOperationOver = errors.New("the operation that made this request has ended")

func (b *Binding) state() (context.Context, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ctx, b.closed
}

// Bind returns a copy of cfg whose requests are bound to b.
func Bind(cfg *rest.Config, b *Binding) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	prev := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return bound{next: rt, b: b}
	}
	return cfg
}

type bound struct {
	next http.RoundTripper
	b    *Binding
}

func (t bound) RoundTrip(req *http.Request) (*http.Response, error) {
	op, closed := t.b.state()
	if closed {
		return nil, ErrOperationOver
	}
	if op == nil {
		return t.next.RoundTrip(req)
	}
	if Ended(op) {
		grace := t.b.Grace
		if grace <= 0 {
			grace = DefaultGrace
		}
		ctx, cancel := context.WithTimeout(req.Context(), grace)
		return roundTrip(t.next, req.WithContext(ctx), cancel)
	}
	// The request ends as the operation does, with the same error (a
	// deadline is a timeout, a cancel an interrupt).
	var ctx context.Context
	var cancel context.CancelFunc
	if d, ok := op.Deadline(); ok {
		ctx, cancel = context.WithDeadline(req.Context(), d)
	} else {
		ctx, cancel = context.WithCancel(req.Context())
	}
	stop := context.AfterFunc(op, func() {
		// A deadline ends the request by its own deadline, so that its
		// error says so.
		if !errors.Is(op.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return roundTrip(t.next, req.WithContext(ctx), func() { stop(); cancel() })
}

// Ended reports whether ctx has ended, counting a deadline that has passed
// although ctx's timer has not fired yet: a request bound to the same
// deadline may fail a moment before ctx itself says so.
func Ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
