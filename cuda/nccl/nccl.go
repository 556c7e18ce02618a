package nccl

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/cuda/internal/dl"
)

// DataType is an ncclDataType_t.
type DataType int

// NCCL data types (stable NCCL 2.x values).
const (
	Int8     DataType = 0
	Uint8    DataType = 1
	Int32    DataType = 2
	Uint32   DataType = 3
	Int64    DataType = 4
	Uint64   DataType = 5
	Float16  DataType = 6
	Float32  DataType = 7
	Float64  DataType = 8
	Bfloat16 DataType = 9 // NCCL >= 2.10
)

// RedOp is an ncclRedOp_t.
type RedOp int

// Reduction operations.
const (
	Sum  RedOp = 0
	Prod RedOp = 1
	Max  RedOp = 2
	Min  RedOp = 3
	Avg  RedOp = 4 // NCCL >= 2.10
)

// UniqueIDBytes is NCCL_UNIQUE_ID_BYTES.
const UniqueIDBytes = 128

// UniqueID is an ncclUniqueId: created by rank 0, shared with every rank.
type UniqueID [UniqueIDBytes]byte

// ncclResult_t codes.
const (
	resSuccess           = 0
	resUnhandledCUDA     = 1
	resSystemError       = 2
	resInternalError     = 3
	resInvalidArgument   = 4
	resInvalidUsage      = 5
	resRemoteError       = 6
	resInProgress        = 7
	resNoSymbol          = 0x7e570001
	resDriverUnavailable = 0x7e570002
)

var resultNames = map[int]string{
	resSuccess: "ncclSuccess", resUnhandledCUDA: "ncclUnhandledCudaError", resSystemError: "ncclSystemError",
	resInternalError: "ncclInternalError", resInvalidArgument: "ncclInvalidArgument",
	resInvalidUsage: "ncclInvalidUsage", resRemoteError: "ncclRemoteError", resInProgress: "ncclInProgress",
	resNoSymbol: "TESSERA_SYMBOL_NOT_FOUND",
}

// ErrRemote matches errors caused by a peer (ncclRemoteError), for
// errors.Is; a collectives layer aborts the group on it.
var ErrRemote = errors.New("nccl: remote rank error")

// Error is a failed NCCL call.
type Error struct {
	Call string
	Code int    // ncclResult_t
	Name string // e.g. "ncclInvalidArgument"
	Msg  string // ncclGetErrorString (and ncclGetLastError when available)
}

