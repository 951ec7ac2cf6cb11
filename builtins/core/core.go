// Package core holds plate's builtins that act on the run itself rather than
// on a cluster: confirm and secret.
package core

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
)

// Plugin is the core family.
type Plugin struct{}

// Name returns "core".
func (Plugin) Name() string { return "core" }

// Builtins lists the family.
func (Plugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{
		{
			Name:   "confirm",
			Params: []string{"message", "default=False"},
			Effect: engine.Ask,
			Doc: `Asks the user to confirm ` + "`message`" + ` before the plan goes on, and returns True.

- On a terminal it asks ` + "`message [y/N]`" + ` (` + "`[Y/n]`" + ` when ` + "`default`" + ` is True); an empty
  answer means default.
- ` + "`--yes`" + ` answers yes without asking; the trace records that it did.
- Without a terminal and without ` + "`--yes`" + ` the run stops with exit code 4 before its
  first write (the preflight finds out), telling the user to pass ` + "`--yes`" + `.
- Answering no stops the plan cleanly: exit code 4, "aborted by user".
- In a dry run the trace says "would ask: …" and the call returns True, so the trace
  shows what the confirmed plan would do.`,
			Fn: confirm,
		},
		{
			Name:   "rollback_on_failure",
			Params: []string{"enabled=True"},
			Effect: engine.Read,
			Doc: `Asks for rollback on failure, as ` + "`plate run --rollback-on-failure`" + ` does: if the run
fails, times out or is interrupted after this call, every release the run changed
is brought back, in reverse order, to the revision deployed before the run (a
first install is uninstalled), and waited for; the run still exits with the
failure's code. A failed readiness check counts: wait_ready marks the revision
failed first, so the rollback never restores it. ` + "`enabled`" + ` False is a no-op, so a
plan can tie it to a parameter. The dry run and the preflight say what would be
rolled back.`,
			Fn: rollbackOnFailure,
		},
		{
			Name:   "read_file",
			Params: []string{"path"},
			Effect: engine.Read,
			Doc: `Returns the contents of a local file as a string. The ` + "`path`" + ` is relative to
the plan file that contains the call, or ` + "`//`" + ` from the project root.`,
			Fn: readFile,
		},
		{
			Name:   "read_yaml",
			Params: []string{"path"},
			Effect: engine.Read,
			Doc: `Reads a local YAML (or JSON) file at ` + "`path`" + ` and returns its value: dicts, lists,
strings, numbers, bools and None. A file of several documents returns a list of
them. Errors name the file and line. Paths resolve as for read_file.`,
			Fn: readYAML,
		},
		{
			Name:   "secret",
			Params: []string{"value"},
			Effect: engine.Read,
			Pure:   true,
			Doc: `Marks a string ` + "`value`" + ` as secret. The value works wherever a string does in
values (` + "`set=`" + `) and manifests (` + "`kube_apply`" + `), but the trace, print() and error messages
show <redacted>.

Formatting keeps it secret: ` + "`\"postgres://app:%s@db\" % pw`" + `, ` + "`str(pw)`" + `,
` + "`\"{}\".format(pw)`" + `, ` + "`pw + \"…\"`" + ` and ` + "`json.encode(…)`" + ` give a string that carries the
secret sealed (encrypted with a key of the running process): the cluster gets the
real text, outputs show ` + "`postgres://app:<redacted>@db`" + `. Inside the plan that string is
not the real text (its length and contents differ), and a string operation that
cuts or changes the sealed part (slicing, ` + "`upper()`" + `) makes the builtin that gets
it fail with the plan position; so does a secret used where plate would show it
or use it as is (a release name, a namespace, a path, a dict key).`,
			Fn: secret,
		},
	}
}

