// Package ask holds plate's one confirmation rule, shared by the confirm()
// builtin, require_cluster's override and the commands that change a
// release (rollback, recover, backup restore):
//
//   - --yes answers yes without asking (and the answer says so);
//   - without a terminal to ask on and without --yes, nothing is asked and
//     the caller stops before its first write (ErrNoTerminal);
//   - a terminal's "no", or input that ends before an answer, stops too
//     (ErrDeclined, ErrNoAnswer).
//
// Callers word their own messages; when to ask and when to refuse lives here.
package ask

import (
	"errors"
	"fmt"
)

// Prompter asks the user a yes/no question.
type Prompter interface {
	// CanPrompt reports whether a question can be asked (stdin and stdout
	// are terminals).
	CanPrompt() bool
	// Confirm asks message and returns the answer; def is what an empty
	// answer means.
	Confirm(message string, def bool) (bool, error)
}

// How says how a question was answered.
type How int

const (
	// Asked: the user answered on the terminal.
	Asked How = iota
	// ByYes: --yes answered yes.
	ByYes
)

// Errors of the rule. Each means "stop, change nothing".
var (
	ErrNoTerminal = errors.New("no terminal to ask on")
	ErrDeclined   = errors.New("declined")
	ErrNoAnswer   = errors.New("no answer")
)

// Rule is the confirmation rule of one command or pass.
type Rule struct {
	// Yes is --yes.
	Yes bool
	// Prompter asks; nil means no terminal.
	Prompter Prompter
}

// CanAsk reports whether Confirm could get an answer: --yes, or a terminal.
// A preflight uses it to refuse before any write a question the run could
// not ask.
func (r Rule) CanAsk() error {
	if r.Yes {
		return nil
	}
	if r.Prompter == nil || !r.Prompter.CanPrompt() {
		return ErrNoTerminal
	}
	return nil
}

// Confirm applies the rule to question. A nil error means yes.
func (r Rule) Confirm(question string, def bool) (How, error) {
	if r.Yes {
		return ByYes, nil
	}
	if err := r.CanAsk(); err != nil {
		return Asked, err
	}
	ok, err := r.Prompter.Confirm(question, def)
	switch {
	case errors.Is(err, ErrNoAnswer):
		return Asked, err
	case err != nil:
		return Asked, fmt.Errorf("%w: %v", ErrNoAnswer, err)
	case !ok:
		return Asked, ErrDeclined
	}
	return Asked, nil
}