func (e *Error) Error() string {
	s := fmt.Sprintf("nccl: %s failed: %s (%d)", e.Call, e.Name, e.Code)
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is matches ErrRemote and cuda.ErrSymbolNotFound.
func (e *Error) Is(target error) bool {
	return target == ErrRemote && e.Code == resRemoteError ||
		target == cuda.ErrSymbolNotFound && e.Code == resNoSymbol
}

func newError(a api, call string, code int) error {
	if code == resSuccess {
		return nil
	}
	e := &Error{Call: call, Code: code, Name: resultNames[code]}
	if e.Name == "" {
		e.Name = fmt.Sprintf("ncclResult(%d)", code)
	}
	if code == resNoSymbol {
		e.Msg = "the loaded libnccl does not export " + call
	} else if a != nil {
		e.Msg = a.errorString(code)
	}
	return e
}

// api is NCCL as the package sees it (nccl_cgo.go).
type api interface {
	version() (int, int)
	errorString(code int) string
	lastError(comm handle) string
	getUniqueID(id *UniqueID) int
	commInitRank(nranks int, id *UniqueID, rank int) (handle, int)
	commDestroy(c handle) int
	commAbort(c handle) int
	commAsyncError(c handle) (int, int)
	commCount(c handle) (int, int)
	allReduce(send, recv cuda.DevicePtr, count int, dt DataType, op RedOp, c handle, s handle) int
	broadcast(send, recv cuda.DevicePtr, count int, dt DataType, root int, c handle, s handle) int
	reduce(send, recv cuda.DevicePtr, count int, dt DataType, op RedOp, root int, c handle, s handle) int
	allGather(send, recv cuda.DevicePtr, sendCount int, dt DataType, c handle, s handle) int
	reduceScatter(send, recv cuda.DevicePtr, recvCount int, dt DataType, op RedOp, c handle, s handle) int
	send(buf cuda.DevicePtr, count int, dt DataType, peer int, c handle, s handle) int
	recv(buf cuda.DevicePtr, count int, dt DataType, peer int, c handle, s handle) int
	groupStart() int
	groupEnd() int
	libraryPath() string
}

var (
	loadOnce sync.Once
	lib      api
	libErr   error
)

// Load loads libnccl.so.2 (TESSERA_LIBNCCL, TESSERA_CUDA_LIB_DIR, the
// dlopen path, system folders, Python wheels' nvidia/nccl/lib) if needed.
func Load() error {
	_, err := load()
	return err
}

func load() (api, error) {
	loadOnce.Do(func() { lib, libErr = open(dl.OSEnv()) })
	return lib, libErr
}

// Version returns ncclGetVersion's code (e.g. 22703 for 2.27.3) and the
// library file.
func Version() (int, string, error) {
	a, err := load()
	if err != nil {
		return 0, "", err
	}
	v, r := a.version()
	return v, a.libraryPath(), newError(a, "ncclGetVersion", r)
}

func init() { cuda.RegisterNCCLInfo(Version) }

// GetUniqueID creates the ID that names a new communicator (rank 0 only).
func GetUniqueID() (UniqueID, error) {
	var id UniqueID
	a, err := load()
	if err != nil {
		return id, err
	}
	return id, newError(a, "ncclGetUniqueId", a.getUniqueID(&id))
}

// Comm is one rank of an NCCL communicator, bound to a device.
type Comm struct {
	a      api
	dev    *cuda.Device
	h      handle
	rank   int
	nranks int
}

// onDevice runs f on a locked OS thread with dev's context current.
func onDevice(dev *cuda.Device, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := dev.MakeCurrent(); err != nil {
		return err
	}
	return f()
}

// InitRank joins rank `rank` of an nranks communicator on dev (blocks until
// every rank has joined).
func InitRank(dev *cuda.Device, nranks int, id UniqueID, rank int) (*Comm, error) {
	a, err := load()
	if err != nil {
		return nil, err
	}
	if rank < 0 || rank >= nranks {
		return nil, fmt.Errorf("nccl: rank %d out of range for %d ranks", rank, nranks)
	}
	c := &Comm{a: a, dev: dev, rank: rank, nranks: nranks}
	err = onDevice(dev, func() error {
		h, r := a.commInitRank(nranks, &id, rank)
		c.h = h
		return newError(a, "ncclCommInitRank", r)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Rank is this communicator's rank.
func (c *Comm) Rank() int { return c.rank }

// Size is the number of ranks.
func (c *Comm) Size() int { return c.nranks }

// Device is the communicator's device.
func (c *Comm) Device() *cuda.Device { return c.dev }

func (c *Comm) call(name string, f func() int) error {
	if c.h == nil {
		return fmt.Errorf("nccl: %s on a destroyed communicator", name)
	}
	return onDevice(c.dev, func() error {
		r := f()
		err := newError(c.a, name, r)
		if e, ok := err.(*Error); ok {
			if last := c.a.lastError(c.h); last != "" && last != e.Msg {
				e.Msg += " (" + last + ")"
			}
		}
		return err
	})
}

// AllReduce reduces count elements of send over all ranks into recv
// (in place when send == recv), ordered on stream s.
func (c *Comm) AllReduce(send, recv cuda.DevicePtr, count int, dt DataType, op RedOp, s *cuda.Stream) error {
	return c.call("ncclAllReduce", func() int { return c.a.allReduce(send, recv, count, dt, op, c.h, s.Handle()) })
}

// Broadcast copies count elements of root's send to every rank's recv.
func (c *Comm) Broadcast(send, recv cuda.DevicePtr, count int, dt DataType, root int, s *cuda.Stream) error {
	return c.call("ncclBroadcast", func() int { return c.a.broadcast(send, recv, count, dt, root, c.h, s.Handle()) })
}

// Reduce reduces into root's recv.
func (c *Comm) Reduce(send, recv cuda.DevicePtr, count int, dt DataType, op RedOp, root int, s *cuda.Stream) error {
	return c.call("ncclReduce", func() int { return c.a.reduce(send, recv, count, dt, op, root, c.h, s.Handle()) })
}

// AllGather gathers sendCount elements from every rank into recv
// (nranks*sendCount elements, rank order).
func (c *Comm) AllGather(send, recv cuda.DevicePtr, sendCount int, dt DataType, s *cuda.Stream) error {
	return c.call("ncclAllGather", func() int { return c.a.allGather(send, recv, sendCount, dt, c.h, s.Handle()) })
}

// ReduceScatter reduces nranks*recvCount elements and leaves block `rank`
// (recvCount elements) in each rank's recv.
func (c *Comm) ReduceScatter(send, recv cuda.DevicePtr, recvCount int, dt DataType, op RedOp, s *cuda.Stream) error {
	return c.call("ncclReduceScatter", func() int {
		return c.a.reduceScatter(send, recv, recvCount, dt, op, c.h, s.Handle())
	})
}

// Send sends count elements to peer (pair it with the peer's Recv, inside
// a Group when a rank both sends and receives).
func (c *Comm) Send(buf cuda.DevicePtr, count int, dt DataType, peer int, s *cuda.Stream) error {
	return c.call("ncclSend", func() int { return c.a.send(buf, count, dt, peer, c.h, s.Handle()) })
}

// Recv receives count elements from peer.
func (c *Comm) Recv(buf cuda.DevicePtr, count int, dt DataType, peer int, s *cuda.Stream) error {
	return c.call("ncclRecv", func() int { return c.a.recv(buf, count, dt, peer, c.h, s.Handle()) })
}

// Group runs f between ncclGroupStart and ncclGroupEnd on one locked OS
// thread (NCCL's group state is per thread), so the collectives and
// send/recv calls f makes are fused and launched together.
func Group(f func() error) error {
	a, err := load()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := newError(a, "ncclGroupStart", a.groupStart()); err != nil {
		return err
	}
	ferr := f()
	eerr := newError(a, "ncclGroupEnd", a.groupEnd())
	if ferr != nil {
		return ferr
	}
	return eerr
}

// AsyncError reports an asynchronous error of the communicator (for
// example a peer failure); nil when none.
func (c *Comm) AsyncError() error {
	if c.h == nil {
		return nil
	}
	var err error
	cerr := onDevice(c.dev, func() error {
		res, r := c.a.commAsyncError(c.h)
		if r != resSuccess {
			return newError(c.a, "ncclCommGetAsyncError", r)
		}
		if res != resSuccess && res != resInProgress {
			err = newError(c.a, "async", res)
		}
		return nil
	})
	if cerr != nil {
		return cerr
	}
	return err
}

// Abort aborts the communicator's outstanding operations and frees it; use
// it when a peer failed so no rank hangs. The Comm is unusable afterwards.
func (c *Comm) Abort() error {
	if c.h == nil {
		return nil
	}
	err := onDevice(c.dev, func() error { return newError(c.a, "ncclCommAbort", c.a.commAbort(c.h)) })
	c.h = nil
	return err
}

// Destroy frees the communicator after its operations complete.
func (c *Comm) Destroy() error {
	if c.h == nil {
		return nil
	}
	err := onDevice(c.dev, func() error { return newError(c.a, "ncclCommDestroy", c.a.commDestroy(c.h)) })
	c.h = nil
	return err
}

// ElementSize is the size in bytes of one element of dt.
func ElementSize(dt DataType) int {
	switch dt {
	case Int8, Uint8:
		return 1
	case Float16, Bfloat16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	}
	return 8
}
