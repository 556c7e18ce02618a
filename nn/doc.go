// Package nn holds Tessera's neural-network building blocks on top of
// package autograd: a Module interface with named parameters and buffers,
// layers (Linear, Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d/2d, LayerNorm,
// Embedding, Dropout, MultiHeadAttention, activations, Sequential), losses
// (fused CrossEntropy with label smoothing, class weights and an ignored
// index, NLLLoss, MSELoss, BCEWithLogits), Kaiming and Xavier
// initialisation from a Philox tensor.Generator (deterministic by seed),
// and safetensors checkpoints.
//
// Names mean what they mean in PyTorch: NewGELU is the exact (erf) GELU
// and NewGELU("tanh") the approximation; CrossEntropy takes logits
// [N, C, d1, ...] with targets [N, d1, ...] as well as classes last;
// pooling reads a zero stride as the kernel size and has CeilMode and
// CountIncludePad. TestAgainstTorch checks every layer and loss against
// PyTorch in float64 (docs/pytorch.md).
//
// Modules embed Base and register their parameters, buffers and children;
// Parameters, Buffers and StateDict then list them in registration order
// under dotted names ("0.weight", "encoder.layers.1.bias"), and
// LoadStateDict checks every name and shape before copying anything.
//
// Layers read their parameters through the fields they registered
// (RegisterParam takes the field's address), so FunctionalCall (and
// WithParams) can run a forward pass with substitute "fast weights"
// computed from the parameters (second-order MAML) on a structural copy of
// the module, leaving the module itself untouched; Clone makes a deep copy
// and Snapshot saves and restores parameter values in place.
//
// Layers compute only with tensor and autograd ops, so a model built on the
// CPU runs unchanged on any registered device (OnDevice places the
// parameters).
//
// A training step with plain SGD:
//
//	g := tensor.NewGenerator(1)
//	model := nn.NewSequential(nn.NewLinear(g, 784, 256, true), nn.NewReLU(), nn.NewLinear(g, 256, 10, true))
//	nn.ZeroGrad(model)
//	loss := nn.CrossEntropy(model.Forward(autograd.Constant(x)), labels)
//	if err := loss.Backward(); err != nil { ... }
//	for _, p := range nn.Params(model) {
//		tensor.SubInto(p.Value(), p.Value(), tensor.MulScalar(p.Grad(), 0.1))
//	}
package nn
