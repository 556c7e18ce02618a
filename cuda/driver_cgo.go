//go:build linux && cgo

package cuda

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include <string.h>
#include "tess_cuda.h"

#define TESS_NOSYM 0x7e570001

static struct {
	tess_cuInit cuInit;
	tess_cuDriverGetVersion cuDriverGetVersion;
	tess_cuGetErrorName cuGetErrorName;
	tess_cuGetErrorString cuGetErrorString;
	tess_cuDeviceGetCount cuDeviceGetCount;
	tess_cuDeviceGet cuDeviceGet;
	tess_cuDeviceGetName cuDeviceGetName;
	tess_cuDeviceGetAttribute cuDeviceGetAttribute;
	tess_cuDeviceTotalMem_v2 cuDeviceTotalMem_v2;
	tess_cuDevicePrimaryCtxRetain cuDevicePrimaryCtxRetain;
	tess_cuDevicePrimaryCtxRelease_v2 cuDevicePrimaryCtxRelease_v2;
	tess_cuCtxSetCurrent cuCtxSetCurrent;
	tess_cuCtxGetCurrent cuCtxGetCurrent;
	tess_cuCtxPushCurrent_v2 cuCtxPushCurrent_v2;
	tess_cuCtxPopCurrent_v2 cuCtxPopCurrent_v2;
	tess_cuCtxSynchronize cuCtxSynchronize;
	tess_cuMemGetInfo_v2 cuMemGetInfo_v2;
	tess_cuMemAlloc_v2 cuMemAlloc_v2;
	tess_cuMemFree_v2 cuMemFree_v2;
	tess_cuMemHostAlloc cuMemHostAlloc;
	tess_cuMemFreeHost cuMemFreeHost;
	tess_cuMemcpyHtoD_v2 cuMemcpyHtoD_v2;
	tess_cuMemcpyDtoH_v2 cuMemcpyDtoH_v2;
	tess_cuMemcpyDtoD_v2 cuMemcpyDtoD_v2;
	tess_cuMemcpyHtoDAsync_v2 cuMemcpyHtoDAsync_v2;
	tess_cuMemcpyDtoHAsync_v2 cuMemcpyDtoHAsync_v2;
	tess_cuMemcpyDtoDAsync_v2 cuMemcpyDtoDAsync_v2;
	tess_cuMemsetD8Async cuMemsetD8Async;
	tess_cuMemsetD32Async cuMemsetD32Async;
	tess_cuStreamCreate cuStreamCreate;
	tess_cuStreamDestroy_v2 cuStreamDestroy_v2;
	tess_cuStreamSynchronize cuStreamSynchronize;
	tess_cuStreamQuery cuStreamQuery;
	tess_cuStreamWaitEvent cuStreamWaitEvent;
	tess_cuEventCreate cuEventCreate;
	tess_cuEventRecord cuEventRecord;
	tess_cuEventQuery cuEventQuery;
	tess_cuEventSynchronize cuEventSynchronize;
	tess_cuEventDestroy_v2 cuEventDestroy_v2;
	tess_cuEventElapsedTime cuEventElapsedTime;
	tess_cuEventElapsedTime_v2 cuEventElapsedTime_v2;
	tess_cuModuleLoadDataEx cuModuleLoadDataEx;
	tess_cuModuleGetFunction cuModuleGetFunction;
	tess_cuModuleUnload cuModuleUnload;
	tess_cuFuncGetAttribute cuFuncGetAttribute;
	tess_cuLaunchKernel cuLaunchKernel;
} drv;

// tess_drv_set stores the dlsym'd address of entry point i (the order of
// the struct above and of driverSymbols in Go).
static void tess_drv_set(int i, void* p) { ((void**)&drv)[i] = p; }
static int tess_drv_count(void) { return sizeof(drv) / sizeof(void*); }

#define NEED(f) if (!drv.f) return TESS_NOSYM
#define CTX(c) do { CUresult _r = tess_use_ctx(c); if (_r) return _r; } while (0)

