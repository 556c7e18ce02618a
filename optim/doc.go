// Package optim updates parameters from their gradients: SGD (momentum,
// dampening, Nesterov, weight decay), Adam, AdamW, RMSProp, LARS and LAMB,
// with parameter groups that carry their own hyperparameters; learning-rate
// schedules (step decay, cosine with a floor, linear warm-up composable with
// another schedule, one-cycle); gradient clipping by global norm and by
// value; and a state dict of named tensors (moments, step counts, group
// hyperparameters) that a checkpoint can hold.
//
// Every update follows the published algorithm and PyTorch's torch.optim
// formulas (see each constructor) and is written with tensor ops, so it runs
// on any device; SGD, Adam and AdamW use tensor.SGDUpdate and
// tensor.AdamUpdate, one fused pass over memory on the CPU (AVX2 for Adam
// in float32) or a device's own kernel (tensor.AdamUpdater).
//
// A training step:
//
//	opt := optim.NewAdam(model.Parameters(), optim.Options{LR: 1e-3})
//	sched := optim.NewScheduler(opt, optim.Warmup{Steps: 100, Then: optim.Cosine{Steps: 900}})
//	for ... {
//		opt.ZeroGrad()
//		loss := ...                 // forward
//		loss.Backward()             // gradients
//		optim.ClipGradNorm(opt.Params(), 1.0)
//		if err := opt.Step(); err != nil { ... }
//		sched.Step()
//	}
package optim
