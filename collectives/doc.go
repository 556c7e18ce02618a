// Package collectives is Tessera's NCCL-style communication layer: a Comm
// interface with AllReduce (sum, avg, prod, min, max), Broadcast, Reduce,
// AllGather, ReduceScatter, AllToAll, Send/Recv and Barrier over tensors of
// any dtype, grouped calls that fuse many small tensors into one transfer,
// asynchronous calls with handles, and sub-communicators (Split, like
// MPI_Comm_split) for data × pipeline × tensor-parallel grids. Every call
// takes a context.Context.
//
// Backends:
//
//   - collectives/local: N ranks as goroutines in one process (local.Run);
//     the way to run and test multi-worker training on one machine.
//   - collectives/mpi: OpenMPI through cgo, behind the mpi build tag; run
//     the program with `mpirun -np 4 ./prog` and get the communicator from
//     Init (docs/multi-machine.md covers runs across machines).
//   - collectives/nccl: NCCL (libnccl.so.2, loaded at run time) for GPU
//     tensors; rank 0's unique id reaches the others over an existing
//     communicator (NewFromComm, e.g. the MPI world) or a TCP rendezvous
//     (Init with TESSERA_BACKEND=nccl and MASTER_ADDR/MASTER_PORT).
//   - "self": the single-rank communicator Init returns to a program that
//     was not launched by mpirun.
//
// The local backend's all-reduce algorithms are Ring (reduce-scatter fused
// with all-gather, block by block), Direct (every rank folds every buffer;
// a flat tree) and Tree (stages up a binary tree); local.AutoAlgorithm
// picks by world and message size. bench/collectives prints nccl-tests
// style tables for every backend.
//
// # Semantics
//
// Calls are in place, like NCCL's: AllReduce(ctx, t, op) overwrites t on
// every rank with the reduction of every rank's t; see Comm for the rest.
// The k-th call on each rank of a communicator matches the k-th call on
// the others; ranks that pass different calls, shapes, dtypes, roots or
// operators get an error wrapping ErrMismatch that names both sides, e.g.
// "AllReduce: rank 0 passed float32[4 3] but rank 2 passed float32[4 4]".
//
// # Reduction order
//
// The local backend reduces every element in one fixed order, whatever
// the algorithm, message size, chunking or grouping: the balanced binary
// tree over ranks in rank order, R(lo, hi) = R(lo, mid) ⊕ R(mid, hi) with
// mid = lo + (hi-lo+1)/2 and R(r, r+1) = x_r (for 4 ranks
// (x0 ⊕ x1) ⊕ (x2 ⊕ x3), for 3 ranks (x0 ⊕ x1) ⊕ x2). Float16 and BFloat16
// are accumulated in float32 and rounded once; Avg divides the sum by the
// world size once at the end. Every rank therefore gets bit-identical
// results, equal to a serial fold in that order. The MPI and NCCL backends
// use their library's reduction order: not the canonical one, and bitwise
// equality across ranks is up to the library (the MPI standard advises it
// but does not require it).
//
// # Faults
//
// A rank that returns an error or panics inside local.Run, a call whose
// context ends before its peers arrive (a stalled peer), and Comm.Abort
// all abort the communicator: every pending and later call on every rank
// returns an error wrapping ErrAborted that names the rank and the cause.
// Nothing hangs and no goroutine is left behind.
package collectives
