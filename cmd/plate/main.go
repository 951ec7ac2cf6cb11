// Command plate runs deploy plans written in Starlark.
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], defaultFactory()))
}
