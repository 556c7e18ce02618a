package cuda

import "unsafe"

// handle is an opaque driver object (CUcontext, CUstream, CUevent, CUmodule,
// CUfunction). It points to driver memory, never to Go memory.
type handle = unsafe.Pointer

// driverAPI is the CUDA driver as the rest of the package sees it. The cgo
// build implements it with dlsym'd function pointers (driver_cgo.go); the
// stub build has no implementation, so openDriver always fails there.
//
// Every context-bound method takes the context and makes it current on the
// calling OS thread inside the same cgo call before calling the driver (see
// "Contexts" in doc.go).
type driverAPI interface {
	driverVersion() (int, Result)
	errorText(r Result) (name, desc string)

	deviceCount() (int, Result)
	deviceGet(ordinal int) (int32, Result)
	deviceName(dev int32) (string, Result)
	deviceAttribute(dev int32, attr int) (int, Result)
	deviceTotalMem(dev int32) (uint64, Result)
	primaryCtxRetain(dev int32) (handle, Result)
	primaryCtxRelease(dev int32) Result

	setCurrent(ctx handle) Result
	ctxSynchronize(ctx handle) Result
	memGetInfo(ctx handle) (free, total uint64, r Result)

	memAlloc(ctx handle, n uint64) (DevicePtr, Result)
	memFree(ctx handle, p DevicePtr) Result
	memHostAlloc(ctx handle, n uint64, flags uint32) (unsafe.Pointer, Result)
	memFreeHost(ctx handle, p unsafe.Pointer) Result
	memcpyHtoD(ctx handle, dst DevicePtr, src unsafe.Pointer, n uint64, s handle, async bool) Result
	memcpyDtoH(ctx handle, dst unsafe.Pointer, src DevicePtr, n uint64, s handle, async bool) Result
	memcpyDtoD(ctx handle, dst, src DevicePtr, n uint64, s handle, async bool) Result
	memsetD8(ctx handle, dst DevicePtr, v uint8, n uint64, s handle) Result
	memsetD32(ctx handle, dst DevicePtr, v uint32, n uint64, s handle) Result

	streamCreate(ctx handle, flags uint32) (handle, Result)
	streamDestroy(ctx handle, s handle) Result
	streamSynchronize(ctx handle, s handle) Result
	streamQuery(ctx handle, s handle) Result
	streamWaitEvent(ctx handle, s, e handle) Result

	eventCreate(ctx handle, flags uint32) (handle, Result)
	eventRecord(ctx handle, e, s handle) Result
	eventQuery(ctx handle, e handle) Result
	eventSynchronize(ctx handle, e handle) Result
	eventDestroy(ctx handle, e handle) Result
	eventElapsed(ctx handle, start, end handle) (float32, Result)

	// moduleLoad returns the JIT info and error logs along with the result.
	moduleLoad(ctx handle, image []byte) (m handle, infoLog, errLog string, r Result)
	moduleGetFunction(ctx handle, m handle, name string) (handle, Result)
	moduleUnload(ctx handle, m handle) Result
	funcAttribute(ctx handle, f handle, attr int) (int, Result)
	launch(ctx handle, f handle, grid, block Dim3, shmem uint32, s handle, a *Args) Result

	// libraryPath is the driver file that was loaded.
	libraryPath() string
}

// blasAPI is cuBLAS as the package sees it (blas_cgo.go).
type blasAPI interface {
	version() (major, minor, patch int, ok bool)
	statusText(st int) (name, desc string)
	create(ctx handle) (handle, int)
	destroy(ctx handle, h handle) int
	setStream(ctx handle, h handle, s handle) int
	setMathMode(ctx handle, h handle, mode int) int
	gemmEx(ctx handle, h handle, p *gemmParams) int
	libraryPath() string
}

// gemmParams carries one cublasGemmEx / cublasGemmStridedBatchedEx call.
type gemmParams struct {
	transA, transB int
	m, n, k        int
	alpha, beta    float64
	a              DevicePtr
	aType, lda     int
	strideA        int64
	b              DevicePtr
	bType, ldb     int
	strideB        int64
	c              DevicePtr
	cType, ldc     int
	strideC        int64
	batch          int // 0: cublasGemmEx; >= 1: strided batched
	compute        int
	algo           int
	scaleIsDouble  bool
}