// tess_use_ctx makes c current on this OS thread unless it already is.
static CUresult tess_use_ctx(CUcontext c) {
	CUcontext cur = 0;
	NEED(cuCtxSetCurrent);
	if (drv.cuCtxGetCurrent && drv.cuCtxGetCurrent(&cur) == 0 && cur == c) return 0;
	return drv.cuCtxSetCurrent(c);
}

static CUresult t_cuInit(unsigned int f) { NEED(cuInit); return drv.cuInit(f); }
static CUresult t_cuDriverGetVersion(int* v) { NEED(cuDriverGetVersion); return drv.cuDriverGetVersion(v); }
static void t_errorText(CUresult r, const char** name, const char** desc) {
	*name = 0; *desc = 0;
	if (drv.cuGetErrorName) drv.cuGetErrorName(r, name);
	if (drv.cuGetErrorString) drv.cuGetErrorString(r, desc);
}
static CUresult t_cuDeviceGetCount(int* n) { NEED(cuDeviceGetCount); return drv.cuDeviceGetCount(n); }
static CUresult t_cuDeviceGet(CUdevice* d, int o) { NEED(cuDeviceGet); return drv.cuDeviceGet(d, o); }
static CUresult t_cuDeviceGetName(char* s, int n, CUdevice d) { NEED(cuDeviceGetName); return drv.cuDeviceGetName(s, n, d); }
static CUresult t_cuDeviceGetAttribute(int* v, int a, CUdevice d) { NEED(cuDeviceGetAttribute); return drv.cuDeviceGetAttribute(v, (CUdevice_attribute)a, d); }
static CUresult t_cuDeviceTotalMem(size_t* v, CUdevice d) { NEED(cuDeviceTotalMem_v2); return drv.cuDeviceTotalMem_v2(v, d); }
static CUresult t_cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice d) { NEED(cuDevicePrimaryCtxRetain); return drv.cuDevicePrimaryCtxRetain(c, d); }
static CUresult t_cuDevicePrimaryCtxRelease(CUdevice d) { NEED(cuDevicePrimaryCtxRelease_v2); return drv.cuDevicePrimaryCtxRelease_v2(d); }
static CUresult t_setCurrent(CUcontext c) { return tess_use_ctx(c); }
static CUresult t_cuCtxSynchronize(CUcontext c) { NEED(cuCtxSynchronize); CTX(c); return drv.cuCtxSynchronize(); }
static CUresult t_cuMemGetInfo(CUcontext c, size_t* f, size_t* t) { NEED(cuMemGetInfo_v2); CTX(c); return drv.cuMemGetInfo_v2(f, t); }
static CUresult t_cuMemAlloc(CUcontext c, CUdeviceptr* p, size_t n) { NEED(cuMemAlloc_v2); CTX(c); return drv.cuMemAlloc_v2(p, n); }
static CUresult t_cuMemFree(CUcontext c, CUdeviceptr p) { NEED(cuMemFree_v2); CTX(c); return drv.cuMemFree_v2(p); }
static CUresult t_cuMemHostAlloc(CUcontext c, void** p, size_t n, unsigned int f) { NEED(cuMemHostAlloc); CTX(c); return drv.cuMemHostAlloc(p, n, f); }
static CUresult t_cuMemFreeHost(CUcontext c, void* p) { NEED(cuMemFreeHost); CTX(c); return drv.cuMemFreeHost(p); }
static CUresult t_memcpyHtoD(CUcontext c, CUdeviceptr d, const void* s, size_t n, CUstream st, int async) {
	CTX(c);
	if (async) { NEED(cuMemcpyHtoDAsync_v2); return drv.cuMemcpyHtoDAsync_v2(d, s, n, st); }
	NEED(cuMemcpyHtoD_v2); return drv.cuMemcpyHtoD_v2(d, s, n);
}
static CUresult t_memcpyDtoH(CUcontext c, void* d, CUdeviceptr s, size_t n, CUstream st, int async) {
	CTX(c);
	if (async) { NEED(cuMemcpyDtoHAsync_v2); return drv.cuMemcpyDtoHAsync_v2(d, s, n, st); }
	NEED(cuMemcpyDtoH_v2); return drv.cuMemcpyDtoH_v2(d, s, n);
}
static CUresult t_memcpyDtoD(CUcontext c, CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st, int async) {
	CTX(c);
	if (async) { NEED(cuMemcpyDtoDAsync_v2); return drv.cuMemcpyDtoDAsync_v2(d, s, n, st); }
	NEED(cuMemcpyDtoD_v2); return drv.cuMemcpyDtoD_v2(d, s, n);
}
static CUresult t_memsetD8(CUcontext c, CUdeviceptr d, unsigned char v, size_t n, CUstream st) { NEED(cuMemsetD8Async); CTX(c); return drv.cuMemsetD8Async(d, v, n, st); }
static CUresult t_memsetD32(CUcontext c, CUdeviceptr d, unsigned int v, size_t n, CUstream st) { NEED(cuMemsetD32Async); CTX(c); return drv.cuMemsetD32Async(d, v, n, st); }
static CUresult t_cuStreamCreate(CUcontext c, CUstream* s, unsigned int f) { NEED(cuStreamCreate); CTX(c); return drv.cuStreamCreate(s, f); }
static CUresult t_cuStreamDestroy(CUcontext c, CUstream s) { NEED(cuStreamDestroy_v2); CTX(c); return drv.cuStreamDestroy_v2(s); }
static CUresult t_cuStreamSynchronize(CUcontext c, CUstream s) { NEED(cuStreamSynchronize); CTX(c); return drv.cuStreamSynchronize(s); }
static CUresult t_cuStreamQuery(CUcontext c, CUstream s) { NEED(cuStreamQuery); CTX(c); return drv.cuStreamQuery(s); }
static CUresult t_cuStreamWaitEvent(CUcontext c, CUstream s, CUevent e) { NEED(cuStreamWaitEvent); CTX(c); return drv.cuStreamWaitEvent(s, e, 0); }
static CUresult t_cuEventCreate(CUcontext c, CUevent* e, unsigned int f) { NEED(cuEventCreate); CTX(c); return drv.cuEventCreate(e, f); }
static CUresult t_cuEventRecord(CUcontext c, CUevent e, CUstream s) { NEED(cuEventRecord); CTX(c); return drv.cuEventRecord(e, s); }
static CUresult t_cuEventQuery(CUcontext c, CUevent e) { NEED(cuEventQuery); CTX(c); return drv.cuEventQuery(e); }
static CUresult t_cuEventSynchronize(CUcontext c, CUevent e) { NEED(cuEventSynchronize); CTX(c); return drv.cuEventSynchronize(e); }
static CUresult t_cuEventDestroy(CUcontext c, CUevent e) { NEED(cuEventDestroy_v2); CTX(c); return drv.cuEventDestroy_v2(e); }
static CUresult t_cuEventElapsedTime(CUcontext c, float* ms, CUevent a, CUevent b) {
	CTX(c);
	if (drv.cuEventElapsedTime_v2) return drv.cuEventElapsedTime_v2(ms, a, b);
	NEED(cuEventElapsedTime); return drv.cuEventElapsedTime(ms, a, b);
}

