// Command plate runs deploy plans written in Starlark.
package main

import (
	"os"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

func main() {
	// client-go logs through klog; plate reports errors itself.
	klog.SetLogger(logr.Discard())
	os.Exit(Main(os.Args[1:], defaultFactory()))
}
