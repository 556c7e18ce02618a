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
// Faults across ranks. Every call uses MPI's non-blocking form and polls
// it with MPI_Test (a tight loop for TESSERA_MPI_SPIN, 100ms by default,
// then every 250µs), together with its context and the control
// communicator (an MPI_Comm_dup of each communicator) on which the peers
// send notices. What is guaranteed, as far as MPI itself works:
//
//   - Abort, a context that ends during a call, an MPI error or a local
//     argument error (a count past MPI's int) abort the communicator on
//     this rank and send an abort notice to every peer. A peer's pending
//     call, whatever its context (context.Background() included), and its
//     later calls return an error wrapping ErrAborted that names the rank
//     and the cause ("rank 0 learned from rank 1: rank 1 gives up").
//     Measured on a loaded 2-core host, np 2-3: peers return 0.3-12 ms
//     after the abort or the deadline (TestZZAbortReachesPeers,
//     TestZZDeadlineReachesPeers, TestJobFaults/abort and /deadline).
//   - A rank that closes a communicator (it returned early) sends a close
//     notice with how far it got: the collective calls it started and the
//     transfers it sent to and received from each peer. A peer's pending or
//     later call that needs it beyond that point fails with ErrAborted
//     ("rank 1 closed its communicator after 2 collective calls, and this
//     is call 3"), within about a millisecond measured; a call it did
//     take part in completes normally.
//   - An abort of a communicator fails the communicators split from it;
//     an abort of a sub-communicator leaves its parent usable.
//   - Close of the world: a healthy rank waits (on the control
//     communicator, polled) for every rank to reach Close and then calls
//     MPI_Finalize, so a job whose ranks all return, with errors or not,
//     ends normally with the exit statuses the programs choose. An
//     aborted rank waits at most TESSERA_MPI_CLOSE_GRACE (10s by default)
//     for the others; if one does not come (it is stuck or gone), it calls
//     MPI_Abort, which ends the whole job through mpirun and does not
//     return (TestJobFaults/stuck: the job ended 2.1 s after the hang with
//     a 2 s grace).
//   - A rank that exits without Close (os.Exit(1), a crash, a signal)
//     cannot tell anyone: mpirun ends the job and names it ("Process name:
//     [[jobid,1],1] Exit code: 1"); the peers are killed, they do not get
//     ErrAborted. Measured: the job ended 1.1 s after rank 1 exited
//     (TestJobFaults/exit). A rank that exits with status 0 without Close
//     also ends the job (mpirun reports it did not call MPI_Finalize).
//
// Not guaranteed: a rank stuck in its own code (not in a call, not
// aborted) is indistinguishable from a slow one, so its peers wait until
// their own deadlines, as with any MPI program. Split's MPI_Comm_split and
// MPI_Comm_dup block (MPI has no non-blocking split): they start only once
// the polled argument check has shown every rank is in Split, so only a
// rank that dies in that window can hold them up, until mpirun ends the
// job. The requests a deadline abandons keep their buffers pinned for the
// life of the process, and the control communicators of closed
// sub-communicators are not freed (a late notice must not reach the next
// communicator that reuses the context id), one per Split.
//
// Argument checks: before each collective the ranks compare a 19-word
// header (call, dtypes, reduction, root, counts, leading dims, and the
// length and hash of the full shapes and of the calls a Group fused into
// one buffer) with one small MPI_Allreduce, so mismatched shapes, dtypes or
// groups are an error naming both sides instead of a hang or corruption.
// Set TESSERA_MPI_CHECK=0 to skip it (one fewer small message per call).
package mpi
