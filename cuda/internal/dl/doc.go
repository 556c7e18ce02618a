// Package dl finds and opens NVIDIA's shared libraries (the driver, cuBLAS,
// NCCL) at run time with dlopen/dlsym, for packages cuda and cuda/nccl.
//
// The search order (Candidates) is a pure function of the environment and
// the file system, unit-tested against fake folder trees:
//
//  1. a per-library override: TESSERA_LIBCUDA, TESSERA_LIBCUBLAS,
//     TESSERA_LIBNCCL (an exact file; nothing else is tried);
//  2. the folders of TESSERA_CUDA_LIB_DIR (colon-separated);
//  3. the bare sonames, newest first (libcuda.so.1; libcublas.so.13, .12,
//     .11; libnccl.so.2), which dlopen resolves through LD_LIBRARY_PATH,
//     RUNPATH and the ld.so cache;
//  4. /usr/local/cuda/lib64, /usr/local/cuda/targets/x86_64-linux/lib,
//     /usr/local/cuda-*/lib64 (newest first), /usr/lib/x86_64-linux-gnu,
//     /usr/lib64, /usr/lib, /usr/local/nvidia/lib64, /usr/lib/wsl/lib;
//  5. for cuBLAS and NCCL, Python wheels: site-packages/nvidia/*/lib (and
//     dist-packages) under $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local,
//     /usr/local, /usr and /opt/conda.
//
// libcublasLt.so.N is preloaded (RTLD_GLOBAL) from the folder of the
// libcublas.so.N being opened. The unversioned "libcuda.so" is never
// opened: in toolkits it is usually the stub that fails with
// CUDA_ERROR_STUB_LIBRARY. Handles are never closed.
package dl
