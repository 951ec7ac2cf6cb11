// Command peakrss runs a command and writes the peak resident set size of
// that command's process, in bytes, to the file named by -o. Its exit code
// is the command's.
//
//	peakrss -o rss.txt plate run --dry-run --offline plan.star
//
// The benchmarks start the processes they measure through it. A process
// that a large one (a benchmark's test binary) starts directly reports, as
// its ru_maxrss, at least the resident set its parent had: Go starts
// processes with vfork, and Linux counts the memory the child shared with
// its parent before exec. Started by this small process instead, the
// figure is the command's own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

func main() {
	out := flag.String("o", "", "file to write the command's peak RSS (bytes) to")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: peakrss -o FILE COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		os.Exit(127)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		// Kilobytes on Linux.
		if err := os.WriteFile(*out, []byte(strconv.FormatInt(ru.Maxrss*1024, 10)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "peakrss:", err)
		}
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
