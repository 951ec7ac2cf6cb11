package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/plate-dev/plate/internal/exit"
)

// signalInterrupts delivers the first SIGINT or SIGTERM on the returned
// channel; a second one exits at once with code 130.
func signalInterrupts() (<-chan struct{}, func()) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			close(first)
		case <-done:
			return
		}
		select {
		case <-sig:
			fmt.Fprintln(os.Stderr, "plate: interrupted again; exiting now")
			os.Exit(exit.Interrupted)
		case <-done:
		}
	}()
	return first, func() { signal.Stop(sig); close(done) }
}

// interruptContext returns a context of parent that the first interrupt
// cancels, and the function that stops listening. interrupts is the
// Factory's (signalInterrupts, or a test's channel); nil means none. An
// interrupt that has already arrived cancels the context before it is
// returned.
func interruptContext(parent context.Context, interrupts func() (<-chan struct{}, func())) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	if interrupts == nil {
		return ctx, cancel
	}
	intr, stop := interrupts()
	select {
	case <-intr:
		cancel()
	default:
	}
	go func() {
		select {
		case <-intr:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(); stop() }
}
