package ask

import (
	"errors"
	"testing"
)

type prompter struct {
	tty    bool
	answer bool
	err    error
	asked  int
}

func (p *prompter) CanPrompt() bool { return p.tty }
func (p *prompter) Confirm(string, bool) (bool, error) {
	p.asked++
	return p.answer, p.err
}

func TestRule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rule      Rule
		p         *prompter
		wantHow   How
		wantErr   error
		wantAsked int
	}{
		{name: "yes answers without asking", rule: Rule{Yes: true}, p: &prompter{}, wantHow: ByYes},
		{name: "yes even without a terminal", rule: Rule{Yes: true}, wantHow: ByYes},
		{name: "no prompter", rule: Rule{}, wantErr: ErrNoTerminal},
		{name: "no terminal", p: &prompter{tty: false, answer: true}, wantErr: ErrNoTerminal},
		{name: "terminal yes", p: &prompter{tty: true, answer: true}, wantAsked: 1},
		{name: "terminal no", p: &prompter{tty: true, answer: false}, wantErr: ErrDeclined, wantAsked: 1},
		{name: "input ended", p: &prompter{tty: true, err: ErrNoAnswer}, wantErr: ErrNoAnswer, wantAsked: 1},
		{name: "read error", p: &prompter{tty: true, err: errors.New("boom")}, wantErr: ErrNoAnswer, wantAsked: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			if tc.p != nil {
				r.Prompter = tc.p
			}
			how, err := r.Confirm("go?", false)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && how != tc.wantHow {
				t.Errorf("how = %v, want %v", how, tc.wantHow)
			}
			asked := 0
			if tc.p != nil {
				asked = tc.p.asked
			}
			if asked != tc.wantAsked {
				t.Errorf("asked %d times, want %d", asked, tc.wantAsked)
			}
			if cerr := r.CanAsk(); (cerr == nil) != (tc.wantErr != ErrNoTerminal) {
				t.Errorf("CanAsk() = %v, inconsistent with Confirm's %v", cerr, err)
			}
		})
	}
}
