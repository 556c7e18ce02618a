// Package mpi is the OpenMPI backend of package collectives, through cgo.
// It is compiled only with the mpi build tag (it needs Debian's
// libopenmpi-dev: apt-get install openmpi-bin libopenmpi-dev); without the
// tag the package is empty apart from Linked, which reports false.
//
// Importing the package registers the "mpi" backend with collectives, so a
// program started by mpirun gets its world communicator from
// collectives.Init:
//
//	import (
//		"github.com/tessera-ml/tessera/collectives"
//		_ "github.com/tessera-ml/tessera/collectives/mpi"
//	)
//
//	c, err := collectives.Init(ctx) // rank and size from OMPI_COMM_WORLD_*
//	defer c.Close()                 // the world communicator's Close calls MPI_Finalize
//
// and runs as
//
//	go build -tags mpi -o prog . && mpirun -np 4 ./prog
//
// (docs/multi-machine.md: across machines with mpirun -H a,b).
//
// Calls map to MPI's collectives with MPI_IN_PLACE (AllReduce,
// Broadcast, Reduce, AllGather, MPI_Reduce_scatter_block, MPI_Alltoall,
// Isend/Irecv, Barrier, MPI_Comm_split). Float16 and BFloat16 use
// user-defined MPI operators that compute in float32; Avg is Sum followed
// by a division. The reduction order is MPI's.
//
// Send/Recv: each transfer is a header from the sender, an acknowledgement
// carrying the receiver's header back, and the data (posted with the header
// up to EagerMax bytes, after the acknowledgement above), so a dtype, count
// or shape mismatch is an ErrMismatch on both sides, and Send returns once
// the receiver has matched it. MPI alone reports a truncation to the
// receiver only.
//
// Deadlines: a call whose context can be cancelled (ctx.Done() != nil)
// uses MPI's non-blocking form and polls it, so it returns when the
// context ends; the communicator is then aborted locally (later calls
// fail) and the abandoned request's buffers stay pinned. A call with a
// context that cannot end (context.Background()) uses the blocking MPI
// call, with no polling overhead. MPI has no way to tell peers that a
// rank failed: they fail at their own deadlines, or when mpirun ends the
// job after the failed process exits with a non-zero status.
//
// Argument checks: before each collective the ranks compare a 19-word
// header (call, dtypes, reduction, root, counts, leading dims, and the
// length and hash of the full shapes and of the calls a Group fused into
// one buffer) with one small MPI_Allreduce, so mismatched shapes, dtypes or
// groups are an error naming both sides instead of a hang or corruption. Set TESSERA_MPI_CHECK=0 to skip
// it (one fewer small message per call).
package mpi
