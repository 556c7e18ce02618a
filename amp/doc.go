// Package amp is mixed-precision training: computing in bfloat16 or
// float16 while the weights that accumulate updates stay float32.
//
// Three pieces, usable together or alone:
//
//   - Autocast runs a function with an op policy for the calling
//     goroutine, like torch.autocast: matrix products, linear layers and
//     convolutions compute in the low-precision dtype; reductions,
//     softmax, losses and norms in float32 (Policy lists the classes).
//   - GradScaler is dynamic loss scaling for float16, as
//     torch.cuda.amp.GradScaler: scale the loss, unscale the gradients,
//     skip the step and lower the scale on an inf or NaN, raise it after
//     GrowthInterval good steps; its state dict uses torch's names.
//   - Optimizer is the master-weights arrangement: a low-precision model
//     (CastModule) with low-precision gradients, and an optim.Optimizer
//     that steps float32 master copies, rounded back into the model after
//     every step. With Adam that is 2Ψ + 2Ψ + 12Ψ bytes of model state for
//     Ψ parameters (Bytes measures it), the layout ZeRO partitions.
//
// The CPU device stores bfloat16 and float16 as 16-bit patterns and
// computes every op in float32, rounding the result once (matrix products
// accumulate in float32, as tensor cores do), so low-precision results
// here are what a GPU's 16-bit kernels give up to summation order.
//
// A float16 training step with master weights:
//
//	low := amp.CastModule(model, tensor.Float16)
//	opt := amp.NewOptimizer(nn.Params(low), func(ms []*autograd.Var) *optim.Optimizer {
//		return optim.NewAdam(ms, optim.Options{LR: 1e-3})
//	}, amp.Config{Scaler: amp.NewGradScaler(amp.ScalerOptions{})})
//	for ... {
//		opt.ZeroGrad()
//		var loss *autograd.Var
//		amp.Autocast(amp.Policy{DType: tensor.Float16}, func() {
//			loss = nn.CrossEntropy(low.Forward(x), y)
//		})
//		if err := opt.Scaler().ScaleLoss(loss).Backward(); err != nil { ... }
//		stepped, err := opt.Step() // skipped (and the scale lowered) on overflow
//	}
package amp
