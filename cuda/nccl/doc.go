// Package nccl binds NCCL (libnccl.so.2, loaded at run time through the
// same loader as package cuda) for GPU collectives: all-reduce, broadcast,
// reduce, all-gather, reduce-scatter, point-to-point send/recv and groups.
// It is the substrate of the collectives package's NCCL backend.
//
// A communicator is bootstrapped the NCCL way: rank 0 calls GetUniqueID,
// ships the 128 bytes to the other ranks by any channel (MPI, a TCP store),
// and every rank calls InitRank with its device. NCCL >= 2.5 refuses two
// ranks on one GPU, so on a one-GPU machine only a 1-rank communicator can
// be tested.
//
// Threads and contexts: NCCL uses the CUDA context current on the calling
// OS thread. Every call here locks the goroutine to its thread, makes the
// communicator's device context current and calls NCCL. Group calls
// (ncclGroupStart/End) are per thread too: use Group, which keeps all the
// calls of the group on one thread.
package nccl