// CUjit_option values (cuda.h): INFO_LOG_BUFFER=3, INFO_LOG_BUFFER_SIZE_BYTES=4,
// ERROR_LOG_BUFFER=5, ERROR_LOG_BUFFER_SIZE_BYTES=6, LOG_VERBOSE=12.
static CUresult t_cuModuleLoadDataEx(CUcontext c, CUmodule* m, const void* image,
		char* info, size_t infoLen, char* err, size_t errLen) {
	NEED(cuModuleLoadDataEx); CTX(c);
	CUjit_option opts[5] = {(CUjit_option)3, (CUjit_option)4, (CUjit_option)5, (CUjit_option)6, (CUjit_option)12};
	void* vals[5] = {info, (void*)infoLen, err, (void*)errLen, (void*)(size_t)1};
	info[0] = 0; err[0] = 0;
	return drv.cuModuleLoadDataEx(m, image, 5, opts, vals);
}
static CUresult t_cuModuleGetFunction(CUcontext c, CUfunction* f, CUmodule m, const char* name) { NEED(cuModuleGetFunction); CTX(c); return drv.cuModuleGetFunction(f, m, name); }
static CUresult t_cuModuleUnload(CUcontext c, CUmodule m) { NEED(cuModuleUnload); CTX(c); return drv.cuModuleUnload(m); }
static CUresult t_cuFuncGetAttribute(CUcontext c, int* v, int a, CUfunction f) { NEED(cuFuncGetAttribute); CTX(c); return drv.cuFuncGetAttribute(v, (CUfunction_attribute)a, f); }

