// Package exit defines plate's process exit codes and the one error type that
// carries a code, a plan position and detail to the user.
//
// Every user-facing failure goes through *Error. The command layer turns an
// error into a message on stderr and the code returned by Code.
package exit

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Exit codes are part of plate's public interface: scripts depend on them.
const (
	OK          = 0   // the plan ran to its end
	PlanFailed  = 1   // a builtin or fail() stopped the plan at run time
	Usage       = 2   // bad input: flags, parameters, plan syntax, arguments
	Timeout     = 3   // a wait ran out of time
	Aborted     = 4   // a confirmation was refused or could not be asked
	Interrupted = 130 // SIGINT or SIGTERM
	// ChangesPending is what `plate run --dry-run --detailed-exitcode`
	// exits with when the plan would change something (as terraform plan
	// -detailed-exitcode does); it shares its number with Usage, and only
	// that flag makes a successful dry run return it.
	ChangesPending = 2
)

// Error is a user-facing error with an exit code.
type Error struct {
	Code int
	// Pos is the plan position ("plans/x.star:12:3") the error belongs to, if any.
	Pos string
	// Msg is the one-line message.
	Msg string
	// Backtrace is the Starlark call stack, innermost last, if known.
	Backtrace string
	// Hint is an optional line telling the user what to do next.
	Hint string
	// Err is the cause, kept for errors.Is / errors.As.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos != "" {
		b.WriteString(e.Pos)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code int, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// Wrap gives err the exit code code unless it already carries one.
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: code, Msg: err.Error(), Err: err}
}

// WithHint returns e with a hint line added.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// Code returns the exit code for err: the code an *Error carries, Interrupted
// for a cancelled context, Timeout for a deadline, PlanFailed otherwise.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout
	}
	return PlanFailed
}

// Name is the documented name of an exit code.
func Name(code int) string {
	switch code {
	case OK:
		return "ok"
	case PlanFailed:
		return "plan failed"
	case Usage:
		return "bad input or usage"
	case Timeout:
		return "timeout"
	case Aborted:
		return "not confirmed or aborted"
	case Interrupted:
		return "interrupted"
	}
	return fmt.Sprintf("exit %d", code)
}
