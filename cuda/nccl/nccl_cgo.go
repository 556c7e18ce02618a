//go:build linux && cgo

package nccl

/*
#cgo LDFLAGS: -ldl
#include <stddef.h>
#include <string.h>

typedef int ncclResult_t;
typedef struct ncclComm* ncclComm_t;
typedef struct { char internal[128]; } ncclUniqueId;
typedef int ncclDataType_t;
typedef int ncclRedOp_t;
typedef struct CUstream_st* cudaStream_t;
typedef unsigned long long devptr;

#define NOSYM 0x7e570001

static struct {
	ncclResult_t (*ncclGetVersion)(int*);
	const char* (*ncclGetErrorString)(ncclResult_t);
	const char* (*ncclGetLastError)(ncclComm_t);
	ncclResult_t (*ncclGetUniqueId)(ncclUniqueId*);
	ncclResult_t (*ncclCommInitRank)(ncclComm_t*, int, ncclUniqueId, int);
	ncclResult_t (*ncclCommDestroy)(ncclComm_t);
	ncclResult_t (*ncclCommAbort)(ncclComm_t);
	ncclResult_t (*ncclCommGetAsyncError)(ncclComm_t, ncclResult_t*);
	ncclResult_t (*ncclCommCount)(const ncclComm_t, int*);
	ncclResult_t (*ncclAllReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
	ncclResult_t (*ncclBroadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
	ncclResult_t (*ncclReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, int, ncclComm_t, cudaStream_t);
	ncclResult_t (*ncclAllGather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t);
	ncclResult_t (*ncclReduceScatter)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
	ncclResult_t (*ncclSend)(const void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
	ncclResult_t (*ncclRecv)(void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
	ncclResult_t (*ncclGroupStart)(void);
	ncclResult_t (*ncclGroupEnd)(void);
} nc;

static void nccl_set(int i, void* p) { ((void**)&nc)[i] = p; }
static int nccl_count(void) { return sizeof(nc) / sizeof(void*); }

#define N(f) if (!nc.f) return NOSYM
#define P(x) ((void*)(size_t)(x))

static int n_version(int* v) { N(ncclGetVersion); return nc.ncclGetVersion(v); }
static const char* n_errorString(int r) { return nc.ncclGetErrorString ? nc.ncclGetErrorString(r) : 0; }
static const char* n_lastError(ncclComm_t c) { return nc.ncclGetLastError ? nc.ncclGetLastError(c) : 0; }
static int n_uniqueId(void* id) { N(ncclGetUniqueId); return nc.ncclGetUniqueId((ncclUniqueId*)id); }
// The ncclUniqueId is passed by value: copy it into a C struct here.
static int n_initRank(ncclComm_t* c, int n, const void* id, int rank) {
	ncclUniqueId u;
	N(ncclCommInitRank);
	memcpy(&u, id, sizeof u);
	return nc.ncclCommInitRank(c, n, u, rank);
}
static int n_destroy(ncclComm_t c) { N(ncclCommDestroy); return nc.ncclCommDestroy(c); }
static int n_abort(ncclComm_t c) { N(ncclCommAbort); return nc.ncclCommAbort(c); }
static int n_asyncError(ncclComm_t c, int* e) { N(ncclCommGetAsyncError); return nc.ncclCommGetAsyncError(c, e); }
static int n_count(ncclComm_t c, int* n) { N(ncclCommCount); return nc.ncclCommCount(c, n); }
static int n_allReduce(devptr s, devptr r, size_t n, int dt, int op, ncclComm_t c, cudaStream_t st) { N(ncclAllReduce); return nc.ncclAllReduce(P(s), P(r), n, dt, op, c, st); }
static int n_broadcast(devptr s, devptr r, size_t n, int dt, int root, ncclComm_t c, cudaStream_t st) { N(ncclBroadcast); return nc.ncclBroadcast(P(s), P(r), n, dt, root, c, st); }
static int n_reduce(devptr s, devptr r, size_t n, int dt, int op, int root, ncclComm_t c, cudaStream_t st) { N(ncclReduce); return nc.ncclReduce(P(s), P(r), n, dt, op, root, c, st); }
static int n_allGather(devptr s, devptr r, size_t n, int dt, ncclComm_t c, cudaStream_t st) { N(ncclAllGather); return nc.ncclAllGather(P(s), P(r), n, dt, c, st); }
static int n_reduceScatter(devptr s, devptr r, size_t n, int dt, int op, ncclComm_t c, cudaStream_t st) { N(ncclReduceScatter); return nc.ncclReduceScatter(P(s), P(r), n, dt, op, c, st); }
static int n_send(devptr b, size_t n, int dt, int peer, ncclComm_t c, cudaStream_t st) { N(ncclSend); return nc.ncclSend(P(b), n, dt, peer, c, st); }
static int n_recv(devptr b, size_t n, int dt, int peer, ncclComm_t c, cudaStream_t st) { N(ncclRecv); return nc.ncclRecv(P(b), n, dt, peer, c, st); }
static int n_groupStart(void) { N(ncclGroupStart); return nc.ncclGroupStart(); }
static int n_groupEnd(void) { N(ncclGroupEnd); return nc.ncclGroupEnd(); }
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/cuda/internal/dl"
)

type handle = unsafe.Pointer

var symbols = []struct {
	name     string
	required bool
}{
	{"ncclGetVersion", true},
	{"ncclGetErrorString", true},
	{"ncclGetLastError", false}, // NCCL >= 2.13
	{"ncclGetUniqueId", true},
	{"ncclCommInitRank", true},
	{"ncclCommDestroy", true},
	{"ncclCommAbort", true},
	{"ncclCommGetAsyncError", true},
	{"ncclCommCount", true},
	{"ncclAllReduce", true},
	{"ncclBroadcast", true},
	{"ncclReduce", true},
	{"ncclAllGather", true},
	{"ncclReduceScatter", true},
	{"ncclSend", false}, // NCCL >= 2.7
	{"ncclRecv", false},
	{"ncclGroupStart", true},
	{"ncclGroupEnd", true},
}

type cgoNCCL struct{ lib *dl.Library }

func open(env dl.Env) (api, error) {
	if int(C.nccl_count()) != len(symbols) {
		return nil, fmt.Errorf("nccl: internal error: %d C slots for %d symbols", int(C.nccl_count()), len(symbols))
	}
	l, err := dl.Load(dl.LibNCCL, env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", cuda.ErrUnavailable, err)
	}
	ptrs := make([]unsafe.Pointer, len(symbols))
	for i, s := range symbols {
		ptrs[i] = l.SymOptional(s.name)
		if ptrs[i] == nil && s.required {
			return nil, fmt.Errorf("nccl: %s does not export %s", l.Resolved, s.name)
		}
	}
	for i, p := range ptrs {
		C.nccl_set(C.int(i), p)
	}
	return &cgoNCCL{lib: l}, nil
}

func (n *cgoNCCL) libraryPath() string { return n.lib.Resolved }

func (n *cgoNCCL) version() (int, int) {
	var v C.int
	r := C.n_version(&v)
	return int(v), int(r)
}

func (n *cgoNCCL) errorString(code int) string {
	if s := C.n_errorString(C.int(code)); s != nil {
		return C.GoString(s)
	}
	return ""
}

func (n *cgoNCCL) lastError(c handle) string {
	if s := C.n_lastError(C.ncclComm_t(c)); s != nil {
		return C.GoString(s)
	}
	return ""
}

func (n *cgoNCCL) getUniqueID(id *UniqueID) int { return int(C.n_uniqueId(unsafe.Pointer(&id[0]))) }

func (n *cgoNCCL) commInitRank(nranks int, id *UniqueID, rank int) (handle, int) {
	var c C.ncclComm_t
	r := C.n_initRank(&c, C.int(nranks), unsafe.Pointer(&id[0]), C.int(rank))
	return handle(c), int(r)
}

func (n *cgoNCCL) commDestroy(c handle) int { return int(C.n_destroy(C.ncclComm_t(c))) }
func (n *cgoNCCL) commAbort(c handle) int   { return int(C.n_abort(C.ncclComm_t(c))) }

func (n *cgoNCCL) commAsyncError(c handle) (int, int) {
	var e C.int
	r := C.n_asyncError(C.ncclComm_t(c), &e)
	return int(e), int(r)
}

func (n *cgoNCCL) commCount(c handle) (int, int) {
	var k C.int
	r := C.n_count(C.ncclComm_t(c), &k)
	return int(k), int(r)
}

func (n *cgoNCCL) allReduce(s, r cuda.DevicePtr, count int, dt DataType, op RedOp, c, st handle) int {
	return int(C.n_allReduce(C.devptr(s), C.devptr(r), C.size_t(count), C.int(dt), C.int(op), C.ncclComm_t(c), C.cudaStream_t(st)))
}

func (n *cgoNCCL) broadcast(s, r cuda.DevicePtr, count int, dt DataType, root int, c, st handle) int {
	return int(C.n_broadcast(C.devptr(s), C.devptr(r), C.size_t(count), C.int(dt), C.int(root), C.ncclComm_t(c), C.cudaStream_t(st)))
}

func (n *cgoNCCL) reduce(s, r cuda.DevicePtr, count int, dt DataType, op RedOp, root int, c, st handle) int {
	return int(C.n_reduce(C.devptr(s), C.devptr(r), C.size_t(count), C.int(dt), C.int(op), C.int(root), C.ncclComm_t(c), C.cudaStream_t(st)))
}

func (n *cgoNCCL) allGather(s, r cuda.DevicePtr, count int, dt DataType, c, st handle) int {
	return int(C.n_allGather(C.devptr(s), C.devptr(r), C.size_t(count), C.int(dt), C.ncclComm_t(c), C.cudaStream_t(st)))
}

func (n *cgoNCCL) reduceScatter(s, r cuda.DevicePtr, count int, dt DataType, op RedOp, c, st handle) int {
	return int(C.n_reduceScatter(C.devptr(s), C.devptr(r), C.size_t(count), C.int(dt), C.int(op), C.ncclComm_t(c), C.cudaStream_t(st)))
}

func (n *cgoNCCL) send(b cuda.DevicePtr, count int, dt DataType, peer int, c, st handle) int {
	return int(C.n_send(C.devptr(b), C.size_t(count), C.int(dt), C.int(peer), C.ncclComm_t(c), C.cudaStream_t(st)))
}

func (n *cgoNCCL) recv(b cuda.DevicePtr, count int, dt DataType, peer int, c, st handle) int {
	return int(C.n_recv(C.devptr(b), C.size_t(count), C.int(dt), C.int(peer), C.ncclComm_t(c), C.cudaStream_t(st)))
}

func (n *cgoNCCL) groupStart() int { return int(C.n_groupStart()) }
func (n *cgoNCCL) groupEnd() int   { return int(C.n_groupEnd()) }
