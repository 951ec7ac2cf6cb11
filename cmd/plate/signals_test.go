package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/exit"
)

// The first interrupt cancels the context; stop ends the listening.
func TestInterruptContext(t *testing.T) {
	intr := make(chan struct{})
	stopped := false
	ctx, stop := interruptContext(context.Background(), func() (<-chan struct{}, func()) {
		return intr, func() { stopped = true }
	})
	if ctx.Err() != nil {
		t.Fatal("cancelled before any interrupt")
	}
	close(intr)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the interrupt did not cancel the context")
	}
	if !errors.Is(ctx.Err(), context.Canceled) || exit.Code(ctx.Err()) != exit.Interrupted {
		t.Errorf("context error %v", ctx.Err())
	}
	stop()
	if !stopped {
		t.Error("stop did not stop the interrupts")
	}
}

// An interrupt that came before the command starts is seen by it at once.
func TestInterruptContextEarlyInterrupt(t *testing.T) {
	intr := make(chan struct{})
	close(intr)
	ctx, stop := interruptContext(context.Background(), func() (<-chan struct{}, func()) { return intr, func() {} })
	defer stop()
	if ctx.Err() == nil {
		t.Fatal("an interrupt that had arrived did not cancel the context")
	}
}

// Without interrupts (nil), the context ends only with stop.
func TestInterruptContextNone(t *testing.T) {
	ctx, stop := interruptContext(context.Background(), nil)
	if ctx.Err() != nil {
		t.Fatal("cancelled without an interrupt")
	}
	stop()
	if ctx.Err() == nil {
		t.Fatal("stop did not end the context")
	}
}

// Real signals, in a child process (a SIGINT to the test process itself
// would also reach the local cluster's handler, which stops the control
// plane): the first SIGINT reaches the channel of signalInterrupts without
// killing the process, the second exits at once with code 130.
func TestSignalInterrupts(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalInterruptsChild$", "-test.short", "-test.count=1")
	cmd.Env = append(os.Environ(), "PLATE_TEST_SIGNALS_CHILD=1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exit.Interrupted {
		t.Fatalf("child: %v, want exit code 130\n%s", err, out.String())
	}
	for _, want := range []string{"first interrupt delivered", "plate: interrupted again; exiting now"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("child output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSignalInterruptsChild is the child process of TestSignalInterrupts.
func TestSignalInterruptsChild(t *testing.T) {
	if os.Getenv("PLATE_TEST_SIGNALS_CHILD") != "1" {
		t.Skip("run by TestSignalInterrupts")
	}
	intr, stop := signalInterrupts()
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-intr:
		fmt.Println("first interrupt delivered")
	case <-time.After(10 * time.Second):
		t.Fatal("the first SIGINT was not delivered")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	t.Fatal("the second SIGINT did not exit")
}
