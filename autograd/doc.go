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
// Every backward rule is written with the differentiable ops of this
// package, so BackwardOpts{CreateGraph: true} (or Grad with it) records the
// backward computation too and gradients can be differentiated again
// (Hessian-vector products, second-order meta-learning).
//
// Hooks registered on leaves (RegisterHook) run during the pass as soon as
// the leaf's gradient is final, last layer first, so a data-parallel trainer
// can start reducing early gradients while the rest of the pass runs.
//
// NoGrad scopes disable recording. The flag is process-wide (Go has no
// goroutine-local state); backward passes never depend on it, so separate
// goroutines may build and differentiate their own graphs concurrently.
//
// autograd never touches host memory directly: everything is a tensor op,
// so the same code runs on every device.
package autograd
