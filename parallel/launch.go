package parallel

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/tensor"
)

// Launch runs fn once on every rank of a data-parallel job, so that one
// trainer program runs unchanged in process and under a launcher:
//
//   - ranks > 1: ranks goroutines of this process on the local backend
//     (local.Run, with opts), the CPU kernels' threads bounded to an equal
//     share of the cores (tensor.SetThreads(GOMAXPROCS/ranks)) so that the
//     ranks do not oversubscribe the machine;
//   - otherwise the world of the launched job (collectives.Init): under
//     `mpirun -np N` or `srun --mpi=pmix` the MPI backend (the program
//     imports collectives/mpi and is built with -tags mpi), with the
//     threads bounded to the cores' share of the ranks on this machine
//     (GOMAXPROCS/LocalSize); started alone, one rank.
//
// The thread bound is restored when Launch returns. fn's errors are
// returned (joined across in-process ranks, each prefixed with its rank).
func Launch(ctx context.Context, ranks int, fn func(ctx context.Context, c collectives.Comm) error, opts ...local.Option) error {
	p := runtime.GOMAXPROCS(0)
	if ranks > 1 {
		defer tensor.SetThreads(tensor.SetThreads(max(1, p/ranks)))
		return local.Run(ctx, ranks, fn, opts...)
	}
	env, err := collectives.ReadEnv(os.Getenv)
	if err != nil {
		return err
	}
	if env.LocalSize > 1 {
		defer tensor.SetThreads(tensor.SetThreads(max(1, p/env.LocalSize)))
	}
	c, err := collectives.Init(ctx)
	if err != nil {
		return err
	}
	err = fn(ctx, c)
	if err != nil {
		err = fmt.Errorf("rank %d: %w", c.Rank(), err)
		c.Abort(err)
	}
	if cerr := c.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}
