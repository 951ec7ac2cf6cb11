package kube

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// LostError says that a cluster plate had reached stopped answering in the
// middle of a run. It is a failed run (exit 1), never bad input: the
// plan and its flags were right when the run began.
type LostError struct {
	// Server is the API server's address.
	Server string
	// Err is the last error talking to it.
	Err error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("lost the cluster at %s: %v", e.Server, e.Err)
}

func (e *LostError) Unwrap() error { return e.Err }

// IsLost reports whether err says the cluster was lost.
func IsLost(err error) bool {
	var le *LostError
	return errors.As(err, &le)
}

// IsUnreachable reports whether err is a failure to talk to the API server
// at all (refused or reset connections, a dial or request that timed out,
// DNS), as opposed to an answer from it.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "http2: client connection lost") ||
		strings.Contains(s, "Client.Timeout exceeded")
}
