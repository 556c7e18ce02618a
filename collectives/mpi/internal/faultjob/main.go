//go:build mpi && cgo

// Command faultjob is a fault drill for the MPI backend, run under mpirun
// by TestJobFaults: every rank does one good AllReduce, then rank 1
// misbehaves as -mode says while the others call AllReduce with a context
// that never ends. Each rank prints one line "rank R: <error> after <ms>"
// and exits 1 if its call failed.
//
//	exit     rank 1 calls os.Exit(1) (dies without MPI_Finalize)
//	abort    rank 1 calls Abort and returns its error
//	return   rank 1 returns early: it closes without the call
//	deadline rank 1 calls with a 200 ms deadline; rank 2 comes 2 s late
//	stuck    rank 1 calls Abort and then hangs forever without Close
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tessera-ml/tessera/collectives"
	_ "github.com/tessera-ml/tessera/collectives/mpi"
	"github.com/tessera-ml/tessera/tensor"
)

func main() {
	mode := flag.String("mode", "abort", "exit, abort, return, deadline or stuck")
	flag.Parse()
	ctx := context.Background()
	c, err := collectives.Init(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultjob: Init:", err)
		os.Exit(2)
	}
	r := c.Rank()
	x := tensor.Ones(tensor.Float32, 8)
	if err := c.AllReduce(ctx, x, collectives.Sum); err != nil {
		fmt.Fprintln(os.Stderr, "faultjob: the good round:", err)
		os.Exit(2)
	}
	if err := c.Barrier(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "faultjob: barrier:", err)
		os.Exit(2)
	}
	const delay = 200 * time.Millisecond
	start := time.Now()
	switch {
	case r == 1 && *mode == "exit":
		time.Sleep(delay)
		fmt.Println("rank 1: exiting with status 1")
		os.Exit(1)
	case r == 1 && (*mode == "abort" || *mode == "stuck"):
		time.Sleep(delay)
		err = errors.New("rank 1 gives up")
		c.Abort(err)
		if *mode == "stuck" {
			fmt.Println("rank 1: aborted, now stuck")
			select {}
		}
	case r == 1 && *mode == "return":
		time.Sleep(delay)
	case r == 1 && *mode == "deadline":
		dctx, cancel := context.WithTimeout(ctx, delay)
		err = c.AllReduce(dctx, x, collectives.Sum)
		cancel()
	case r == 2 && *mode == "deadline":
		time.Sleep(10 * delay)
		start = time.Now()
		err = c.AllReduce(ctx, x, collectives.Sum)
	default:
		err = c.AllReduce(ctx, x, collectives.Sum)
	}
	ms := float64(time.Since(start).Microseconds()) / 1e3
	fmt.Printf("rank %d: %v after %.1f ms\n", r, err, ms)
	if cerr := c.Close(); cerr != nil {
		fmt.Printf("rank %d: Close: %v\n", r, cerr)
	}
	if err != nil {
		os.Exit(1)
	}
}
