// Package pipeline is pipeline-parallel training (course module 3): a
// model cut into stages that run on different ranks, the batch cut into
// micro-batches that flow through the stages, activations sent forward and
// their gradients backward with Send/Recv.
//
// Three pieces, usable apart:
//
//   - Stages: Split, SplitEven and Balance cut a model's layers into Parts,
//     contiguous runs of layers whose parameters keep the names they have
//     in the unsplit model (so the parts' state dicts together are the
//     model's, and checkpoints are interchangeable). LayerCosts measures
//     each layer's forward+backward time for Balance.
//   - Schedules as data: GPipe (all forwards, then all backwards), OneFOneB
//     (PipeDream-Flush's 1F1B: the same bubble, at most p micro-batches of
//     activations in flight instead of m) and Interleaved (Megatron-LM's
//     interleaved 1F1B with v model chunks per rank: the bubble shrinks to
//     (p−1)/(v·m+p−1)). A Schedule is the list of actions of every rank;
//     it prints, validates, and Simulate computes its timeline, bubble and
//     peak activations for any (p, m, v) without a model.
//   - The executor: New(comm, schedule, chunks, options) and Step run a
//     schedule on one rank of a pipeline communicator (any Comm: the
//     world, or a sub-communicator of a data × pipeline × tensor mesh).
//     Transfers are asynchronous (Comm.Start), issued by a goroutine per
//     rank as early as each can be (a receive at once, a send when its
//     data is computed), in one order every rank agrees on (the simulated
//     time of each transfer), so the rendezvous of Send and Recv cannot
//     deadlock and a send is matched without waiting for the receiver's
//     next action. An activation travels with a small shape header, so
//     stages need not declare their output shapes. Options.Recompute recomputes each chunk's activations in
//     the backward pass (autograd.Checkpoint); Options.Recorder records
//     one profiler span per action, from which Measure derives the
//     measured timeline and bubble. A rank that fails aborts the
//     communicator, so the others return an error instead of hanging.
//
// Step's gradients are the single-process gradients of the mean loss over
// the micro-batches (the tests check every schedule against one process to
// 1e-9 in float64).
//
// A sketch of one rank's training step (comm from local.Run,
// collectives.Init, or a mesh):
//
//	parts, _ := pipeline.SplitEven(pipeline.SequentialLayers(model), p*v)
//	sched, _ := pipeline.OneFOneB(p, m)
//	chunks := pipeline.Chunks(sched, parts, comm.Rank())
//	pl, _ := pipeline.New(comm, sched, chunks, pipeline.Options{})
//	xs, _ := pipeline.MicroBatches(x, m)
//	ys, _ := pipeline.MicroBatches(y, m)
//	loss, err := pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var {
//		return nn.CrossEntropy(out, ys[i])
//	})
//	// then opt.Step() on the rank's parameters (nn.Params of its chunks)
package pipeline
