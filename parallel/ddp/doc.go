// Package ddp is data-parallel training in the manner of PyTorch's
// DistributedDataParallel (Li et al., VLDB 2020): every rank holds a
// replica of the model, trains on its own shard of each batch, and the
// gradients are averaged across ranks by all-reduces that overlap the rest
// of the backward pass.
//
// Wrap checks that every rank built the same model, copies rank 0's
// parameters and buffers to the others, and lays the gradients out in
// buckets (reverse registration order, 1 MiB for the first bucket and
// 25 MiB for the others by default). Each parameter's gradient is a view
// of its bucket's flat buffer (autograd.Var.SetGradBuffer, "gradient as
// bucket view"), so a bucket is all-reduced in place with no copy in or
// out; a gradient hook on every parameter starts its bucket's all-reduce
// (collectives.Comm.Start) as soon as the bucket is complete. Buckets
// start in index order on every rank, so the collectives match even when
// backward finishes parameters in different orders.
//
//	model, _ := ddp.Wrap(net, comm, ddp.Options{})
//	opt := optim.NewAdam(nn.Params(model), optim.Options{LR: 1e-3})
//	for step := range steps {
//		opt.ZeroGrad()
//		loss := nn.CrossEntropy(model.Forward(x), y) // this rank's shard
//		loss.Backward()                              // all-reduces start in here
//		if err := model.Step(opt); err != nil {     // Wait, then opt.Step
//			return err
//		}
//	}
//
// NoSync accumulates gradients over several passes without communicating;
// FindUnusedParameters allows parameters without a gradient; ClipGradNorm
// clips by the global norm; SyncBatchNorm normalises with the statistics
// of the whole global batch. Failures never hang: a parameter that gets no
// gradient, a peer's error or a collective past Options.Timeout make every
// rank's Wait return an error.
package ddp
