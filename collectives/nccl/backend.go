package nccl

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/internal/argcheck"
	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/cuda/cudatensor"
	cnccl "github.com/tessera-ml/tessera/cuda/nccl"
	"github.com/tessera-ml/tessera/tensor"
)

func init() { collectives.Register("nccl", open) }

// open is Init's opener: the device is cuda:(local rank mod GPUs) and the
// id comes from rank 0 over TCP at Addr(os.Getenv).
func open(ctx context.Context, rank, size int) (collectives.Backend, error) {
	addr, err := Addr(os.Getenv)
	if err != nil && size > 1 {
		return nil, err
	}
	ord, err := LocalDevice(os.Getenv)
	if err != nil {
		return nil, err
	}
	dev, err := cudatensor.Open(ord)
	if err != nil {
		return nil, fmt.Errorf("collectives/nccl: rank %d: %w", rank, err)
	}
	var id []byte
	if rank == 0 {
		uid, err := cnccl.GetUniqueID()
		if err != nil {
			return nil, MapError(rank, collectives.KindSplit, err)
		}
		id = uid[:]
	}
	if size > 1 {
		if id, err = ExchangeTCP(ctx, addr, rank, size, id); err != nil {
			return nil, err
		}
	}
	return newBackend(dev, rank, size, id)
}

// Addr returns the TCP rendezvous address: TESSERA_NCCL_ADDR, else
// MASTER_ADDR:MASTER_PORT (torchrun's variables).
func Addr(getenv func(string) string) (string, error) {
	if a := getenv("TESSERA_NCCL_ADDR"); a != "" {
		return a, nil
	}
	h, p := getenv("MASTER_ADDR"), getenv("MASTER_PORT")
	if h == "" || p == "" {
		return "", fmt.Errorf("%w: collectives/nccl: set TESSERA_NCCL_ADDR=host:port or MASTER_ADDR and MASTER_PORT (rank 0 listens there)", collectives.ErrInvalid)
	}
	return net.JoinHostPort(h, p), nil
}

// LocalDevice returns the GPU ordinal of this process: its local rank
// (LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK) modulo the number of GPUs,
// or TESSERA_NCCL_DEVICE when set.
func LocalDevice(getenv func(string) string) (int, error) {
	if d := getenv("TESSERA_NCCL_DEVICE"); d != "" {
		return strconv.Atoi(d)
	}
	lr := 0
	for _, k := range []string{"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"} {
		if v := getenv(k); v != "" {
			r, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("collectives/nccl: bad %s=%q", k, v)
			}
			lr = r
			break
		}
	}
	if lr == 0 {
		return 0, nil
	}
	n, err := cuda.DeviceCount()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, cuda.ErrUnavailable
	}
	return lr % n, nil
}

// New returns rank's communicator of an NCCL world of size ranks on dev;
// id is rank 0's ncclUniqueId, shared with ExchangeTCP or ExchangeComm
// (NewFromComm does both steps). It blocks until every rank has joined.
func New(dev *cudatensor.Device, rank, size int, id []byte) (collectives.Comm, error) {
	b, err := newBackend(dev, rank, size, id)
	if err != nil {
		return nil, err
	}
	return collectives.New(b), nil
}

// NewFromComm bootstraps an NCCL communicator with the ranks of boot (for
// example the MPI world from collectives.Init): rank 0 creates the id and
// broadcasts it over boot; each rank uses dev.
func NewFromComm(ctx context.Context, boot collectives.Comm, dev *cudatensor.Device) (collectives.Comm, error) {
	var id []byte
	var idErr error
	if boot.Rank() == 0 {
		uid, err := cnccl.GetUniqueID()
		if err != nil {
			// The others must not wait for an id that never comes: send
			// zeros and fail; they fail in InitRank or at their deadline.
			idErr = MapError(0, collectives.KindBroadcast, err)
			uid = cnccl.UniqueID{}
		}
		id = uid[:]
	}
	id, err := ExchangeComm(ctx, boot, id)
	if err != nil {
		return nil, err
	}
	if idErr != nil {
		return nil, idErr
	}
	return New(dev, boot.Rank(), boot.Size(), id)
}

