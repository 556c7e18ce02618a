// Package cuda is Tessera's binding to NVIDIA GPUs: the CUDA driver API,
// cuBLAS, a caching device-memory allocator and the launcher for the
// kernels embedded from kernels/cudakernels. NCCL lives in the subpackage
// cuda/nccl.
//
// # No toolkit at build time
//
// The package uses cgo with its own small C declarations (tess_cuda.h) and
// loads libcuda.so.1, libcublas.so.{13,12,11} and libnccl.so.2 with
// dlopen/dlsym when first used. Building needs only a C compiler; no CUDA
// headers or libraries. One binary runs on machines with and without a GPU:
// Available reports false (and Load says why) when the driver, a device or
// the library is missing. With CGO_ENABLED=0, or off linux, a stub is built
// whose calls all fail with ErrUnavailable. Entry points are bound by their
// versioned names (cuMemAlloc_v2, cuMemcpyDtoHAsync_v2, cuStreamDestroy_v2,
// ...), the names exported by every driver since CUDA 11; see docs/cuda.md
// for the library search order and the TESSERA_LIBCUDA, TESSERA_LIBCUBLAS,
// TESSERA_LIBNCCL and TESSERA_CUDA_LIB_DIR overrides.
//
// # Contexts
//
// Each Device uses the device's primary context
// (cuDevicePrimaryCtxRetain), never cuCtxCreate. The driver's "current
// context" is per OS thread and goroutines move between threads, so every
// context-bound call makes the primary context current inside the same cgo
// call, just before calling the driver (a thread-local check, and
// cuCtxSetCurrent only when it differs). Calls are therefore correct from
// any goroutine without runtime.LockOSThread, at the cost of one extra
// cuCtxGetCurrent per call (a few nanoseconds). Code that calls other CUDA
// libraries directly must lock its OS thread and call Device.MakeCurrent.
//
// # Memory and streams
//
// Device.Alloc/Free go through the device's caching Allocator (PyTorch's
// design: 512-byte rounding, 2 MiB segments for small blocks, 20 MiB or
// rounded segments for large ones, stream-ordered reuse, statistics, and a
// garbage-collect-and-retry step before out-of-memory). Errors from the
// driver are *Error values carrying the call, the CUresult and the driver's
// name and description; errors.Is(err, ErrOutOfMemory) identifies
// exhaustion whatever its source.
//
// # Kernels and cuBLAS
//
// Device.Kernels loads the embedded PTX (cuModuleLoadDataEx, with the JIT
// log in errors) and Function.Launch packs arguments into a C-side
// parameter block, so no Go pointer is ever retained by C. Device.Blas
// returns a cuBLAS handle with GemmEx / GemmStridedBatchedEx (FP32, TF32,
// BF16 inputs with FP32 compute) and MatMul, a row-major wrapper that swaps
// the operands (Cᵀ = Bᵀ·Aᵀ in column-major is C = A·B in row-major).
//
// A typical use:
//
//	if !cuda.Available() {
//		return cuda.Load() // the reason, wrapping cuda.ErrUnavailable
//	}
//	d, _ := cuda.Open(0)
//	x, _ := d.Alloc(4*n, nil)
//	defer d.Free(x, nil)
//	_ = cuda.CopyToDevice(d, x, hostFloats)
//	k, _ := d.Kernels()
//	desc := cuda.Strided{Shape: []int64{n}, Strides: [3][]int64{{1}, {1}, {0}}}
//	_ = k.Launch1D(cuda.UnaryKernel("exp", cuda.F32), n, nil, n, desc, x, x)
//	_ = cuda.CopyFromDevice(d, hostFloats, x)
package cuda
