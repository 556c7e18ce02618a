// Package tensor is Tessera's n-dimensional array: strided tensors over a
// device's storage, and the op API every other package is built on.
//
// A Tensor is a view (shape, strides, offset) of a Storage owned by a Device.
// Reshape (when the strides allow), Permute, Transpose, Slice, Narrow,
// Select, Expand, Squeeze and Unsqueeze are views: they copy nothing, and a
// write through a view is seen by its base. Contiguous copies only when the
// tensor is not already row-major.
//
// Ops broadcast like NumPy, promote dtypes like PyTorch (integer division and
// Exp/Log/... of integers give Float32), and run on the device of their
// operands. The CPU device is pure Go and uses all cores for large tensors;
// other devices register themselves with RegisterDevice (the CUDA device from
// package cuda/cudatensor, when a program imports it), and
// every device must pass the conformance suite in tensor/devicetest.
//
// Random numbers come from a Philox-4x32-10 counter-based Generator: a seed
// and an offset fully determine a draw on every device.
//
// # Errors
//
// Misuse is a programming error and panics with a *Error that names the op
// and the shapes, for example
//
//	tensor.Add: shapes [2 3] and [4] do not broadcast
//
// as gonum and PyTorch do; other packages make theirs with Errorf. Shapes
// whose element count (or size in bytes) overflows an int are misuse too.
// Device failures during an op panic with a *Error that wraps the device's
// error. Running out of memory is such a failure, never a crash: every host
// allocation is checked against the host memory limit (the machine's
// physical memory or its cgroup's limit; SetHostMemoryLimit or
// TESSERA_HOST_MEMORY_LIMIT change it) before the Go runtime is asked, and
// the *Error names the bytes asked and available; GPU devices report their
// allocator's failure the same way. errors.Is(err, ErrOutOfMemory) holds for
// both. Code that wants an error value instead wraps the ops in Try:
//
//	err := tensor.Try(func() { y = tensor.MatMul(a, b) })
//
// Functions that do I/O or talk to devices directly return an error.
package tensor
