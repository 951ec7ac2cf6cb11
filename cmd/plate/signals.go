package main

import (
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
