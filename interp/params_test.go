package interp

import (
	"errors"
	"strings"
	"testing"

	"go.starlark.net/syntax"

	"github.com/plate-dev/plate/internal/exit"
)

func TestParamInsideAnExpressionIsRefused(t *testing.T) {
	for _, src := range []string{
		"pw = secret(param(\"db_password\", \"\"))\n",
		"def f():\n    return param(\"x\", 1)\n",
	} {
		f, err := syntax.Parse("plan.star", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = declaredParams("plan.star", f)
		var xe *exit.Error
		if !errors.As(err, &xe) || xe.Code != exit.Usage || !strings.HasPrefix(xe.Pos, "plan.star:") || !strings.Contains(xe.Msg, "statements of their own") {
			t.Errorf("%q: got %v, want a usage error at plan.star:… saying param() must be a statement of its own", src, err)
		}
	}
	f, _ := syntax.Parse("plan.star", "x = param(\"x\", 1)\nparam(\"y\", \"a\")\n", 0)
	if ps, err := declaredParams("plan.star", f); err != nil || len(ps) != 2 {
		t.Errorf("top-level params: %v, %v", ps, err)
	}
}
