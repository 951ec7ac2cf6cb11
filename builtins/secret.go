package builtins

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// Secret is the Starlark value secret() returns: a string that is never
// shown. Builtins that need the text (values for a chart, a Secret's data)
// reveal it with ToGo.
//
// Starlark turns a value into text with its String method ("%s" % s,
// str(s), "{}".format(s), json.encode); a Secret's String is a sealed token
// (trace.TokenOpen…trace.TokenClose) that holds the value encrypted with a
// key of this process. The formatted string is an ordinary Starlark string
// that carries the secret: ToGo reveals every token in it (so the real text
// reaches the cluster), the trace, print() and error messages show each
// token as <redacted>, and a token that a string operation cut or changed
// (slicing, upper()) is an error when a builtin reads it, never a wrong
// value deployed.
type Secret struct{ value string }

var (
	_ starlark.Value     = (*Secret)(nil)
	_ starlark.HasBinary = (*Secret)(nil)
	_ json.Marshaler     = (*Secret)(nil)
)

// NewSecret wraps s.
func NewSecret(s string) *Secret { return &Secret{value: s} }

// Reveal returns the secret string.
func (s *Secret) Reveal() string { return s.value }

// String is the sealed token of the value (see Secret).
func (s *Secret) String() string        { return seal(s.value) }
func (s *Secret) Type() string          { return "secret" }
func (s *Secret) Freeze()               {}
func (s *Secret) Truth() starlark.Bool  { return s.value != "" }
func (s *Secret) Hash() (uint32, error) { return starlark.String(s.value).Hash() }

// Binary makes secret + string and string + secret a string that carries
// the secret, as "%s%s" formatting does.
func (s *Secret) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	if op != syntax.PLUS {
		return nil, nil
	}
	var other string
	switch y := y.(type) {
	case starlark.String:
		other = string(y)
	case *Secret:
		other = y.String()
	default:
		return nil, nil
	}
	if side == starlark.Left {
		return starlark.String(s.String() + other), nil
	}
	return starlark.String(other + s.String()), nil
}

// MarshalJSON makes json.encode of a secret a JSON string that carries it.
func (s *Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// sealer encrypts with a key made when the process starts: tokens are
// meaningful only inside the process that made them, and the same value
// always gives the same token (the nonce is a MAC of the value), so that
// two formattings of one secret compare equal.
type sealer struct {
	aead   cipher.AEAD
	macKey []byte
}

var seals = newSealer()

func newSealer() *sealer {
	key := make([]byte, 32+32)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("secret: no random key: %v", err))
	}
	block, err := aes.NewCipher(key[:32])
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sealer{aead: aead, macKey: key[32:]}
}

func seal(v string) string {
	mac := hmac.New(sha256.New, seals.macKey)
	mac.Write([]byte(v))
	nonce := mac.Sum(nil)[:seals.aead.NonceSize()]
	payload := seals.aead.Seal(nonce, nonce, []byte(v), nil)
	return trace.TokenOpen + base64.RawURLEncoding.EncodeToString(payload) + trace.TokenClose
}

// errCut is the error for text that holds a token no longer whole.
var errCut = errors.New("a secret() value in this text was cut or changed by a string operation " +
	"(slicing, upper(), replace(), …), so plate cannot tell its real text; " +
	"use the secret only whole: format it (\"…%s…\" % s), concatenate it, or pass it as it is")

// errSecretKey is the error for a secret used as a dict key.
var errSecretKey = errors.New("a secret() value cannot be a key: keys are shown in diffs and the trace")

func unsealToken(payload string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(payload)
	n := seals.aead.NonceSize()
	if err != nil || len(b) < n {
		return "", false
	}
	v, err := seals.aead.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return "", false
	}
	return string(v), true
}

// Unseal returns s with every token replaced by the secret it carries; an
// error when a token was cut or changed.
func Unseal(s string) (string, error) {
	if !trace.HasToken(s) {
		return s, nil
	}
	var b strings.Builder
	last := 0
	for _, m := range trace.SecretToken.FindAllStringSubmatchIndex(s, -1) {
		v, ok := unsealToken(s[m[2]:m[3]])
		if !ok {
			return "", errCut
		}
		rest := s[last:m[0]]
		if trace.HasToken(rest) {
			return "", errCut
		}
		b.WriteString(rest)
		b.WriteString(v)
		last = m[1]
	}
	if trace.HasToken(s[last:]) {
		return "", errCut
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// Secrets returns the revealed text of every secret in v: of secret()
// values, and of the tokens in strings made from them. Builtins scrub
// these from what they show (diffs, errors) and mark the values they
// return that contain them. Cut tokens are skipped (ToGo refuses them).
func Secrets(v starlark.Value) []string {
	var out []string
	var walk func(starlark.Value, int)
	walk = func(v starlark.Value, depth int) {
		if depth > 100 {
			return
		}
		switch x := v.(type) {
		case *Secret:
			out = append(out, x.value)
		case starlark.String:
			for _, m := range trace.SecretToken.FindAllStringSubmatch(string(x), -1) {
				if s, ok := unsealToken(m[1]); ok {
					out = append(out, s)
				}
			}
		case *starlark.Dict:
			for _, kv := range x.Items() {
				walk(kv[1], depth+1)
			}
		case starlark.Iterable:
			it := x.Iterate()
			defer it.Done()
			var e starlark.Value
			for it.Next(&e) {
				walk(e, depth+1)
			}
		case *starlarkstruct.Struct:
			d := starlark.StringDict{}
			x.ToStringDict(d)
			for _, a := range d {
				walk(a, depth+1)
			}
		}
	}
	walk(v, 0)
	return out
}

// ScrubError returns err with every one of secrets (and its base64 form)
// replaced by <redacted> in its message and hint, keeping its exit code;
// err itself when it quotes none. Secrets shorter than 3 bytes are left
// alone, as diffs leave them.
func ScrubError(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	var olds []string
	for _, s := range secrets {
		if len(s) >= 3 {
			olds = append(olds, s, base64.StdEncoding.EncodeToString([]byte(s)))
		}
	}
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	scrub := func(s string) string {
		for _, o := range olds {
			s = strings.ReplaceAll(s, o, trace.Redacted)
		}
		return s
	}
	var xe *exit.Error
	if !errors.As(err, &xe) {
		msg := err.Error()
		if scrub(msg) == msg {
			return err
		}
		return &exit.Error{Code: exit.Code(err), Msg: scrub(msg), Err: scrubbedCause{err}}
	}
	msg := xe.Error()
	if scrub(msg) == msg && scrub(xe.Hint) == xe.Hint && scrub(xe.Backtrace) == xe.Backtrace && xe == err {
		return err
	}
	cp := *xe
	if xe != err {
		// A wrapped *exit.Error: the outer text is what is shown.
		cp.Msg, cp.Pos = err.Error(), ""
	}
	cp.Msg, cp.Hint, cp.Backtrace = scrub(cp.Msg), scrub(cp.Hint), scrub(cp.Backtrace)
	cp.Err = scrubbedCause{err}
	return &cp
}

// scrubbedCause keeps an error for errors.Is and errors.As while its text
// says nothing: the message that wraps it is the scrubbed one.
type scrubbedCause struct{ err error }

func (s scrubbedCause) Error() string { return "(redacted)" }
func (s scrubbedCause) Unwrap() error { return s.err }
