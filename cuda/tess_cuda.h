/*
 * Tessera's own declarations of the CUDA driver and cuBLAS entry points it
 * calls through dlsym'd function pointers. No CUDA header is needed to build.
 *
 * The type names mirror cuda.h / cublas_api.h so that abi_check_test.go can
 * compile this file against the real headers (TESS_HAVE_CUDA_H) and assert,
 * with __builtin_types_compatible_p, that every pointer type below matches
 * the real prototype. Keep this file C (no Go, no cgo specifics).
 */
#ifndef TESS_CUDA_H
#define TESS_CUDA_H

#include <stddef.h>

#ifndef TESS_HAVE_CUDA_H
typedef int CUresult;
typedef int CUdevice;
typedef int CUdevice_attribute;
typedef int CUfunction_attribute;
typedef int CUjit_option;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st* CUcontext;
typedef struct CUstream_st* CUstream;
typedef struct CUevent_st* CUevent;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;

typedef int cublasStatus_t;
typedef struct cublasContext* cublasHandle_t;
typedef int cublasOperation_t;
typedef int cublasMath_t;
typedef int cublasComputeType_t;
typedef int cublasGemmAlgo_t;
typedef int cudaDataType;
typedef int libraryPropertyType;
typedef struct CUstream_st* cudaStream_t;
#endif

/* Driver API (symbol names as exported by libcuda.so.1; see the table in
 * docs/cuda.md). */
typedef CUresult (*tess_cuInit)(unsigned int);
typedef CUresult (*tess_cuDriverGetVersion)(int*);
typedef CUresult (*tess_cuGetErrorName)(CUresult, const char**);
typedef CUresult (*tess_cuGetErrorString)(CUresult, const char**);
typedef CUresult (*tess_cuDeviceGetCount)(int*);
typedef CUresult (*tess_cuDeviceGet)(CUdevice*, int);
typedef CUresult (*tess_cuDeviceGetName)(char*, int, CUdevice);
typedef CUresult (*tess_cuDeviceGetAttribute)(int*, CUdevice_attribute, CUdevice);
typedef CUresult (*tess_cuDeviceTotalMem_v2)(size_t*, CUdevice);
typedef CUresult (*tess_cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
typedef CUresult (*tess_cuDevicePrimaryCtxRelease_v2)(CUdevice);
typedef CUresult (*tess_cuCtxSetCurrent)(CUcontext);
typedef CUresult (*tess_cuCtxGetCurrent)(CUcontext*);
typedef CUresult (*tess_cuCtxPushCurrent_v2)(CUcontext);
typedef CUresult (*tess_cuCtxPopCurrent_v2)(CUcontext*);
typedef CUresult (*tess_cuCtxSynchronize)(void);
typedef CUresult (*tess_cuMemGetInfo_v2)(size_t*, size_t*);
typedef CUresult (*tess_cuMemAlloc_v2)(CUdeviceptr*, size_t);
typedef CUresult (*tess_cuMemFree_v2)(CUdeviceptr);
typedef CUresult (*tess_cuMemHostAlloc)(void**, size_t, unsigned int);
typedef CUresult (*tess_cuMemFreeHost)(void*);
typedef CUresult (*tess_cuMemcpyHtoD_v2)(CUdeviceptr, const void*, size_t);
typedef CUresult (*tess_cuMemcpyDtoH_v2)(void*, CUdeviceptr, size_t);
typedef CUresult (*tess_cuMemcpyDtoD_v2)(CUdeviceptr, CUdeviceptr, size_t);
typedef CUresult (*tess_cuMemcpyHtoDAsync_v2)(CUdeviceptr, const void*, size_t, CUstream);
typedef CUresult (*tess_cuMemcpyDtoHAsync_v2)(void*, CUdeviceptr, size_t, CUstream);
typedef CUresult (*tess_cuMemcpyDtoDAsync_v2)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
typedef CUresult (*tess_cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
typedef CUresult (*tess_cuMemsetD32Async)(CUdeviceptr, unsigned int, size_t, CUstream);
typedef CUresult (*tess_cuStreamCreate)(CUstream*, unsigned int);
typedef CUresult (*tess_cuStreamDestroy_v2)(CUstream);
typedef CUresult (*tess_cuStreamSynchronize)(CUstream);
typedef CUresult (*tess_cuStreamQuery)(CUstream);
typedef CUresult (*tess_cuStreamWaitEvent)(CUstream, CUevent, unsigned int);
typedef CUresult (*tess_cuEventCreate)(CUevent*, unsigned int);
typedef CUresult (*tess_cuEventRecord)(CUevent, CUstream);
typedef CUresult (*tess_cuEventQuery)(CUevent);
typedef CUresult (*tess_cuEventSynchronize)(CUevent);
typedef CUresult (*tess_cuEventDestroy_v2)(CUevent);
typedef CUresult (*tess_cuEventElapsedTime)(float*, CUevent, CUevent);
/* cuEventElapsedTime_v2 (exported since 12.8, what 13.0's header calls) has
 * the same parameters; it is not in the 11.8 header, so the ABI check skips it. */
typedef CUresult (*tess_cuEventElapsedTime_v2)(float*, CUevent, CUevent);
typedef CUresult (*tess_cuModuleLoadDataEx)(CUmodule*, const void*, unsigned int, CUjit_option*, void**);
typedef CUresult (*tess_cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
typedef CUresult (*tess_cuModuleUnload)(CUmodule);
typedef CUresult (*tess_cuFuncGetAttribute)(int*, CUfunction_attribute, CUfunction);
typedef CUresult (*tess_cuLaunchKernel)(CUfunction, unsigned int, unsigned int, unsigned int,
	unsigned int, unsigned int, unsigned int, unsigned int, CUstream, void**, void**);

/* cuBLAS (libcublas.so.{13,12,11}). */
typedef cublasStatus_t (*tess_cublasCreate_v2)(cublasHandle_t*);
typedef cublasStatus_t (*tess_cublasDestroy_v2)(cublasHandle_t);
typedef cublasStatus_t (*tess_cublasGetVersion_v2)(cublasHandle_t, int*);
typedef cublasStatus_t (*tess_cublasGetProperty)(libraryPropertyType, int*);
typedef cublasStatus_t (*tess_cublasSetStream_v2)(cublasHandle_t, cudaStream_t);
typedef cublasStatus_t (*tess_cublasSetMathMode)(cublasHandle_t, cublasMath_t);
typedef const char* (*tess_cublasGetStatusName)(cublasStatus_t);
typedef const char* (*tess_cublasGetStatusString)(cublasStatus_t);
typedef cublasStatus_t (*tess_cublasGemmEx)(cublasHandle_t, cublasOperation_t, cublasOperation_t,
	int, int, int, const void*, const void*, cudaDataType, int, const void*, cudaDataType, int,
	const void*, void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
typedef cublasStatus_t (*tess_cublasGemmStridedBatchedEx)(cublasHandle_t, cublasOperation_t,
	cublasOperation_t, int, int, int, const void*, const void*, cudaDataType, int, long long int,
	const void*, cudaDataType, int, long long int, const void*, void*, cudaDataType, int,
	long long int, int, cublasComputeType_t, cublasGemmAlgo_t);

#endif
