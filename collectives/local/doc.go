// Package local is the in-process backend of package collectives: a world of
// N ranks that are goroutines of one program, exchanging tensors through
// shared memory. It is how multi-worker training runs and is tested on one
// machine, on the CPU or on one GPU's tensors, and it is the reference the MPI
// and NCCL backends are checked against (collectives/colltest).
//
// New returns the N communicators of a world, one per rank, each to be used
// from its own goroutine; Run starts the N goroutines, hands each its
// communicator and returns their errors joined, aborting the group when a
// rank fails or panics so that no peer hangs:
//
//	err := local.Run(ctx, 4, func(ctx context.Context, c collectives.Comm) error {
//		return c.AllReduce(ctx, grad, collectives.Avg)
//	})
//
// AllReduce has three algorithms with bit-identical results (every rank folds
// in the same canonical rank order, NaNs included): Ring (reduce-scatter fused
// with all-gather, the default for most sizes), Direct (for small messages on
// two ranks) and Tree (the network form, kept for comparison). Auto picks
// between them with AutoAlgorithm; WithAlgorithm forces one. Split makes
// sub-communicators, SendRecv carries point-to-point traffic, and every call
// takes a context whose cancellation aborts the group. The example of package
// collectives runs four ranks with Run.
package local
