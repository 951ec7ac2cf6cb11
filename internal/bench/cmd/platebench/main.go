// Command platebench writes the generated plans of plate's scale
// benchmarks, to run or profile one by hand:
//
//	go run ./internal/bench/cmd/platebench -n 200 -dir /tmp/scale-200
//	plate run --dry-run /tmp/scale-200/plan.star
//
// The benchmarks themselves run with `go test -bench` (see BENCHMARKS.md).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/plate-dev/plate/internal/bench"
)

func main() {
	n := flag.Int("n", 50, "number of releases")
	dir := flag.String("dir", "", "directory to write the project into (created)")
	flag.Parse()
	if *dir == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: platebench -n N -dir DIR")
		os.Exit(2)
	}
	plan, err := bench.WriteScalePlan(*dir, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "platebench:", err)
		os.Exit(1)
	}
	fmt.Println(plan)
}
