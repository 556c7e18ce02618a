// Package nccl is the NCCL backend of package collectives, for tensors in GPU
// memory on the CUDA device of cuda/cudatensor. It calls libnccl.so.2, which
// package cuda/nccl loads with dlopen at run time, so it builds without CUDA
// or NCCL installed and reports cuda.ErrUnavailable when they are missing.
//
// Importing the package registers the "nccl" backend, which collectives.Init
// opens when TESSERA_BACKEND=nccl: each process uses
// GPU (local rank mod GPU count) unless TESSERA_NCCL_DEVICE says otherwise
// (LocalDevice), and rank 0 shares NCCL's unique id with the others over TCP
// at TESSERA_NCCL_ADDR, or MASTER_ADDR:MASTER_PORT as torchrun sets them
// (Addr, ExchangeTCP). A program that already has a communicator (say the
// MPI world) bootstraps NCCL over it instead:
//
//	dev, err := cudatensor.Open(gpu)
//	gpuComm, err := nccl.NewFromComm(ctx, mpiComm, dev)
//
// New takes the id and the device directly. Calls are enqueued on the
// device's stream like any other GPU op; a failed or cancelled call aborts
// the NCCL communicator (ncclCommAbort) so that no peer hangs, and NCCL's
// errors map to the error kinds of package collectives. The suite of
// collectives/colltest runs against it on a GPU machine (make gpu-tests).
package nccl
