//go:build mpi && cgo

package mpi

/*
#cgo pkg-config: ompi-c
#include <mpi.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

// Float16 / BFloat16 conversions, matching package tensor (round to nearest even).
static inline float tess_h2f(uint16_t h) {
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, b;
	if (exp == 0x1f) b = sign | 0x7f800000 | (mant << 13);
	else if (exp == 0) {
		if (mant == 0) b = sign;
		else { uint32_t e = 113; while (!(mant & 0x400)) { mant <<= 1; e--; } b = sign | (e << 23) | ((mant & 0x3ff) << 13); }
	} else b = sign | ((exp + 112) << 23) | (mant << 13);
	float f; memcpy(&f, &b, 4); return f;
}
static inline uint16_t tess_f2h(float f) {
	uint32_t b; memcpy(&b, &f, 4);
	uint16_t sign = (uint16_t)(b >> 16) & 0x8000;
	int32_t exp = (b >> 23) & 0xff; uint32_t mant = b & 0x7fffff;
	if (exp == 0xff) return mant ? (sign | 0x7e00) : (sign | 0x7c00);
	if (exp > 142) return sign | 0x7c00;
	if (exp >= 113) {
		uint32_t h = ((uint32_t)(exp - 112) << 10) | (mant >> 13), rest = mant & 0x1fff;
		if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
		return sign | (uint16_t)h;
	}
	if (exp >= 102) {
		uint32_t m = mant | 0x800000, shift = (uint32_t)(126 - exp), h = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rest > half || (rest == half && (h & 1))) h++;
		return sign | (uint16_t)h;
	}
	return sign;
}
static inline float tess_b2f(uint16_t h) { uint32_t b = (uint32_t)h << 16; float f; memcpy(&f, &b, 4); return f; }
static inline uint16_t tess_f2b(float f) {
	uint32_t b; memcpy(&b, &f, 4);
	if (f != f) return (uint16_t)(b >> 16) | 0x40;
	b += 0x7fff + ((b >> 16) & 1);
	return (uint16_t)(b >> 16);
}

#define TESS_OP(name, cvt, back, expr) \
static void name(void *in, void *inout, int *len, MPI_Datatype *dt) { \
	uint16_t *a = (uint16_t *)in, *b = (uint16_t *)inout; \
	for (int i = 0; i < *len; i++) { float x = cvt(a[i]), y = cvt(b[i]); b[i] = back(expr); } \
}
TESS_OP(tess_h_sum, tess_h2f, tess_f2h, x + y)
TESS_OP(tess_h_prod, tess_h2f, tess_f2h, x * y)
TESS_OP(tess_h_min, tess_h2f, tess_f2h, (y < x || y != y) ? y : x)
TESS_OP(tess_h_max, tess_h2f, tess_f2h, (y > x || y != y) ? y : x)
TESS_OP(tess_b_sum, tess_b2f, tess_f2b, x + y)
TESS_OP(tess_b_prod, tess_b2f, tess_f2b, x * y)
TESS_OP(tess_b_min, tess_b2f, tess_f2b, (y < x || y != y) ? y : x)
TESS_OP(tess_b_max, tess_b2f, tess_f2b, (y > x || y != y) ? y : x)

static MPI_Op tess_ops[2][4];

static int tess_init(int *provided) {
	int flag = 0, rc;
	MPI_Initialized(&flag);
	if (!flag) {
		rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, provided);
		if (rc != MPI_SUCCESS) return rc;
	} else {
		MPI_Query_thread(provided);
	}
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_User_function *fs[2][4] = {{tess_h_sum, tess_h_prod, tess_h_min, tess_h_max}, {tess_b_sum, tess_b_prod, tess_b_min, tess_b_max}};
	for (int i = 0; i < 2; i++) for (int j = 0; j < 4; j++) MPI_Op_create(fs[i][j], 1, &tess_ops[i][j]);
	return MPI_SUCCESS;
}

static MPI_Comm tess_world(void) { return MPI_COMM_WORLD; }
static MPI_Comm tess_comm_null(void) { return MPI_COMM_NULL; }
static int tess_undefined(void) { return MPI_UNDEFINED; }
static int tess_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }

// dtype codes follow tensor.DType: 0 f32, 1 f64, 2 bf16, 3 f16, 4 i32, 5 i64, 6 bool.
static MPI_Datatype tess_type(int dt) {
	switch (dt) {
	case 0: return MPI_FLOAT;
	case 1: return MPI_DOUBLE;
	case 2: case 3: return MPI_UINT16_T;
	case 4: return MPI_INT32_T;
	case 5: return MPI_INT64_T;
	case 6: return MPI_C_BOOL;
	}
	return MPI_DATATYPE_NULL;
}

// op codes follow collectives.RedOp: 0 sum, 1 avg (as sum), 2 prod, 3 min, 4 max.
static MPI_Op tess_op(int dt, int op) {
	int k = op == 0 || op == 1 ? 0 : op - 1;
	if (dt == 2) return tess_ops[1][k];
	if (dt == 3) return tess_ops[0][k];
	if (dt == 6) return (op == 0 || op == 4) ? MPI_LOR : MPI_LAND;
	switch (k) { case 0: return MPI_SUM; case 1: return MPI_PROD; case 2: return MPI_MIN; }
	return MPI_MAX;
}

// Wrappers: a NULL req means the blocking call. MPI_IN_PLACE ((void*)1)
// must never reach Go, whose garbage collector rejects such pointers.
static int tess_allreduce(void *buf, int n, int dt, int op, MPI_Comm c, MPI_Request *req) {
	if (req) return MPI_Iallreduce(MPI_IN_PLACE, buf, n, tess_type(dt), tess_op(dt, op), c, req);
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, tess_type(dt), tess_op(dt, op), c);
}
static int tess_reduce(void *buf, int n, int dt, int op, int root, int isroot, MPI_Comm c, MPI_Request *req) {
	void *send = isroot ? MPI_IN_PLACE : buf, *recv = isroot ? buf : NULL;
	if (req) return MPI_Ireduce(send, recv, n, tess_type(dt), tess_op(dt, op), root, c, req);
	return MPI_Reduce(send, recv, n, tess_type(dt), tess_op(dt, op), root, c);
}
static int tess_bcast(void *buf, int n, int dt, int root, MPI_Comm c, MPI_Request *req) {
	if (req) return MPI_Ibcast(buf, n, tess_type(dt), root, c, req);
	return MPI_Bcast(buf, n, tess_type(dt), root, c);
}
static int tess_allgather(void *src, void *dst, int n, int dt, MPI_Comm c, MPI_Request *req) {
	if (req) return MPI_Iallgather(src, n, tess_type(dt), dst, n, tess_type(dt), c, req);
	return MPI_Allgather(src, n, tess_type(dt), dst, n, tess_type(dt), c);
}
static int tess_reduce_scatter(void *src, void *dst, int n, int dt, int op, MPI_Comm c, MPI_Request *req) {
	if (req) return MPI_Ireduce_scatter_block(src, dst, n, tess_type(dt), tess_op(dt, op), c, req);
	return MPI_Reduce_scatter_block(src, dst, n, tess_type(dt), tess_op(dt, op), c);
}
static int tess_alltoall(void *src, void *dst, int n, int dt, MPI_Comm c, MPI_Request *req) {
	if (req) return MPI_Ialltoall(src, n, tess_type(dt), dst, n, tess_type(dt), c, req);
	return MPI_Alltoall(src, n, tess_type(dt), dst, n, tess_type(dt), c);
}
static int tess_barrier(MPI_Comm c, MPI_Request *req) {
	if (req) return MPI_Ibarrier(c, req);
	return MPI_Barrier(c);
}
static int tess_isend(void *buf, int n, int dt, int peer, int tag, MPI_Comm c, MPI_Request *req) {
	return MPI_Isend(buf, n, tess_type(dt), peer, tag, c, req);
}
static int tess_irecv(void *buf, int n, int dt, int peer, int tag, MPI_Comm c, MPI_Request *req) {
	return MPI_Irecv(buf, n, tess_type(dt), peer, tag, c, req);
}
static MPI_Status *tess_status_ignore(void) { return MPI_STATUS_IGNORE; }
static MPI_Request tess_request_null(void) { return MPI_REQUEST_NULL; }

*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/internal/argcheck"
	"github.com/tessera-ml/tessera/collectives/internal/kern"
	"github.com/tessera-ml/tessera/tensor"
)

// Linked reports whether the MPI backend is compiled in (the mpi build tag).
func Linked() bool { return true }

func init() {
	collectives.Register("mpi", open)
}

var (
	initOnce  sync.Once
	initErr   error
	serialize bool       // MPI gave less than MPI_THREAD_MULTIPLE: one call at a time
	mpiMu     sync.Mutex // held around MPI calls when serialize
	finalized bool
)

func lock() {
	if serialize {
		mpiMu.Lock()
	}
}

func unlock() {
	if serialize {
		mpiMu.Unlock()
	}
}

func errString(rc C.int) string {
	buf := make([]byte, C.MPI_MAX_ERROR_STRING)
	var n C.int
	C.MPI_Error_string(rc, (*C.char)(unsafe.Pointer(&buf[0])), &n)
	return string(buf[:n])
}

func open(ctx context.Context, rank, size int) (collectives.Backend, error) {
	initOnce.Do(func() {
		var provided C.int
		if rc := C.tess_init(&provided); rc != C.MPI_SUCCESS {
			initErr = fmt.Errorf("collectives/mpi: MPI_Init_thread: %s", errString(rc))
			return
		}
		serialize = provided < C.tess_thread_multiple()
	})
	if initErr != nil {
		return nil, initErr
	}
	m, err := newComm(C.tess_world(), true, nil)
	if err != nil {
		return nil, err
	}
	if m.rank != rank || m.size != size {
		return nil, fmt.Errorf("collectives/mpi: MPI says rank %d of %d but the environment says %d of %d", m.rank, m.size, rank, size)
	}
	return m, nil
}

// comm is one MPI communicator.
type comm struct {
	c          C.MPI_Comm
	ctl        C.MPI_Comm // notices (faults.go)
	id         uint64     // agreed by the members, carried by notices
	parent     *comm      // the communicator it was split from
	world      bool
	rank, size int
	check      bool

	mu        sync.Mutex
	err       error
	abandoned int // requests left behind by a deadline (their pins are in leftPins)
	closed    bool
	// How far this rank got, for its close notice; peerClosed is what the
	// peers' close notices said.
	seq               int // collective calls started
	sentTo, recvdFrom []int
	peerClosed        []*closed

	nmu      sync.Mutex // the notice requests
	noteReq  C.MPI_Request
	noteBuf  unsafe.Pointer
	outNotes []outNote
	noteLive bool // noteReq is posted
	ctlFreed bool
}

func newComm(c C.MPI_Comm, world bool, parent *comm) (*comm, error) {
	var r, s C.int
	lock()
	C.MPI_Comm_rank(c, &r)
	C.MPI_Comm_size(c, &s)
	unlock()
	m := &comm{c: c, world: world, parent: parent, rank: int(r), size: int(s), check: os.Getenv("TESSERA_MPI_CHECK") != "0"}
	if err := m.setupNotices(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *comm) Name() string { return "mpi" }
func (m *comm) Rank() int    { return m.rank }
func (m *comm) Size() int    { return m.size }

// Err returns the abort error of m or of the communicator it was split
// from (an abort of a parent fails its sub-communicators, as in package
// local).
func (m *comm) Err() error {
	for c := m; c != nil; c = c.parent {
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// Abort fails m and sends an abort notice to every peer.
func (m *comm) Abort(err error) {
	if m.setErr(err) {
		m.notify(noteAbort, err.Error())
	}
}

// Close tells the peers (a close notice when healthy; an aborted rank
// has already sent its abort notice) and releases the communicator. The
// world's Close then waits for every rank to reach Close, on the control
// communicator: without a limit when healthy, as MPI_Finalize would;
// within closeGrace when aborted. When every rank arrives it calls
// MPI_Finalize; when one does not (a rank stuck or gone), it calls
// MPI_Abort, which ends the whole job through mpirun and does not return.
func (m *comm) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.pollNotices()
	aborted := m.Err() != nil
	m.closeNotices(aborted)
	m.setErr(fmt.Errorf("rank %d closed its communicator", m.rank))
	if !m.world {
		m.freeCtl()
		lock()
		C.MPI_Comm_free(&m.c)
		unlock()
		return nil
	}
	if !m.closeBarrier(aborted, closeGrace()) {
		fmt.Fprintf(os.Stderr, "collectives/mpi: rank %d: not every rank reached Close within %v after an abort (%v); calling MPI_Abort\n",
			m.rank, closeGrace(), m.Err())
		abortJob(1)
	}
	m.freeCtl()
	lock()
	defer unlock()
	if !finalized {
		finalized = true
		if rc := C.MPI_Finalize(); rc != C.MPI_SUCCESS {
			return fmt.Errorf("collectives/mpi: MPI_Finalize: %s", errString(rc))
		}
	}
	return nil
}

// leftPins keeps the buffers of abandoned requests pinned for the life of
// the process: MPI may still write them, and a Pinner collected while
// pinned panics. It is global because a communicator may be dropped while
// its requests are still in flight.
var leftPins struct {
	sync.Mutex
	pins []*runtime.Pinner
}

// abandon records that a request with buffers pinned by pin was left
// behind (its context ended or the communicator failed).
func (m *comm) abandon(pin *runtime.Pinner) {
	m.mu.Lock()
	m.abandoned++
	m.mu.Unlock()
	leftPins.Lock()
	leftPins.pins = append(leftPins.pins, pin)
	leftPins.Unlock()
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func (m *comm) mpiErr(k collectives.Kind, what string, rc C.int) error {
	err := fmt.Errorf("rank %d: %s: %s: %s", m.rank, k, what, errString(rc))
	m.Abort(err)
	return err
}

// spinFor is how long a wait polls MPI without sleeping
// (TESSERA_MPI_SPIN, a Go duration; 100ms by default): MPI progresses a
// non-blocking operation only inside MPI calls, so a transfer in flight
// wants a tight loop, while a rank waiting long for a stalled peer should
// not burn a core. After spinFor it polls every 250µs.
var spinFor = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("TESSERA_MPI_SPIN")); err == nil && d >= 0 {
		return d
	}
	return 100 * time.Millisecond
}()

// backoff is the pause between two polls of a wait that started at start.
func backoff(i int, start time.Time) {
	if i%64 != 0 || time.Since(start) < spinFor {
		runtime.Gosched()
		return
	}
	time.Sleep(250 * time.Microsecond)
}

// begin starts a collective call: it fails at once when the communicator
// is aborted, a peer has closed, or ctx has ended, and otherwise counts
// the call (for the close notice) and returns what its wait needs.
func (m *comm) begin(ctx context.Context, k collectives.Kind, bs ...collectives.Buffer) (*pending, error) {
	m.mu.Lock()
	p := &pending{coll: true, seq: m.seq}
	m.mu.Unlock()
	if err := m.health(p); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, m.fail(fmt.Errorf("rank %d: %s: %w", m.rank, k, err))
	}
	for _, b := range bs {
		if b.Count > 1<<31-1 {
			// A local error, but the peers are about to wait for this rank.
			return nil, m.fail(fmt.Errorf("%w: rank %d: %s: %d elements exceed MPI's int count", collectives.ErrInvalid, m.rank, k, b.Count))
		}
	}
	m.mu.Lock()
	m.seq++
	m.mu.Unlock()
	return p, nil
}

// do runs one non-blocking MPI operation and polls it until it completes,
// ctx ends, or the communicator fails (a notice from a peer).
func (m *comm) do(ctx context.Context, p *pending, k collectives.Kind, what string, bufs [][]byte,
	call func(req *C.MPI_Request) C.int) error {
	if err := m.health(p); err != nil {
		return err
	}
	pin := new(runtime.Pinner)
	for _, b := range bufs {
		if len(b) > 0 {
			pin.Pin(&b[0])
		}
	}
	req := C.tess_request_null()
	lock()
	rc := call(&req)
	unlock()
	if rc != C.MPI_SUCCESS {
		pin.Unpin()
		return m.mpiErr(k, what, rc)
	}
	if err := m.wait(ctx, p, k, &req); err != nil {
		m.abandon(pin)
		return err
	}
	pin.Unpin()
	return nil
}

// wait polls req until it completes, ctx ends (which aborts m and tells
// the peers), or a notice fails p.
func (m *comm) wait(ctx context.Context, p *pending, k collectives.Kind, req *C.MPI_Request) error {
	start := time.Now()
	for i := 0; ; i++ {
		var flag C.int
		lock()
		rc := C.MPI_Test(req, &flag, C.tess_status_ignore())
		unlock()
		if rc != C.MPI_SUCCESS {
			return m.mpiErr(k, "MPI_Test", rc)
		}
		if flag != 0 {
			return nil
		}
		if i%16 == 15 {
			if err := m.health(p); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return m.fail(fmt.Errorf("rank %d: %s: %w", m.rank, k, ctx.Err()))
		default:
		}
		backoff(i, start)
	}
}

// agree runs the argument check (package argcheck): one small
// MPI_Allreduce when the ranks agree; on a mismatch, every rank learns all
// the calls and returns the same error naming the first disagreeing pair.
func (m *comm) agree(ctx context.Context, p *pending, k collectives.Kind, c argcheck.Call) error {
	if !m.check {
		return nil
	}
	return m.agreeAlways(ctx, p, k, c)
}

// agreeAlways is agree even when TESSERA_MPI_CHECK=0 (Split uses it so
// that every rank is known to be in the call before the blocking
// MPI_Comm_split).
func (m *comm) agreeAlways(ctx context.Context, p *pending, k collectives.Kind, c argcheck.Call) error {
	if m.size == 1 {
		return nil
	}
	words := func(w []int64) []byte {
		if len(w) == 0 {
			return nil
		}
		return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)
	}
	return argcheck.Agree(k, m.size, c, argcheck.Exchange{
		MaxReduce: func(w []int64) error {
			wp := ptr(words(w))
			return m.do(ctx, p, k, "MPI_Allreduce (argument check)", [][]byte{words(w)},
				func(req *C.MPI_Request) C.int {
					return C.tess_allreduce(wp, C.int(len(w)), C.int(tensor.Int64), C.int(collectives.Max), m.c, req)
				})
		},
		Gather: func(dst, src []int64) error {
			sp, dp := ptr(words(src)), ptr(words(dst))
			return m.do(ctx, p, k, "MPI_Allgather (argument check)", [][]byte{words(dst), words(src)},
				func(req *C.MPI_Request) C.int {
					return C.tess_allgather(sp, dp, C.int(len(src)), C.int(tensor.Int64), m.c, req)
				})
		},
	})
}

func (m *comm) AllReduce(ctx context.Context, b collectives.Buffer, op collectives.RedOp) error {
	k := collectives.KindAllReduce
	pd, err := m.begin(ctx, k, b)
	if err != nil {
		return err
	}
	if err := m.agree(ctx, pd, k, argcheck.Describe(k, op, 0, b, collectives.Buffer{})); err != nil {
		return err
	}
	dt, p, n := C.int(b.DType), ptr(b.Host), C.int(b.Count)
	err = m.do(ctx, pd, k, "MPI_Allreduce", [][]byte{b.Host},
		func(req *C.MPI_Request) C.int { return C.tess_allreduce(p, n, dt, C.int(op), m.c, req) })
	if err == nil && op == collectives.Avg && m.size > 1 {
		kern.Divide(b.DType, b.Host, m.size)
	}
	return err
}

func (m *comm) Broadcast(ctx context.Context, b collectives.Buffer, root int) error {
	k := collectives.KindBroadcast
	pd, err := m.begin(ctx, k, b)
	if err != nil {
		return err
	}
	if err := m.agree(ctx, pd, k, argcheck.Describe(k, 0, root, b, collectives.Buffer{})); err != nil {
		return err
	}
	dt, p, n := C.int(b.DType), ptr(b.Host), C.int(b.Count)
	return m.do(ctx, pd, k, "MPI_Bcast", [][]byte{b.Host},
		func(req *C.MPI_Request) C.int { return C.tess_bcast(p, n, dt, C.int(root), m.c, req) })
}

func (m *comm) Reduce(ctx context.Context, b collectives.Buffer, op collectives.RedOp, root int) error {
	k := collectives.KindReduce
	pd, err := m.begin(ctx, k, b)
	if err != nil {
		return err
	}
	if err := m.agree(ctx, pd, k, argcheck.Describe(k, op, root, b, collectives.Buffer{})); err != nil {
		return err
	}
	dt, p, n := C.int(b.DType), ptr(b.Host), C.int(b.Count)
	isRoot := C.int(0)
	if m.rank == root {
		isRoot = 1
	}
	err = m.do(ctx, pd, k, "MPI_Reduce", [][]byte{b.Host},
		func(req *C.MPI_Request) C.int {
			return C.tess_reduce(p, n, dt, C.int(op), C.int(root), isRoot, m.c, req)
		})
	if err == nil && op == collectives.Avg && m.size > 1 && m.rank == root {
		kern.Divide(b.DType, b.Host, m.size)
	}
	return err
}

func (m *comm) AllGather(ctx context.Context, dst, src collectives.Buffer) error {
	k := collectives.KindAllGather
	pd, err := m.begin(ctx, k, dst, src)
	if err != nil {
		return err
	}
	if err := m.agree(ctx, pd, k, argcheck.Describe(k, 0, 0, dst, src)); err != nil {
		return err
	}
	dt, sp, dp, n := C.int(src.DType), ptr(src.Host), ptr(dst.Host), C.int(src.Count)
	return m.do(ctx, pd, k, "MPI_Allgather", [][]byte{dst.Host, src.Host},
		func(req *C.MPI_Request) C.int { return C.tess_allgather(sp, dp, n, dt, m.c, req) })
}

func (m *comm) ReduceScatter(ctx context.Context, dst, src collectives.Buffer, op collectives.RedOp) error {
	k := collectives.KindReduceScatter
	pd, err := m.begin(ctx, k, dst, src)
	if err != nil {
		return err
	}
	if err := m.agree(ctx, pd, k, argcheck.Describe(k, op, 0, dst, src)); err != nil {
		return err
	}
	dt, sp, dp, n := C.int(dst.DType), ptr(src.Host), ptr(dst.Host), C.int(dst.Count)
	err = m.do(ctx, pd, k, "MPI_Reduce_scatter_block", [][]byte{dst.Host, src.Host},
		func(req *C.MPI_Request) C.int { return C.tess_reduce_scatter(sp, dp, n, dt, C.int(op), m.c, req) })
	if err == nil && op == collectives.Avg && m.size > 1 {
		kern.Divide(dst.DType, dst.Host, m.size)
	}
	return err
}

func (m *comm) AllToAll(ctx context.Context, dst, src collectives.Buffer) error {
	k := collectives.KindAllToAll
	pd, err := m.begin(ctx, k, dst, src)
	if err != nil {
		return err
	}
	if err := m.agree(ctx, pd, k, argcheck.Describe(k, 0, 0, dst, src)); err != nil {
		return err
	}
	dt, sp, dp, n := C.int(src.DType), ptr(src.Host), ptr(dst.Host), C.int(src.Count/m.size)
	return m.do(ctx, pd, k, "MPI_Alltoall", [][]byte{dst.Host, src.Host},
		func(req *C.MPI_Request) C.int { return C.tess_alltoall(sp, dp, n, dt, m.c, req) })
}

func (m *comm) Barrier(ctx context.Context) error {
	k := collectives.KindBarrier
	pd, err := m.begin(ctx, k)
	if err != nil {
		return err
	}
	if err := m.agree(ctx, pd, k, argcheck.Describe(k, 0, 0, collectives.Buffer{}, collectives.Buffer{})); err != nil {
		return err
	}
	return m.do(ctx, pd, k, "MPI_Barrier", nil,
		func(req *C.MPI_Request) C.int { return C.tess_barrier(m.c, req) })
}

// Point-to-point tags: every transfer is a header from the sender, an
// acknowledgement carrying the receiver's header back, and the data.
const (
	tagHead = 1
	tagAck  = 2
	tagData = 3
)

// EagerMax is the largest message, in bytes, whose data a sender posts
// together with its header; a larger one is sent once the receiver's
// acknowledgement says the two sides agree. A receiver that disagrees with
// an eager message drains it into a scratch buffer of at most EagerMax.
const EagerMax = 64 << 10

// SendRecv runs every send and receive as a small protocol, so that a size,
// dtype or shape mismatch is reported on both sides (MPI alone reports a
// truncation to the receiver only, and a short message to nobody):
//
//  1. post: every header Irecv, and for every send its acknowledgement
//     Irecv, its header Isend and, if eager, its data Isend;
//  2. for every receive in order: wait for the sender's header, send back
//     this rank's header, and post the data Irecv (into the tensor when
//     they agree, into scratch when an eager message disagrees);
//  3. for every send in order: wait for the acknowledgement and, when the
//     two agree and the message is not eager, post the data Isend;
//  4. wait for everything else.
//
// Each step waits only for messages that the peers post in an earlier
// step, so the exchange cannot deadlock; transfers to one peer keep their
// order (MPI's non-overtaking rule holds per tag). Both sides compare the
// same two headers, so both return the same ErrMismatch error.
func (m *comm) SendRecv(ctx context.Context, sends, recvs []collectives.PeerBuffer) error {
	if err := m.health(nil); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return m.fail(fmt.Errorf("rank %d: %s: %w", m.rank, collectives.KindSend, err))
	}
	for _, pb := range append(slices.Clone(recvs), sends...) {
		if pb.Buf.Count > 1<<31-1 {
			return m.fail(fmt.Errorf("%w: rank %d: Send/Recv: %d elements exceed MPI's int count", collectives.ErrInvalid, m.rank, pb.Buf.Count))
		}
	}
	// What each transfer needs of its peer, should the peer close: the
	// index of the transfer in its direction between the two ranks.
	recvDep, sendDep := make([]pending, len(recvs)), make([]pending, len(sends))
	m.mu.Lock()
	nFrom, nTo := map[int]int{}, map[int]int{}
	for i, r := range recvs {
		recvDep[i] = pending{peer: r.Peer, idx: m.recvdFrom[r.Peer] + nFrom[r.Peer]}
		nFrom[r.Peer]++
	}
	for j, s := range sends {
		sendDep[j] = pending{peer: s.Peer, send: true, idx: m.sentTo[s.Peer] + nTo[s.Peer]}
		nTo[s.Peer]++
	}
	m.mu.Unlock()
	const hl = argcheck.Len
	nr, ns := len(recvs), len(sends)
	// heads holds, in order: the headers received, the acknowledgements
	// sent (this rank's header per receive), the headers sent, and the
	// acknowledgements received.
	heads := make([]int64, hl*(2*nr+2*ns))
	recvHead := func(i int) []int64 { return heads[hl*i : hl*(i+1)] }
	ackOut := func(i int) []int64 { return heads[hl*(nr+i) : hl*(nr+i+1)] }
	sendHead := func(j int) []int64 { return heads[hl*(2*nr+j) : hl*(2*nr+j+1)] }
	ackIn := func(j int) []int64 { return heads[hl*(2*nr+ns+j) : hl*(2*nr+ns+j+1)] }
	head := func(b collectives.Buffer) [hl]int64 {
		return argcheck.Describe(collectives.KindSend, 0, 0, b, collectives.Buffer{}).Head
	}
	for i, r := range recvs {
		h := head(r.Buf)
		copy(ackOut(i), h[:])
	}
	for j, s := range sends {
		h := head(s.Buf)
		copy(sendHead(j), h[:])
	}
	eager := func(h []int64) bool {
		dt, n := argcheck.HeadBuffer(h)
		return n*dt.Size() <= EagerMax
	}

	pin := new(runtime.Pinner)
	pinned := func(b []byte) {
		if len(b) > 0 {
			pin.Pin(&b[0])
		}
	}
	if len(heads) > 0 {
		pin.Pin(&heads[0])
	}
	var reqs []C.MPI_Request // every request still to wait for in step 4
	var kinds []collectives.Kind
	var deps []*pending
	abandon := func(err error) error {
		m.abandon(pin)
		return err
	}
	hp := func(w []int64) unsafe.Pointer { return unsafe.Pointer(&w[0]) }
	post := func(k collectives.Kind, send bool, p unsafe.Pointer, n int, dt tensor.DType, peer, tag int) (C.MPI_Request, error) {
		req := C.tess_request_null()
		var rc C.int
		lock()
		if send {
			rc = C.tess_isend(p, C.int(n), C.int(dt), C.int(peer), C.int(tag), m.c, &req)
		} else {
			rc = C.tess_irecv(p, C.int(n), C.int(dt), C.int(peer), C.int(tag), m.c, &req)
		}
		unlock()
		if rc != C.MPI_SUCCESS {
			return req, abandon(m.mpiErr(k, "MPI_Isend/MPI_Irecv", rc))
		}
		return req, nil
	}
	later := func(k collectives.Kind, dep *pending, req C.MPI_Request) {
		reqs = append(reqs, req)
		kinds = append(kinds, k)
		deps = append(deps, dep)
	}
	sendData := func(j int) error {
		b := sends[j].Buf
		pinned(b.Host)
		req, err := post(collectives.KindSend, true, ptr(b.Host), b.Count, b.DType, sends[j].Peer, tagData)
		later(collectives.KindSend, &sendDep[j], req)
		return err
	}

	// 1. Post.
	headReqs := make([]C.MPI_Request, nr)
	for i, r := range recvs {
		var err error
		if headReqs[i], err = post(collectives.KindRecv, false, hp(recvHead(i)), hl, tensor.Int64, r.Peer, tagHead); err != nil {
			return err
		}
	}
	ackReqs := make([]C.MPI_Request, ns)
	for j, s := range sends {
		var err error
		if ackReqs[j], err = post(collectives.KindSend, false, hp(ackIn(j)), hl, tensor.Int64, s.Peer, tagAck); err != nil {
			return err
		}
		req, err := post(collectives.KindSend, true, hp(sendHead(j)), hl, tensor.Int64, s.Peer, tagHead)
		later(collectives.KindSend, &sendDep[j], req)
		if err != nil {
			return err
		}
		if eager(sendHead(j)) {
			if err := sendData(j); err != nil {
				return err
			}
		}
	}
	var firstErr error
	mismatch := func(from int, fromHead []int64, to int, toHead []int64) {
		if firstErr == nil && !slices.Equal(fromHead, toHead) {
			firstErr = fmt.Errorf("%w: Send/Recv: rank %d sent %s but rank %d receives %s",
				collectives.ErrMismatch, from, argcheck.HeadDesc(fromHead), to, argcheck.HeadDesc(toHead))
		}
	}
	// 2. Receives, in order.
	for i, r := range recvs {
		if err := m.wait(ctx, &recvDep[i], collectives.KindRecv, &headReqs[i]); err != nil {
			return abandon(err)
		}
		m.mu.Lock()
		m.recvdFrom[r.Peer]++
		m.mu.Unlock()
		req, err := post(collectives.KindRecv, true, hp(ackOut(i)), hl, tensor.Int64, r.Peer, tagAck)
		later(collectives.KindRecv, &recvDep[i], req)
		if err != nil {
			return err
		}
		theirs := recvHead(i)
		switch {
		case slices.Equal(theirs, ackOut(i)):
			pinned(r.Buf.Host)
			req, err = post(collectives.KindRecv, false, ptr(r.Buf.Host), r.Buf.Count, r.Buf.DType, r.Peer, tagData)
		case eager(theirs):
			mismatch(r.Peer, theirs, m.rank, ackOut(i))
			dt, n := argcheck.HeadBuffer(theirs)
			scratch := make([]byte, n*dt.Size())
			pinned(scratch)
			req, err = post(collectives.KindRecv, false, ptr(scratch), n, dt, r.Peer, tagData)
		default:
			mismatch(r.Peer, theirs, m.rank, ackOut(i))
			continue // the sender will not send the data
		}
		later(collectives.KindRecv, &recvDep[i], req)
		if err != nil {
			return err
		}
	}
	// 3. Sends, in order.
	for j, s := range sends {
		if err := m.wait(ctx, &sendDep[j], collectives.KindSend, &ackReqs[j]); err != nil {
			return abandon(err)
		}
		m.mu.Lock()
		m.sentTo[s.Peer]++
		m.mu.Unlock()
		if !slices.Equal(ackIn(j), sendHead(j)) {
			mismatch(m.rank, sendHead(j), s.Peer, ackIn(j))
			continue
		}
		if !eager(sendHead(j)) {
			if err := sendData(j); err != nil {
				return err
			}
		}
	}
	// 4. The rest.
	for i := range reqs {
		if err := m.wait(ctx, deps[i], kinds[i], &reqs[i]); err != nil {
			return abandon(err)
		}
	}
	pin.Unpin()
	return firstErr
}

func (m *comm) Split(ctx context.Context, color, key int) (collectives.Backend, error) {
	k := collectives.KindSplit
	pd, err := m.begin(ctx, k)
	if err != nil {
		return nil, err
	}
	// MPI_Comm_split blocks (there is no non-blocking form): it starts only
	// once the polled check has shown every rank is in the call.
	if err := m.agreeAlways(ctx, pd, k, argcheck.Describe(k, 0, 0, collectives.Buffer{}, collectives.Buffer{})); err != nil {
		return nil, err
	}
	c := C.int(color)
	if color < 0 {
		c = C.tess_undefined()
	}
	nc := C.tess_comm_null()
	lock()
	rc := C.MPI_Comm_split(m.c, c, C.int(key), &nc)
	unlock()
	if rc != C.MPI_SUCCESS {
		return nil, m.mpiErr(k, "MPI_Comm_split", rc)
	}
	if color < 0 {
		return nil, nil
	}
	lock()
	C.MPI_Comm_set_errhandler(nc, C.MPI_ERRORS_RETURN)
	unlock()
	sub, err := newComm(nc, false, m)
	if err != nil {
		return nil, m.fail(fmt.Errorf("rank %d: %s: %w", m.rank, k, err))
	}
	return sub, nil
}