// backend is one rank of an NCCL communicator.
type backend struct {
	dev        *cudatensor.Device
	cd         *cuda.Device
	c          *cnccl.Comm
	rank, size int
	check      bool

	mu      sync.Mutex
	err     error
	abortCh chan struct{}
	closed  bool

	ev      *cuda.Event
	scratch cuda.DevicePtr // argcheck headers, barrier word
}

func newBackend(dev *cudatensor.Device, rank, size int, id []byte) (*backend, error) {
	if dev == nil || dev.CUDA() == nil {
		return nil, fmt.Errorf("%w: collectives/nccl: no CUDA device", collectives.ErrInvalid)
	}
	if len(id) != IDBytes {
		return nil, fmt.Errorf("%w: collectives/nccl: id of %d bytes", collectives.ErrInvalid, len(id))
	}
	var uid cnccl.UniqueID
	copy(uid[:], id)
	cd := dev.CUDA()
	c, err := cnccl.InitRank(cd, size, uid, rank)
	if err != nil {
		return nil, MapError(rank, collectives.KindSplit, err)
	}
	b := &backend{dev: dev, cd: cd, c: c, rank: rank, size: size, abortCh: make(chan struct{}),
		check: os.Getenv("TESSERA_NCCL_CHECK") != "0"}
	if b.ev, err = cd.NewEvent(false); err == nil {
		b.scratch, err = cd.Alloc(2*argcheck.Len*8, nil)
	}
	if err != nil {
		c.Destroy()
		return nil, MapError(rank, collectives.KindSplit, err)
	}
	return b, nil
}

func (b *backend) Name() string { return "nccl" }
func (b *backend) Rank() int    { return b.rank }
func (b *backend) Size() int    { return b.size }

// AcceptsDevice: tensors on this communicator's GPU go to NCCL directly.
func (b *backend) AcceptsDevice(dev tensor.Device) bool { return dev == tensor.Device(b.dev) }

func (b *backend) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Abort marks the communicator failed. The NCCL communicator itself is
// aborted (ncclCommAbort) by the goroutine that waits on it, or by Close.
func (b *backend) Abort(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = fmt.Errorf("%w: %w", collectives.ErrAborted, err)
		close(b.abortCh)
	}
}

func (b *backend) fail(err error) error {
	b.Abort(err)
	b.c.Abort() // unblocks peers' kernels on this rank's side
	return b.Err()
}

func (b *backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	failed := b.err != nil
	b.mu.Unlock()
	b.Abort(fmt.Errorf("rank %d closed its communicator", b.rank))
	b.ev.Destroy()
	b.cd.Free(b.scratch, nil)
	if failed {
		return b.c.Abort()
	}
	return b.c.Destroy()
}

// wait polls the work queued so far on the default stream (where package
// cudatensor queues its ops) until it is done, ctx ends, the communicator
// is aborted, or NCCL reports an asynchronous error.
func (b *backend) wait(ctx context.Context, k collectives.Kind) error {
	if err := b.ev.Record(nil); err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	sleep := time.Duration(0)
	for i := 0; ; i++ {
		done, err := b.ev.Done()
		if err != nil {
			return b.fail(MapError(b.rank, k, err))
		}
		if done {
			return nil
		}
		if err := b.c.AsyncError(); err != nil {
			return b.fail(MapError(b.rank, k, err))
		}
		select {
		case <-ctx.Done():
			return b.fail(fmt.Errorf("rank %d: %s: %w", b.rank, k, ctx.Err()))
		case <-b.abortCh:
			return b.fail(b.Err())
		default:
		}
		if i < 100 {
			runtime.Gosched()
			continue
		}
		sleep = min(max(sleep*2, 10*time.Microsecond), time.Millisecond)
		time.Sleep(sleep)
	}
}

// devBuf is a buffer as NCCL sees it: the tensor's device memory, or a
// device copy of a host buffer.
type devBuf struct {
	p    cuda.DevicePtr
	host []byte // non-nil when staged: copy back into it after the call
	keep *tensor.Tensor
}

