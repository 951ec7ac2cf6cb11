// Package iostreams holds plate's standard streams and what it knows about
// them: whether they are terminals, whether colour is wanted, and how to ask
// the user a yes/no question.
//
// Terminal detection uses golang.org/x/term: it is the Go project's own
// small package, already in the dependency graph through client-go, and all
// plate needs (IsTerminal, the width) without pulling in a TUI framework.
package iostreams

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/plate-dev/plate/internal/ask"
)

// IOStreams are the streams of one command.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	// NoColor turns colour off (--no-color, NO_COLOR).
	NoColor bool

	reader *bufio.Reader
}

// System returns the process's streams.
func System() *IOStreams {
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		stdinTTY:  isTerminal(os.Stdin),
		stdoutTTY: isTerminal(os.Stdout),
		NoColor:   os.Getenv("NO_COLOR") != "",
	}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Test returns streams over buffers, with no terminal. The returned
// buffers hold what was written to Out and ErrOut.
func Test(stdin string) (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: errOut}, out, errOut
}

// SetTTY pretends (in tests) that stdin and stdout are terminals.
func (s *IOStreams) SetTTY(stdin, stdout bool) { s.stdinTTY, s.stdoutTTY = stdin, stdout }

// IsStdoutTTY reports whether stdout is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// ColorEnabled reports whether output may be coloured.
func (s *IOStreams) ColorEnabled() bool { return s.stdoutTTY && !s.NoColor }

// CanPrompt reports whether a question can be asked and answered.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stdoutTTY }

// ErrNoAnswer is returned when stdin ends before an answer.
var ErrNoAnswer = fmt.Errorf("%w (end of input)", ask.ErrNoAnswer)

// Confirm asks a yes/no question on ErrOut and reads the answer from In.
func (s *IOStreams) Confirm(message string, def bool) (bool, error) {
	hint := "[y/N]"
	if def {
		hint = "[Y/n]"
	}
	if s.reader == nil {
		s.reader = bufio.NewReader(s.In)
	}
	for {
		fmt.Fprintf(s.ErrOut, "%s %s ", message, hint)
		line, err := s.reader.ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(s.ErrOut)
			return false, ErrNoAnswer
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "":
			return def, nil
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
		fmt.Fprintln(s.ErrOut, "please answer y or n")
	}
}
