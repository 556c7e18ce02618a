// Package cudatensor is the CUDA tensor device: a tensor.Device (and
// tensor.MatMulAdder) that keeps tensors in GPU memory and runs every
// primitive as CUDA kernels (kernels/cudakernels/tensordev.cu, embedded as PTX) or
// cuBLAS calls. Importing the package registers the device kind "cuda":
//
//	import (
//		"github.com/tessera-ml/tessera/tensor"
//		_ "github.com/tessera-ml/tessera/cuda/cudatensor"
//	)
//
//	dev, err := tensor.GetDevice("cuda:0") // err wraps cuda.ErrUnavailable without a GPU
//	if err != nil { ... }
//	x := tensor.Randn(64, 128).To(dev)      // copy to the GPU
//	y := tensor.MatMul(x, tensor.Transpose(x, 0, 1)).Softmax(-1)
//	fmt.Println(y.To(tensor.CPU))           // waits for the GPU
//	cudatensor.Release(x)                   // free now (else when x is garbage)
//
// # Semantics
//
// The device reproduces the CPU device's results: same dtype conversions
// (one rounding into float16/bfloat16), the same NaN rules (Maximum, Max,
// ArgMax), integer arithmetic that wraps, reductions accumulated in
// float64 (floats) or int64 (integers, bools), ArgMax/ArgMin returning the
// first occurrence, and RandomFill drawing the same Philox-4x32-10 stream
// with the same mapping (uniform, Bernoulli and integer draws are
// bit-identical to the CPU's; normal draws agree to an ulp). Float unary
// ops are evaluated in float64 and rounded once.
//
// # Asynchrony and memory
//
// Every op is queued on the device's (legacy default) stream and returns at
// once; ToHost (and so Tensor.To(tensor.CPU), String, Item...) waits for
// the queued work. Gather, ScatterAdd and integer Div also wait, because
// they read back an error flag to panic on a bad index or a division by
// zero as the CPU does. Memory comes from the device's caching allocator
// (cuda.Allocator): Release frees a tensor's storage at once, and a
// runtime.AddCleanup frees it when it becomes unreachable; when memory runs
// out the allocator runs the garbage collector, releases its cache and
// retries before Alloc returns an error wrapping cuda.ErrOutOfMemory (and
// tensor.ErrOutOfMemory, as a host allocation that does not fit does).
//
// # Kernels and fallbacks
//
// Native (GPU) for every dtype unless noted:
//   - Fill, Copy (any dtype pair), Where, Gather: one strided kernel over up
//     to 8 merged dimensions (broadcast operands have stride 0);
//   - Unary: float32/float64/float16/bfloat16 all ops; int32/int64 Neg, Abs,
//     Sign, Square, ReLU, Step, Clamp, Affine, LeakyReLU, Floor, Ceil,
//     Round, PowScalar with exponent 1 or 2; bool Not;
//   - Binary: arithmetic on all numeric dtypes; comparisons (bool: Eq, Ne);
//     And, Or, Xor on bool;
//   - Reduce: all ops and dtypes (a strided copy makes the reduced axes
//     contiguous and last first, when they are not);
//   - MatMul/MatMulAdd: cuBLAS GemmEx / GemmStridedBatchedEx for float32
//     (FP32, or TF32 when Device.TF32 is set), float64, float16 and bfloat16
//     (through float32 on GPUs before sm_80), int32/int64 through float64;
//     transposed operands are passed as op flags, other layouts are copied;
//   - Softmax/LogSoftmax: float dtypes, one block per row;
//   - ScatterAdd: float32, float64, int32, int64 with atomics; float16 and
//     bfloat16 through float32 scratch;
//   - RandomFill: all distributions and dtypes.
//
// Host fallbacks (slow: they wait for the GPU, copy the operands' whole
// storages to the host, run the CPU kernel and copy the result back):
//   - Unary ops on integers other than those above (Exp, Log, Sin, ... of
//     an int tensor) and any op on bool other than Not;
//   - MatMul of bool tensors; Softmax of integer tensors;
//   - any elementwise op whose operands still need more than 8 dimensions
//     after merging contiguous axes;
//   - any primitive whose kernel is missing from the embedded PTX.
//
// Fallbacks() counts them. Ops that the CPU rejects with a panic (logical
// ops on numbers, ScatterAdd on bool) panic the same way through the
// fallback.
package cudatensor