func (b *backend) devBuf(x collectives.Buffer, in bool) (devBuf, error) {
	n := int64(x.Count * x.DType.Size())
	if x.Host == nil {
		if x.Tensor == nil || n == 0 {
			return devBuf{}, nil
		}
		st, ok := x.Tensor.Storage().(*cudatensor.Storage)
		if !ok {
			return devBuf{}, fmt.Errorf("%w: collectives/nccl: a %s tensor", collectives.ErrInvalid, x.Tensor.Device().Name())
		}
		return devBuf{p: st.Ptr().Add(int64(x.Tensor.Offset()) * int64(x.DType.Size())), keep: x.Tensor}, nil
	}
	if n == 0 {
		return devBuf{host: x.Host}, nil
	}
	p, err := b.cd.Alloc(n, nil)
	if err != nil {
		return devBuf{}, err
	}
	if in {
		if err := b.cd.MemcpyHtoD(p, x.Host); err != nil {
			b.cd.Free(p, nil)
			return devBuf{}, err
		}
	}
	return devBuf{p: p, host: x.Host}, nil
}

// finish copies a staged output back to the host (out) and frees staging.
func (b *backend) finish(d devBuf, out bool) error {
	runtime.KeepAlive(d.keep)
	if d.host == nil || d.p == 0 {
		return nil
	}
	var err error
	if out {
		err = b.cd.MemcpyDtoH(d.host, d.p)
	}
	b.cd.Free(d.p, nil)
	return err
}

