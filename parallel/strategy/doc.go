// Package strategy is the set of ways the course's platforms keep
// data-parallel replicas in step, behind one interface so that one
// trainer (examples/ddp, bench/ddp: -strategy) can compare them on the
// same model:
//
//   - "allreduce": PyTorch DDP (parallel/ddp): gradient buckets fixed in
//     advance, views of flat buffers, each all-reduced as soon as backward
//     completes it. Traffic per rank: 2(N-1)/N·S each way (ring).
//   - "fusion": Horovod's tensor fusion: gradients are queued as backward
//     finishes them, copied into a fusion buffer up to a threshold
//     (HOROVOD_FUSION_THRESHOLD, 64 MiB) and the buffer is all-reduced;
//     the groups are cut from the stream of ready gradients, not laid out
//     in advance. Traffic: 2(N-1)/N·S.
//   - "sharded-ps": BigDL's parameter server on Spark (SoCC'19): every
//     rank owns a slice of the flat parameters, receives the reduced
//     gradients of its slice (reduce-scatter, BigDL's shuffle), updates it
//     and every rank gathers the fresh slices (all-gather, BigDL's
//     broadcast). Traffic: (N-1)/N·S twice, balanced over the ranks.
//   - "central-ps": one server, rank 0, receives every worker's gradients,
//     updates and sends the parameters back: (N-1)·S each way at the
//     server, S at a worker.
//
// The parameter-server strategies take a staleness bound s
// (Options.Staleness): the gradient exchange of step t is completed and
// applied at step t+s, so it overlaps s steps of computation — bounded-
// staleness (stale-synchronous) SGD; s = 0 is synchronous SGD. Every rank
// applies the same updates in the same order, so replicas never diverge.
//
// S is the size of the gradients in bytes (the parameter-server strategies
// pad it to a multiple of the world size).
package strategy