#define TESS_MAX_PARAM_BYTES 4096
#define TESS_MAX_PARAMS 256

// t_launch copies the packed argument block (Go memory without Go
// pointers) to this C stack frame and builds the void** kernelParams array
// there; cuLaunchKernel copies the parameters before it returns.
static CUresult t_launch(CUcontext c, CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
		unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, CUstream s,
		const void* data, int nbytes, const int* offs, int nargs) {
	_Alignas(16) unsigned char block[TESS_MAX_PARAM_BYTES];
	void* params[TESS_MAX_PARAMS];
	NEED(cuLaunchKernel); CTX(c);
	if (nbytes < 0 || nbytes > TESS_MAX_PARAM_BYTES || nargs < 0 || nargs > TESS_MAX_PARAMS) return 1;
	if (nbytes > 0) memcpy(block, data, (size_t)nbytes);
	for (int i = 0; i < nargs; i++) params[i] = block + offs[i];
	return drv.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shmem, s, nargs ? params : 0, 0);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/tessera-ml/tessera/cuda/internal/dl"
)

// driverSymbols lists the entry points in the order of the C struct drv.
// Required ones must be exported by the driver for Load to succeed; the rest
// fail with ErrSymbolNotFound when called.
var driverSymbols = []struct {
	name     string
	required bool
}{
	{"cuInit", true},
	{"cuDriverGetVersion", true},
	{"cuGetErrorName", false},
	{"cuGetErrorString", false},
	{"cuDeviceGetCount", true},
	{"cuDeviceGet", true},
	{"cuDeviceGetName", true},
	{"cuDeviceGetAttribute", true},
	{"cuDeviceTotalMem_v2", true},
	{"cuDevicePrimaryCtxRetain", true},
	{"cuDevicePrimaryCtxRelease_v2", true},
	{"cuCtxSetCurrent", true},
	{"cuCtxGetCurrent", true},
	{"cuCtxPushCurrent_v2", false},
	{"cuCtxPopCurrent_v2", false},
	{"cuCtxSynchronize", true},
	{"cuMemGetInfo_v2", true},
	{"cuMemAlloc_v2", true},
	{"cuMemFree_v2", true},
	{"cuMemHostAlloc", false},
	{"cuMemFreeHost", false},
	{"cuMemcpyHtoD_v2", true},
	{"cuMemcpyDtoH_v2", true},
	{"cuMemcpyDtoD_v2", true},
	{"cuMemcpyHtoDAsync_v2", true},
	{"cuMemcpyDtoHAsync_v2", true},
	{"cuMemcpyDtoDAsync_v2", true},
	{"cuMemsetD8Async", false},
	{"cuMemsetD32Async", false},
	{"cuStreamCreate", true},
	{"cuStreamDestroy_v2", true},
	{"cuStreamSynchronize", true},
	{"cuStreamQuery", true},
	{"cuStreamWaitEvent", true},
	{"cuEventCreate", true},
	{"cuEventRecord", true},
	{"cuEventQuery", true},
	{"cuEventSynchronize", true},
	{"cuEventDestroy_v2", true},
	{"cuEventElapsedTime", false},
	{"cuEventElapsedTime_v2", false},
	{"cuModuleLoadDataEx", true},
	{"cuModuleGetFunction", true},
	{"cuModuleUnload", true},
	{"cuFuncGetAttribute", false},
	{"cuLaunchKernel", true},
}