// agree runs the argument check (package argcheck): one small all-reduce
// of the headers; the all-gathers that name a mismatch only when the ranks
// disagree.
func (b *backend) agree(ctx context.Context, k collectives.Kind, c argcheck.Call) error {
	if !b.check || b.size == 1 {
		return nil
	}
	toDev := func(p cuda.DevicePtr, w []int64) error {
		raw := make([]byte, len(w)*8)
		for i, v := range w {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
		return b.cd.MemcpyHtoD(p, raw)
	}
	fromDev := func(w []int64, p cuda.DevicePtr) error {
		raw := make([]byte, len(w)*8)
		if err := b.cd.MemcpyDtoH(raw, p); err != nil {
			return err
		}
		for i := range w {
			w[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return nil
	}
	return argcheck.Agree(k, b.size, c, argcheck.Exchange{
		MaxReduce: func(w []int64) error {
			if err := toDev(b.scratch, w); err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			if err := b.c.AllReduce(b.scratch, b.scratch, len(w), cnccl.Int64, cnccl.Max, nil); err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			if err := b.wait(ctx, k); err != nil {
				return err
			}
			if err := fromDev(w, b.scratch); err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			return nil
		},
		Gather: func(dst, src []int64) error {
			sp, err := b.cd.Alloc(int64(len(src)*8), nil)
			if err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			defer b.cd.Free(sp, nil)
			dp, err := b.cd.Alloc(int64(len(dst)*8), nil)
			if err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			defer b.cd.Free(dp, nil)
			if err := toDev(sp, src); err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			if err := b.c.AllGather(sp, dp, len(src), cnccl.Int64, nil); err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			if err := b.wait(ctx, k); err != nil {
				return err
			}
			if err := fromDev(dst, dp); err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			return nil
		},
	})
}

// run is the common path of one collective: check the arguments, stage,
// launch, wait, copy back.
func (b *backend) run(ctx context.Context, k collectives.Kind, h argcheck.Call,
	in, out []collectives.Buffer, outIsIn bool, launch func(ins, outs []cuda.DevicePtr) error) error {
	if err := b.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return b.fail(fmt.Errorf("rank %d: %s: %w", b.rank, k, err))
	}
	if err := b.agree(ctx, k, h); err != nil {
		return err
	}
	var staged []devBuf
	defer func() {
		for _, d := range staged {
			b.finish(d, false) // frees anything left on an error path
		}
	}()
	ins := make([]cuda.DevicePtr, len(in))
	outs := make([]cuda.DevicePtr, len(out))
	for i, x := range in {
		d, err := b.devBuf(x, true)
		if err != nil {
			return b.fail(MapError(b.rank, k, err))
		}
		staged = append(staged, d)
		ins[i] = d.p
	}
	var outBufs []devBuf
	for i, x := range out {
		var d devBuf
		if outIsIn {
			d = staged[i]
		} else {
			var err error
			if d, err = b.devBuf(x, false); err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
			staged = append(staged, d)
		}
		outs[i] = d.p
		outBufs = append(outBufs, d)
	}
	if err := launch(ins, outs); err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	if err := b.wait(ctx, k); err != nil {
		return err
	}
	for _, d := range outBufs {
		if d.host != nil && d.p != 0 {
			if err := b.cd.MemcpyDtoH(d.host, d.p); err != nil {
				return b.fail(MapError(b.rank, k, err))
			}
		}
	}
	return nil
}

func none() collectives.Buffer { return collectives.Buffer{} }

func (b *backend) types(x collectives.Buffer, op collectives.RedOp, reduce bool) (cnccl.DataType, cnccl.RedOp, error) {
	dt, err := DataType(x.DType)
	if err != nil || !reduce {
		return dt, 0, err
	}
	rop, err := RedOp(op, x.DType)
	return dt, rop, err
}

func (b *backend) AllReduce(ctx context.Context, x collectives.Buffer, op collectives.RedOp) error {
	k := collectives.KindAllReduce
	dt, rop, err := b.types(x, op, true)
	if err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	return b.run(ctx, k, argcheck.Describe(k, op, 0, x, none()), []collectives.Buffer{x}, []collectives.Buffer{x}, true,
		func(in, out []cuda.DevicePtr) error {
			if x.Count == 0 {
				return nil
			}
			return b.c.AllReduce(in[0], out[0], x.Count, dt, rop, nil)
		})
}

func (b *backend) Broadcast(ctx context.Context, x collectives.Buffer, root int) error {
	k := collectives.KindBroadcast
	dt, _, err := b.types(x, 0, false)
	if err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	return b.run(ctx, k, argcheck.Describe(k, 0, root, x, none()), []collectives.Buffer{x}, []collectives.Buffer{x}, true,
		func(in, out []cuda.DevicePtr) error {
			if x.Count == 0 {
				return nil
			}
			return b.c.Broadcast(in[0], out[0], x.Count, dt, root, nil)
		})
}

func (b *backend) Reduce(ctx context.Context, x collectives.Buffer, op collectives.RedOp, root int) error {
	k := collectives.KindReduce
	dt, rop, err := b.types(x, op, true)
	if err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	return b.run(ctx, k, argcheck.Describe(k, op, root, x, none()), []collectives.Buffer{x}, []collectives.Buffer{x}, true,
		func(in, out []cuda.DevicePtr) error {
			if x.Count == 0 {
				return nil
			}
			// Non-roots' recv buffer is not written by NCCL.
			return b.c.Reduce(in[0], out[0], x.Count, dt, rop, root, nil)
		})
}

func (b *backend) AllGather(ctx context.Context, dst, src collectives.Buffer) error {
	k := collectives.KindAllGather
	dt, _, err := b.types(src, 0, false)
	if err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	return b.run(ctx, k, argcheck.Describe(k, 0, 0, dst, src), []collectives.Buffer{src}, []collectives.Buffer{dst}, false,
		func(in, out []cuda.DevicePtr) error {
			if src.Count == 0 {
				return nil
			}
			return b.c.AllGather(in[0], out[0], src.Count, dt, nil)
		})
}

func (b *backend) ReduceScatter(ctx context.Context, dst, src collectives.Buffer, op collectives.RedOp) error {
	k := collectives.KindReduceScatter
	dt, rop, err := b.types(dst, op, true)
	if err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	return b.run(ctx, k, argcheck.Describe(k, op, 0, dst, src), []collectives.Buffer{src}, []collectives.Buffer{dst}, false,
		func(in, out []cuda.DevicePtr) error {
			if dst.Count == 0 {
				return nil
			}
			return b.c.ReduceScatter(in[0], out[0], dst.Count, dt, rop, nil)
		})
}

// AllToAll is a group of sends and receives (NCCL has no all-to-all).
func (b *backend) AllToAll(ctx context.Context, dst, src collectives.Buffer) error {
	k := collectives.KindAllToAll
	dt, _, err := b.types(src, 0, false)
	if err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	blk := src.Count / b.size
	bytes := int64(blk * src.DType.Size())
	return b.run(ctx, k, argcheck.Describe(k, 0, 0, dst, src), []collectives.Buffer{src}, []collectives.Buffer{dst}, false,
		func(in, out []cuda.DevicePtr) error {
			if blk == 0 {
				return nil
			}
			return cnccl.Group(func() error {
				for p := range b.size {
					if err := b.c.Send(in[0].Add(int64(p)*bytes), blk, dt, p, nil); err != nil {
						return err
					}
					if err := b.c.Recv(out[0].Add(int64(p)*bytes), blk, dt, p, nil); err != nil {
						return err
					}
				}
				return nil
			})
		})
}

func (b *backend) Barrier(ctx context.Context) error {
	k := collectives.KindBarrier
	if err := b.Err(); err != nil {
		return err
	}
	if err := b.c.AllReduce(b.scratch, b.scratch, 1, cnccl.Int32, cnccl.Max, nil); err != nil {
		return b.fail(MapError(b.rank, k, err))
	}
	return b.wait(ctx, k)
}

// SendRecv launches every send and receive in one NCCL group. NCCL does
// not check that a receive matches its send's size: a mismatch is
// undefined behaviour, as in NCCL.
func (b *backend) SendRecv(ctx context.Context, sends, recvs []collectives.PeerBuffer) error {
	k := collectives.KindSend
	var in, out []collectives.Buffer
	for _, s := range sends {
		in = append(in, s.Buf)
	}
	for _, r := range recvs {
		out = append(out, r.Buf)
	}
	var h argcheck.Call // point-to-point: nothing to agree on collectively
	saved := b.check
	b.check = false
	defer func() { b.check = saved }()
	return b.run(ctx, k, h, in, out, false, func(ip, op []cuda.DevicePtr) error {
		return cnccl.Group(func() error {
			for i, s := range sends {
				dt, err := DataType(s.Buf.DType)
				if err != nil {
					return err
				}
				if s.Buf.Count > 0 {
					if err := b.c.Send(ip[i], s.Buf.Count, dt, s.Peer, nil); err != nil {
						return err
					}
				}
			}
			for i, r := range recvs {
				dt, err := DataType(r.Buf.DType)
				if err != nil {
					return err
				}
				if r.Buf.Count > 0 {
					if err := b.c.Recv(op[i], r.Buf.Count, dt, r.Peer, nil); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
}

// Split all-gathers (color, key) over this communicator, lets the first
// member of each color create an id, all-gathers the ids and joins the
// new communicator with its group's id.
func (b *backend) Split(ctx context.Context, color, key int) (collectives.Backend, error) {
	k := collectives.KindSplit
	if err := b.Err(); err != nil {
		return nil, err
	}
	mine := []int64{int64(color), int64(key)}
	all := make([]int64, 2*b.size)
	if err := b.AllGather(ctx, i64Buf(all), i64Buf(mine)); err != nil {
		return nil, err
	}
	var members []int
	for r := range b.size {
		if color >= 0 && all[2*r] == int64(color) {
			members = append(members, r)
		}
	}
	slices.SortStableFunc(members, func(x, y int) int { return int(all[2*x+1] - all[2*y+1]) })
	ids := make([]int64, b.size*IDBytes/8)
	myID := make([]int64, IDBytes/8)
	if len(members) > 0 && members[0] == b.rank {
		uid, err := cnccl.GetUniqueID()
		if err != nil {
			return nil, b.fail(MapError(b.rank, k, err))
		}
		for i := range myID {
			myID[i] = int64(binary.LittleEndian.Uint64(uid[8*i:]))
		}
	}
	if err := b.AllGather(ctx, i64Buf(ids), i64Buf(myID)); err != nil {
		return nil, err
	}
	if color < 0 {
		return nil, nil
	}
	leader := members[0]
	id := make([]byte, IDBytes)
	for i := range IDBytes / 8 {
		binary.LittleEndian.PutUint64(id[8*i:], uint64(ids[leader*IDBytes/8+i]))
	}
	sub, err := newBackend(b.dev, slices.Index(members, b.rank), len(members), id)
	if err != nil {
		return nil, b.fail(err)
	}
	return sub, nil
}

// i64Buf is a host Buffer aliasing x.
func i64Buf(x []int64) collectives.Buffer {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 8*len(x))
	return collectives.Buffer{DType: tensor.Int64, Count: len(x), Shape: tensor.Shape{len(x)}, Host: raw}
}
