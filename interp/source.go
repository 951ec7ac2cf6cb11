package interp

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/plate-dev/plate/internal/exit"
)

// utf8BOM is the byte-order mark some editors put at the start of a file.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// cleanSource checks a plan or module's bytes before they are parsed: a
// leading byte-order mark is dropped (Starlark would call it a syntax
// error), and a NUL byte or bytes that are not UTF-8 are refused with
// their file:line:col. Starlark's scanner stops at a NUL byte as if the
// file ended there, so without this check a plan could be cut silently,
// skipping the fail() or require_cluster() after it.
func cleanSource(name string, src []byte) ([]byte, error) {
	src = bytes.TrimPrefix(src, utf8BOM)
	line, col := 1, 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == 0:
			return nil, &exit.Error{Code: exit.Usage, Pos: fmt.Sprintf("%s:%d:%d", name, line, col),
				Msg: "the file holds a NUL byte: a plan is text; nothing after it would run"}
		case r == utf8.RuneError && size == 1:
			return nil, &exit.Error{Code: exit.Usage, Pos: fmt.Sprintf("%s:%d:%d", name, line, col),
				Msg: fmt.Sprintf("the file is not valid UTF-8 (byte 0x%02x)", src[i])}
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return src, nil
}