type cgoDriver struct {
	lib     *dl.Library
	missing []string
}

// openDriver loads libcuda.so.1, binds the entry points and calls cuInit(0).
func openDriver(env dl.Env) (driverAPI, error) {
	if int(C.tess_drv_count()) != len(driverSymbols) {
		return nil, fmt.Errorf("cuda: internal error: %d C slots for %d driver symbols", int(C.tess_drv_count()), len(driverSymbols))
	}
	lib, err := dl.Load(dl.LibCUDA, env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	driverLibPath = lib.Resolved
	d := &cgoDriver{lib: lib}
	ptrs := make([]unsafe.Pointer, len(driverSymbols))
	for i, s := range driverSymbols {
		p := lib.SymOptional(s.name)
		if p == nil {
			if s.required {
				return nil, fmt.Errorf("%w: %s does not export %s (driver too old?)", ErrUnavailable, lib.Resolved, s.name)
			}
			d.missing = append(d.missing, s.name)
		}
		ptrs[i] = p
	}
	for i, p := range ptrs {
		C.tess_drv_set(C.int(i), p)
	}
	if r := Result(C.t_cuInit(0)); r != Success {
		err := newError(d, "cuInit", r)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return d, nil
}

func (d *cgoDriver) libraryPath() string { return d.lib.Resolved }

func (d *cgoDriver) driverVersion() (int, Result) {
	var v C.int
	r := Result(C.t_cuDriverGetVersion(&v))
	return int(v), r
}

func (d *cgoDriver) errorText(r Result) (string, string) {
	var n, s *C.char
	C.t_errorText(C.CUresult(r), &n, &s)
	var name, desc string
	if n != nil {
		name = C.GoString(n)
	}
	if s != nil {
		desc = C.GoString(s)
	}
	return name, desc
}

func (d *cgoDriver) deviceCount() (int, Result) {
	var n C.int
	r := Result(C.t_cuDeviceGetCount(&n))
	return int(n), r
}

func (d *cgoDriver) deviceGet(ordinal int) (int32, Result) {
	var dev C.CUdevice
	r := Result(C.t_cuDeviceGet(&dev, C.int(ordinal)))
	return int32(dev), r
}

func (d *cgoDriver) deviceName(dev int32) (string, Result) {
	var buf [256]C.char
	r := Result(C.t_cuDeviceGetName(&buf[0], C.int(len(buf)), C.CUdevice(dev)))
	return C.GoString(&buf[0]), r
}

func (d *cgoDriver) deviceAttribute(dev int32, attr int) (int, Result) {
	var v C.int
	r := Result(C.t_cuDeviceGetAttribute(&v, C.int(attr), C.CUdevice(dev)))
	return int(v), r
}

func (d *cgoDriver) deviceTotalMem(dev int32) (uint64, Result) {
	var v C.size_t
	r := Result(C.t_cuDeviceTotalMem(&v, C.CUdevice(dev)))
	return uint64(v), r
}

func (d *cgoDriver) primaryCtxRetain(dev int32) (handle, Result) {
	var c C.CUcontext
	r := Result(C.t_cuDevicePrimaryCtxRetain(&c, C.CUdevice(dev)))
	return handle(c), r
}

func (d *cgoDriver) primaryCtxRelease(dev int32) Result {
	return Result(C.t_cuDevicePrimaryCtxRelease(C.CUdevice(dev)))
}

func (d *cgoDriver) setCurrent(ctx handle) Result { return Result(C.t_setCurrent(C.CUcontext(ctx))) }

func (d *cgoDriver) ctxSynchronize(ctx handle) Result {
	return Result(C.t_cuCtxSynchronize(C.CUcontext(ctx)))
}

func (d *cgoDriver) memGetInfo(ctx handle) (uint64, uint64, Result) {
	var f, t C.size_t
	r := Result(C.t_cuMemGetInfo(C.CUcontext(ctx), &f, &t))
	return uint64(f), uint64(t), r
}

func (d *cgoDriver) memAlloc(ctx handle, n uint64) (DevicePtr, Result) {
	var p C.CUdeviceptr
	r := Result(C.t_cuMemAlloc(C.CUcontext(ctx), &p, C.size_t(n)))
	return DevicePtr(p), r
}

func (d *cgoDriver) memFree(ctx handle, p DevicePtr) Result {
	return Result(C.t_cuMemFree(C.CUcontext(ctx), C.CUdeviceptr(p)))
}

func (d *cgoDriver) memHostAlloc(ctx handle, n uint64, flags uint32) (unsafe.Pointer, Result) {
	var p unsafe.Pointer
	r := Result(C.t_cuMemHostAlloc(C.CUcontext(ctx), &p, C.size_t(n), C.uint(flags)))
	return p, r
}

func (d *cgoDriver) memFreeHost(ctx handle, p unsafe.Pointer) Result {
	return Result(C.t_cuMemFreeHost(C.CUcontext(ctx), p))
}

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (d *cgoDriver) memcpyHtoD(ctx handle, dst DevicePtr, src unsafe.Pointer, n uint64, s handle, async bool) Result {
	return Result(C.t_memcpyHtoD(C.CUcontext(ctx), C.CUdeviceptr(dst), src, C.size_t(n), C.CUstream(s), b2i(async)))
}

func (d *cgoDriver) memcpyDtoH(ctx handle, dst unsafe.Pointer, src DevicePtr, n uint64, s handle, async bool) Result {
	return Result(C.t_memcpyDtoH(C.CUcontext(ctx), dst, C.CUdeviceptr(src), C.size_t(n), C.CUstream(s), b2i(async)))
}

func (d *cgoDriver) memcpyDtoD(ctx handle, dst, src DevicePtr, n uint64, s handle, async bool) Result {
	return Result(C.t_memcpyDtoD(C.CUcontext(ctx), C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(n), C.CUstream(s), b2i(async)))
}

func (d *cgoDriver) memsetD8(ctx handle, dst DevicePtr, v uint8, n uint64, s handle) Result {
	return Result(C.t_memsetD8(C.CUcontext(ctx), C.CUdeviceptr(dst), C.uchar(v), C.size_t(n), C.CUstream(s)))
}

func (d *cgoDriver) memsetD32(ctx handle, dst DevicePtr, v uint32, n uint64, s handle) Result {
	return Result(C.t_memsetD32(C.CUcontext(ctx), C.CUdeviceptr(dst), C.uint(v), C.size_t(n), C.CUstream(s)))
}

func (d *cgoDriver) streamCreate(ctx handle, flags uint32) (handle, Result) {
	var s C.CUstream
	r := Result(C.t_cuStreamCreate(C.CUcontext(ctx), &s, C.uint(flags)))
	return handle(s), r
}

func (d *cgoDriver) streamDestroy(ctx, s handle) Result {
	return Result(C.t_cuStreamDestroy(C.CUcontext(ctx), C.CUstream(s)))
}

func (d *cgoDriver) streamSynchronize(ctx, s handle) Result {
	return Result(C.t_cuStreamSynchronize(C.CUcontext(ctx), C.CUstream(s)))
}

func (d *cgoDriver) streamQuery(ctx, s handle) Result {
	return Result(C.t_cuStreamQuery(C.CUcontext(ctx), C.CUstream(s)))
}

func (d *cgoDriver) streamWaitEvent(ctx, s, e handle) Result {
	return Result(C.t_cuStreamWaitEvent(C.CUcontext(ctx), C.CUstream(s), C.CUevent(e)))
}

func (d *cgoDriver) eventCreate(ctx handle, flags uint32) (handle, Result) {
	var e C.CUevent
	r := Result(C.t_cuEventCreate(C.CUcontext(ctx), &e, C.uint(flags)))
	return handle(e), r
}

func (d *cgoDriver) eventRecord(ctx, e, s handle) Result {
	return Result(C.t_cuEventRecord(C.CUcontext(ctx), C.CUevent(e), C.CUstream(s)))
}

func (d *cgoDriver) eventQuery(ctx, e handle) Result {
	return Result(C.t_cuEventQuery(C.CUcontext(ctx), C.CUevent(e)))
}

func (d *cgoDriver) eventSynchronize(ctx, e handle) Result {
	return Result(C.t_cuEventSynchronize(C.CUcontext(ctx), C.CUevent(e)))
}

func (d *cgoDriver) eventDestroy(ctx, e handle) Result {
	return Result(C.t_cuEventDestroy(C.CUcontext(ctx), C.CUevent(e)))
}

func (d *cgoDriver) eventElapsed(ctx, a, b handle) (float32, Result) {
	var ms C.float
	r := Result(C.t_cuEventElapsedTime(C.CUcontext(ctx), &ms, C.CUevent(a), C.CUevent(b)))
	return float32(ms), r
}

const jitLogBytes = 16 << 10

func (d *cgoDriver) moduleLoad(ctx handle, image []byte) (handle, string, string, Result) {
	// The image must be NUL-terminated PTX; copy it to C memory with the
	// terminator (the driver reads it during the call only, but a C copy
	// keeps the rules simple).
	img := C.malloc(C.size_t(len(image) + 1))
	defer C.free(img)
	buf := unsafe.Slice((*byte)(img), len(image)+1)
	copy(buf, image)
	buf[len(image)] = 0
	info := (*C.char)(C.malloc(jitLogBytes))
	defer C.free(unsafe.Pointer(info))
	elog := (*C.char)(C.malloc(jitLogBytes))
	defer C.free(unsafe.Pointer(elog))
	var m C.CUmodule
	r := Result(C.t_cuModuleLoadDataEx(C.CUcontext(ctx), &m, img, info, jitLogBytes, elog, jitLogBytes))
	return handle(m), C.GoString(info), C.GoString(elog), r
}

func (d *cgoDriver) moduleGetFunction(ctx, m handle, name string) (handle, Result) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var f C.CUfunction
	r := Result(C.t_cuModuleGetFunction(C.CUcontext(ctx), &f, C.CUmodule(m), cn))
	return handle(f), r
}

func (d *cgoDriver) moduleUnload(ctx, m handle) Result {
	return Result(C.t_cuModuleUnload(C.CUcontext(ctx), C.CUmodule(m)))
}

func (d *cgoDriver) funcAttribute(ctx, f handle, attr int) (int, Result) {
	var v C.int
	r := Result(C.t_cuFuncGetAttribute(C.CUcontext(ctx), &v, C.int(attr), C.CUfunction(f)))
	return int(v), r
}

func (d *cgoDriver) launch(ctx, f handle, grid, block Dim3, shmem uint32, s handle, a *Args) Result {
	var data unsafe.Pointer
	var offs *C.int
	n := 0
	if a != nil && len(a.offs) > 0 {
		data = unsafe.Pointer(&a.buf[0])
		offs = (*C.int)(unsafe.Pointer(&a.offs[0]))
		n = len(a.offs)
	}
	nb := 0
	if a != nil {
		nb = len(a.buf)
	}
	return Result(C.t_launch(C.CUcontext(ctx), C.CUfunction(f),
		C.uint(grid.X), C.uint(grid.Y), C.uint(grid.Z),
		C.uint(block.X), C.uint(block.Y), C.uint(block.Z),
		C.uint(shmem), C.CUstream(s), data, C.int(nb), offs, C.int(n)))
}