func confirm(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var message string
	var def bool
	if err := c.Unpack(args, kwargs, &message, &def); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	a, err := c.Engine.Asker().Confirm(c.Ctx, message, def)
	switch {
	case errors.Is(err, ask.ErrNoTerminal):
		return nil, exit.Errorf(exit.Aborted, "confirm: cannot ask %q: no terminal to ask on; pass --yes to answer yes", message)
	case errors.Is(err, ask.ErrDeclined):
		c.Report.Summary = "declined: " + message
		return nil, &exit.Error{Code: exit.Aborted, Msg: "aborted by user"}
	case err != nil:
		return nil, exit.Wrap(exit.Aborted, fmt.Errorf("confirm: %w", err))
	}
	switch a.How {
	case engine.WouldAsk, engine.WillAsk:
		c.Report.Summary = "would ask: " + message
		if a.How == engine.WillAsk {
			c.Report.Summary = "will ask: " + message
		}
		if a.Yes {
			c.Report.Summary += " (--yes answers yes)"
		}
	case engine.ByYes:
		c.Report.Summary = "confirmed by --yes: " + message
	case engine.Scripted:
		c.Report.Summary = "confirmed (scripted): " + message
	default:
		c.Report.Summary = "confirmed: " + message
	}
	return starlark.True, nil
}

func rollbackOnFailure(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	enabled := true
	if err := c.Unpack(args, kwargs, &enabled); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	if !enabled {
		c.Report.Summary = "no rollback on failure"
		return starlark.None, nil
	}
	c.Engine.SetRollbackOnFailure()
	c.Report.Summary = "if the run fails, the releases it changed are rolled back"
	return starlark.None, nil
}

func readFile(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := c.Unpack(args, kwargs, &path); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	data, err := os.ReadFile(c.Path(path))
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "read_file: %s: %v", path, unwrapPathError(err)).WithHint("%s", c.PathHint(path))
	}
	c.Report.Summary = fmt.Sprintf("read %s (%d bytes)", path, len(data))
	return starlark.String(data), nil
}

func readYAML(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := c.Unpack(args, kwargs, &path); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	data, err := os.ReadFile(c.Path(path))
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "read_yaml: %s: %v", path, unwrapPathError(err)).WithHint("%s", c.PathHint(path))
	}
	var docs []any
	for i, doc := range splitYAML(data) {
		var v any
		if err := yaml.Unmarshal(doc.data, &v); err != nil {
			return nil, exit.Errorf(exit.Usage, "read_yaml: %s: %s", path, yamlErrorLine(err, doc.line, i))
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
	c.Report.Summary = fmt.Sprintf("read %s", path)
	switch len(docs) {
	case 0:
		return starlark.None, nil
	case 1:
		return builtins.FromGo(docs[0])
	}
	return builtins.FromGo(docs)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type yamlDoc struct {
	data []byte
	line int // first line of the document in the file
}

// splitYAML splits a stream at "---" lines, remembering where each
// document starts so errors can name the file's line.
func splitYAML(data []byte) []yamlDoc {
	var docs []yamlDoc
	lines := strings.SplitAfter(string(data), "\n")
	start, cur := 1, []string{}
	for i, l := range lines {
		if strings.TrimRight(l, " \t\r\n") == "---" {
			docs = append(docs, yamlDoc{data: []byte(strings.Join(cur, "")), line: start})
			cur, start = nil, i+2
			continue
		}
		cur = append(cur, l)
	}
	return append(docs, yamlDoc{data: []byte(strings.Join(cur, "")), line: start})
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlErrorLine rewrites "line N" in a YAML error to the line in the file.
func yamlErrorLine(err error, docStart, docIndex int) string {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
		n, _ := strconv.Atoi(msg[m[2]:m[3]])
		return fmt.Sprintf("line %d: %s", n+docStart-1, strings.TrimSpace(msg[:m[0]]+msg[m[1]:]))
	}
	return fmt.Sprintf("document %d: %s", docIndex+1, msg)
}

func secret(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := c.Unpack(args, kwargs, &v); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	switch v := v.(type) {
	case *builtins.Secret:
		return v, nil
	case starlark.String:
		return builtins.NewSecret(string(v)), nil
	}
	return nil, exit.Errorf(exit.Usage, "secret: value must be a string, got %s", v.Type())
}
