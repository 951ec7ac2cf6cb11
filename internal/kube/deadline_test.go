package kube

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// hangingServer answers nothing until the request's context ends, as a
// hung API server.
func hangingServer(t *testing.T) *rest.Config {
	cfg, _ := hangingServerArrivals(t)
	return cfg
}

// hangingServerArrivals is hangingServer that also says when a request
// has arrived.
func hangingServerArrivals(t *testing.T) (*rest.Config, <-chan struct{}) {
	arrived := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}, arrived
}

func get(t *testing.T, cfg *rest.Config, ctx context.Context) error {
	t.Helper()
	cl, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/api/v1/namespaces/x/secrets/y", nil)
	resp, err := cl.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// A request made without a context, through a Binding, ends with the
// operation's deadline, as a deadline (a timeout), and with its cancel, as
// a cancel (an interrupt).
func TestBindingEndsRequestsWithTheOperation(t *testing.T) {
	cfg, arrived := hangingServerArrivals(t)
	b := new(Binding)
	bound := Bind(cfg, b)

	op, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	b.Use(op)
	if err := get(t, bound, context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: got %v", err)
	}

	<-arrived // the first request's
	op, cancelOp := context.WithCancel(context.Background())
	b.Use(op)
	// Cancelled while the request hangs (cancelled before it starts, the
	// operation is over and the request would get the grace instead).
	go func() { <-arrived; cancelOp() }()
	if err := get(t, bound, context.Background()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: got %v", err)
	}
	// After the operation ended, a request gets the grace, then ends.
	b.Grace = 20 * time.Millisecond
	if err := get(t, bound, context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("grace: got %v", err)
	}
	b.Close()
	if err := get(t, bound, context.Background()); !errors.Is(err, ErrOperationOver) {
		t.Errorf("closed: got %v", err)
	}
}

// Every request but a watch gets the client's request timeout.
func TestRequestTimeoutSparesWatches(t *testing.T) {
	cfg := hangingServer(t)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return deadlines{next: rt, timeout: 20 * time.Millisecond}
	}
	if err := get(t, cfg, context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("get: got %v", err)
	}
	cl, _ := rest.HTTPClientFor(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/api/v1/pods?watch=true", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := cl.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("the watch ended by itself: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("watch: got %v", err)
	}
}
