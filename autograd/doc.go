// Package autograd is Tessera's define-by-run reverse-mode automatic
// differentiation over tensor ops.
//
// A Var holds a tensor value and, when it was produced by an op on Vars that
// need gradients, the node recording how to send a gradient back. Leaves are
// made with NewVar, Param (requires a gradient) and Constant. Calling
// Backward on a result walks the recorded graph in reverse topological order
// (deterministic: by descending creation order) and accumulates gradients in
// the leaves' Grad.
//
//	x := autograd.Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
//	y := autograd.Sum(autograd.Square(x), false) // y = Σ x²
//	if err := y.Backward(); err != nil { ... }
//	fmt.Println(x.Grad().Float64s()) // [2 4 6]
//
// Ops are package functions (Add, MatMul, Softmax, Conv2d, ...) mirroring
// package tensor; Variance is tensor.Var (Var names the type). Where a
// gradient broadcasts, it is summed back to the input's shape. Prod's
// gradient is exact where inputs are zero (it never divides by x there).
// Gradients follow PyTorch's conventions at ties and kinks (Maximum and
// Minimum split evenly where the operands are equal, Max and Min share among
// tied extrema, ReLU and Abs give 0 at 0), and GELU is the exact erf form
// (GELUTanh the approximation); TestAgainstTorch checks every op's value and
// vector-Jacobian product against PyTorch in float64 (docs/pytorch.md).
//
// Every backward rule is written with the differentiable ops of this
// package, so BackwardOpts{CreateGraph: true} (or Grad with it) records the
// backward computation too and gradients can be differentiated again
// (Hessian-vector products, second-order meta-learning).
//
// Hooks registered on leaves (RegisterHook) run during the pass as soon as
// the leaf's gradient is final, last layer first, so a data-parallel trainer
// can start reducing early gradients while the rest of the pass runs.
//
// Checkpoint trades compute for memory: it drops a block's activations
// and recomputes them in the backward pass. GradCheck compares a
// function's gradients with central differences in float64.
//
// NoGrad scopes (and the DisableGrad guard) disable recording in the
// goroutine that opens them, as PyTorch's grad mode is per thread; other
// goroutines keep recording. Backward passes never depend on the mode and
// keep no global tape, so separate goroutines may build and differentiate
// their own graphs concurrently, also when the graphs share leaves (one
// model's parameters): each leaf's Grad receives the sum of every pass's
// gradient. A single graph must not be differentiated by two goroutines at
// once.
//
// Autocast (EnableAutocast, WithAutocast) is per goroutine too: a
// CastRule maps op names to the dtype their floating-point inputs are
// converted to (package amp makes the rules: matrix products in bfloat16
// or float16, reductions and softmax in float32). The matrix products,
// convolutions, reductions, softmax and exponential/logarithmic ops of
// this package consult it, and ops defined elsewhere call
// AutocastInputs; backward passes never autocast.
//
// There is no version counter: changing a Var's value in place (SetValue,
// an optimizer step) while a graph that saved it still awaits its backward
// pass gives wrong gradients. Update parameters after Backward.
//
// A first-order pass recycles its backward temporaries, the small CPU
// gradients that one rule produces and the next consumes: the rules of
// this package write them with the tensor package's Into forms into
// tensors from a shared tensor.Pool (or into the gradient they consumed,
// when nothing else views it), and the pass gives each back once no
// gradient of the pass views it. A gradient that leaves the pass (a leaf's
// Grad, a result of Grad, anything given to a rule recorded with Record
// from another package) is never recycled.
//
// autograd never touches host memory directly: everything is a tensor op,
// so the same code runs on every device.
package autograd
