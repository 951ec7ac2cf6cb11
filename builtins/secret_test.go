package builtins

import (
	"errors"
	"strings"
	"testing"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

const pw = "hunter2-CANARY"

// eval evaluates a Starlark expression with s = secret(pw) and json.
func eval(t *testing.T, expr string) starlark.Value {
	t.Helper()
	env := starlark.StringDict{"s": NewSecret(pw), "other": NewSecret("other-secret"), "json": json.Module}
	v, err := starlark.EvalOptions(&syntax.FileOptions{}, &starlark.Thread{}, "expr.star", expr, env)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// Every way Starlark turns a secret into text gives a value that carries
// the real text to the builtins (ToGo) and shows <redacted> to the trace.
func TestFormattedSecretCarriesItsText(t *testing.T) {
	for _, c := range []struct{ expr, want, shown string }{
		{`"postgres://app:%s@db" % s`, "postgres://app:" + pw + "@db", "postgres://app:<redacted>@db"},
		{`"postgres://app:%s@db" % (s,)`, "postgres://app:" + pw + "@db", "postgres://app:<redacted>@db"},
		{`"%r" % s`, pw, "<redacted>"},
		{`"%(p)s" % {"p": s}`, pw, "<redacted>"},
		{`str(s)`, pw, "<redacted>"},
		{`"{}".format(s)`, pw, "<redacted>"},
		{`"user={u} pass={p}".format(u = "app", p = s)`, "user=app pass=" + pw, "user=app pass=<redacted>"},
		{`"{!r}".format(s)`, pw, "<redacted>"},
		{`s + "@db"`, pw + "@db", "<redacted>@db"},
		{`"pw=" + s`, "pw=" + pw, "pw=<redacted>"},
		{`s + other`, pw + "other-secret", "<redacted><redacted>"},
		{`"%s:%s" % (s, other)`, pw + ":other-secret", "<redacted>:<redacted>"},
		{`":".join(["a", str(s)])`, "a:" + pw, "a:<redacted>"},
		{`json.encode({"password": s, "n": 1})`, `{"n":1,"password":"` + pw + `"}`, `{"n":1,"password":"<redacted>"}`},
		{`json.encode({"url": "x-%s" % s})`, `{"url":"x-` + pw + `"}`, `{"url":"x-<redacted>"}`},
		{`("  %s  " % s).strip()`, pw, "<redacted>"},
		{`("a=%s;b" % s).split(";")[0]`, "a=" + pw, "a=<redacted>"},
	} {
		v := eval(t, c.expr)
		if _, ok := v.(starlark.String); !ok {
			t.Errorf("%s: got a %s, want a string", c.expr, v.Type())
			continue
		}
		if strings.Contains(v.String(), pw) {
			t.Errorf("%s: the value shows the secret: %s", c.expr, v)
		}
		got, err := ToGo(v)
		if err != nil || got != c.want {
			t.Errorf("%s: ToGo = %v, %v; want %q", c.expr, got, err, c.want)
		}
		if shown := ForTrace(v); shown != c.shown {
			t.Errorf("%s: the trace shows %q, want %q", c.expr, shown, c.shown)
		}
		if secrets := Secrets(v); len(secrets) == 0 || secrets[0] != pw {
			t.Errorf("%s: Secrets = %q, want %q first", c.expr, secrets, pw)
		}
	}
}

// Nested in the values or objects a builtin reveals, formatted secrets
// come out whole.
func TestFormattedSecretInsideValues(t *testing.T) {
	v := eval(t, `{"db": {"url": "postgres://app:%s@db" % s, "pool": 3}, "env": [{"name": "P", "value": str(s)}]}`)
	got, err := ToGo(v)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if u := m["db"].(map[string]any)["url"]; u != "postgres://app:"+pw+"@db" {
		t.Errorf("db.url = %v", u)
	}
	if e := m["env"].([]any)[0].(map[string]any)["value"]; e != pw {
		t.Errorf("env[0].value = %v", e)
	}
	shown := ForTrace(v).(map[string]any)
	if u := shown["db"].(map[string]any)["url"]; u != "postgres://app:<redacted>@db" {
		t.Errorf("the trace shows db.url as %v", u)
	}
}

// Where the real text cannot be carried (a token that slicing or a case
// change broke, a secret as a dict key), a builtin gets an error, not a
// wrong value.
func TestCutSecretIsAnError(t *testing.T) {
	for _, expr := range []string{
		`str(s)[:12]`,
		`str(s)[12:]`,
		`str(s)[3:-3]`,
		`str(s).upper()`,
		`str(s).lower()`,
		`("x%sy" % s).replace("A", "B").replace("a", "b").replace("Q", "R").replace("q", "r")`,
	} {
		v := eval(t, expr)
		if _, err := ToGo(v); err == nil || !strings.Contains(err.Error(), "cut or changed") {
			t.Errorf("%s: ToGo gave no error (%v)", expr, err)
		}
		if strings.Contains(trace.RedactTokens(string(v.(starlark.String))), "plate-secret") {
			t.Errorf("%s: the trace shows a piece of the token: %s", expr, trace.RedactTokens(string(v.(starlark.String))))
		}
	}
	v := eval(t, `{str(s): 1}`)
	if _, err := ToGo(v); err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("a secret as a dict key: %v", err)
	}
}

// The same value always seals to the same token (formatted strings compare
// equal), different values to different ones, and no token holds the text.
func TestSealIsStableAndOpaque(t *testing.T) {
	a, b := NewSecret(pw).String(), NewSecret(pw).String()
	if a != b {
		t.Errorf("one value, two tokens: %s %s", a, b)
	}
	if c := NewSecret(pw + "x").String(); c == a {
		t.Error("two values, one token")
	}
	if strings.Contains(a, pw) || !strings.HasPrefix(a, trace.TokenOpen) || !strings.HasSuffix(a, trace.TokenClose) {
		t.Errorf("token %q", a)
	}
	if got, err := Unseal("plain text"); err != nil || got != "plain text" {
		t.Errorf("plain text: %q %v", got, err)
	}
	forged := trace.TokenOpen + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" + trace.TokenClose
	if _, err := Unseal(forged); err == nil {
		t.Error("a forged token was opened")
	}
}

// Objects read from the cluster: a Secret's data and stringData values are
// secret() values; the strings a call revealed are too (FromGoHiding).
func TestFromGoHidesSecretData(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "db"},
		"data":       map[string]any{"password": "aHVudGVyMg=="},
		"stringData": map[string]any{"url": "postgres://app:" + pw + "@db"},
	}
	v, err := FromGo(obj)
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*starlark.Dict)
	data, _, _ := d.Get(starlark.String("data"))
	p, _, _ := data.(*starlark.Dict).Get(starlark.String("password"))
	if _, ok := p.(*Secret); !ok {
		t.Errorf("data.password is a %s, want a secret", p.Type())
	}
	if strings.Contains(v.String(), "aHVudGVyMg==") || strings.Contains(v.String(), pw) {
		t.Errorf("the Secret shows its data: %s", trace.RedactTokens(v.String()))
	}
	back, err := ToGo(v)
	if err != nil || back.(map[string]any)["data"].(map[string]any)["password"] != "aHVudGVyMg==" {
		t.Errorf("the data does not come back whole: %v %v", back, err)
	}

	cm := map[string]any{"kind": "ConfigMap", "data": map[string]any{"url": "postgres://app:" + pw + "@db", "mode": "rw"}}
	v, err = FromGoHiding(cm, []string{pw, "ab"})
	if err != nil {
		t.Fatal(err)
	}
	if s := v.String(); strings.Contains(s, pw) || !strings.Contains(s, `"mode": "rw"`) {
		t.Errorf("the ConfigMap shows %s", trace.RedactTokens(s))
	}
}

func TestScrubError(t *testing.T) {
	err := &exit.Error{Code: exit.Usage, Pos: "plan.star:3:1", Msg: `Invalid value: "` + pw + `"`, Hint: "was " + pw}
	got := ScrubError(err, []string{pw})
	if strings.Contains(got.Error(), pw) || exit.Code(got) != exit.Usage || !strings.Contains(got.Error(), "<redacted>") {
		t.Errorf("scrubbed: %v (code %d)", got, exit.Code(got))
	}
	var xe *exit.Error
	if !errors.As(got, &xe) || strings.Contains(xe.Hint, pw) {
		t.Errorf("hint: %+v", xe)
	}
	plain := errors.New("no secret here")
	if ScrubError(plain, []string{pw}) != plain {
		t.Error("an error without secrets was changed")
	}
}
