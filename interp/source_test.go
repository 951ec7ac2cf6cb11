package interp

import (
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
)

func TestCleanSource(t *testing.T) {
	for _, tc := range []struct {
		name, src, want, err string
	}{
		{name: "plain", src: "x = 1\n", want: "x = 1\n"},
		{name: "byte-order mark dropped", src: "\xEF\xBB\xBFx = 1\n", want: "x = 1\n"},
		{name: "NUL refused", src: "x = 1\nprint(x)\x00\nfail(\"never\")\n", err: "plan.star:2:9: the file holds a NUL byte"},
		{name: "invalid UTF-8 refused", src: "# caf\xe9\n", err: "plan.star:1:6: the file is not valid UTF-8 (byte 0xe9)"},
		{name: "UTF-8 text kept", src: "s = \"café ✓\"\n", want: "s = \"café ✓\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cleanSource("plan.star", []byte(tc.src))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || exit.Code(err) != exit.Usage {
					t.Fatalf("err = %v, want %q (exit 2)", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
