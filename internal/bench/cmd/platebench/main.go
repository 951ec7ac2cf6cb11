// Command platebench writes the generated plans of plate's scale
// benchmarks, to run or profile one by hand:
//
//	go run ./internal/bench/cmd/platebench -n 200 -dir /tmp/scale-200
//	plate run --dry-run /tmp/scale-200/plan.star
//
// With -crd-chart it writes the project of the CRD-heavy chart instead
// (WriteCRDChartProject: one release of a generated chart of 10 large CRDs
// and 130 objects):
//
//	go run ./internal/bench/cmd/platebench -crd-chart -dir /tmp/crd-chart
//	plate run --dry-run --offline /tmp/crd-chart/plan.star
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
	crdChart := flag.Bool("crd-chart", false, "write the project of the generated CRD-heavy chart instead of a scale plan")
	flag.Parse()
	if *dir == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: platebench [-n N | -crd-chart] -dir DIR")
		os.Exit(2)
	}
	var plan string
	var err error
	if *crdChart {
		plan, _, err = bench.WriteCRDChartProject(*dir)
	} else {
		plan, err = bench.WriteScalePlan(*dir, *n)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "platebench:", err)
		os.Exit(1)
	}
	fmt.Println(plan)
}
