//go:build !(mpi && cgo)

// Command faultjob needs the mpi build tag (see main.go).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "faultjob: build with -tags mpi")
	os.Exit(2)
}
