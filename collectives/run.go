package collectives

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/tensor"
)

// staged is a tensor argument made ready for a backend.
type staged struct {
	buf  Buffer
	back func() // copies a staged output back into the caller's tensor
}

func hostBytes(x *tensor.Tensor) []byte {
	n := x.NumElements()
	if n == 0 {
		return []byte{}
	}
	sz := x.DType().Size()
	all := tensor.HostBytes(x.Storage())
	return all[x.Offset()*sz : (x.Offset()+n)*sz]
}

// stage returns t as a contiguous buffer the backend can address. out says
// whether the call writes t (so a staged copy must be copied back).
func (c *comm) stage(what string, t *tensor.Tensor, out bool) (s staged, err error) {
	if t == nil {
		return s, fmt.Errorf("%w: %s is nil", ErrInvalid, what)
	}
	err = tensor.Try(func() {
		s.buf = Buffer{DType: t.DType(), Count: t.NumElements(), Shape: t.Shape()}
		dev := t.Device()
		if dev != tensor.CPU {
			if db, ok := c.b.(DeviceBackend); ok && db.AcceptsDevice(dev) {
				x := t.Contiguous()
				s.buf.Tensor = x
				if out && x != t {
					s.back = func() { t.CopyFrom(x) }
				}
				return
			}
			h := t.To(tensor.CPU)
			s.buf.Tensor, s.buf.Host = h, hostBytes(h)
			if out {
				s.back = func() { t.CopyFrom(h.To(dev)) }
			}
			return
		}
		x := t.Contiguous()
		s.buf.Tensor, s.buf.Host = x, hostBytes(x)
		if out && x != t {
			s.back = func() { t.CopyFrom(x) }
		}
	})
	if err != nil {
		err = fmt.Errorf("%w: staging %s: %v", ErrInvalid, what, err)
	}
	return s, err
}

func (s staged) finish() error {
	if s.back == nil {
		return nil
	}
	if err := tensor.Try(s.back); err != nil {
		return fmt.Errorf("collectives: copying the result back: %w", err)
	}
	return nil
}

// fail aborts the communicator with a local error so that no peer waits
// for this rank, and returns it.
func (c *comm) fail(k Kind, err error) error {
	err = fmt.Errorf("rank %d: %s: %w", c.Rank(), k, err)
	c.b.Abort(err)
	return err
}

func (c *comm) checkOp(op RedOp, dt tensor.DType) error {
	if op >= numRedOps {
		return fmt.Errorf("%w: unknown reduction %v", ErrInvalid, op)
	}
	if op == Avg && dt == tensor.Bool {
		return fmt.Errorf("%w: avg of bool tensors", ErrInvalid)
	}
	return nil
}

func (c *comm) checkRank(what string, r int) error {
	if r < 0 || r >= c.Size() {
		return fmt.Errorf("%w: %s %d out of range [0, %d)", ErrInvalid, what, r, c.Size())
	}
	return nil
}

func (c *comm) run(ctx context.Context, calls []Call) error {
	if err := c.b.Err(); err != nil {
		return err
	}
	for i := 0; i < len(calls); {
		cl := calls[i]
		var err error
		switch {
		case cl.kind == KindSend || cl.kind == KindRecv:
			j := i + 1
			for j < len(calls) && (calls[j].kind == KindSend || calls[j].kind == KindRecv) {
				j++
			}
			err = c.runP2P(ctx, calls[i:j])
			i = j
		case c.fusible(cl):
			j, total := i+1, cl.t.NumElements()*cl.t.DType().Size()
			for j < len(calls) && c.fusible(calls[j]) && calls[j].op == cl.op && calls[j].t.DType() == cl.t.DType() {
				b := calls[j].t.NumElements() * calls[j].t.DType().Size()
				if total+b > FuseBucket {
					break
				}
				total += b
				j++
			}
			if j-i > 1 {
				err = c.runFused(ctx, calls[i:j], total)
			} else {
				err = c.runOne(ctx, cl)
			}
			i = j
		default:
			err = c.runOne(ctx, cl)
			i++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *comm) fusible(cl Call) bool {
	if cl.kind != KindAllReduce || cl.t == nil || cl.op >= numRedOps {
		return false
	}
	if cl.op == Avg && cl.t.DType() == tensor.Bool {
		return false
	}
	// Fusion packs host bytes; tensors a device backend takes directly
	// (NCCL) have none, so they go one by one.
	if dev := cl.t.Device(); dev != tensor.CPU {
		if db, ok := c.b.(DeviceBackend); ok && db.AcceptsDevice(dev) {
			return false
		}
	}
	return cl.t.NumElements()*cl.t.DType().Size() <= FuseLimit
}

func (c *comm) runFused(ctx context.Context, calls []Call, total int) error {
	if cap(c.fused) < total {
		c.fused = make([]byte, total)
	}
	buf := c.fused[:total]
	ss := make([]staged, len(calls))
	parts := make([]tensor.Shape, len(calls))
	off := 0
	for i, cl := range calls {
		s, err := c.stage("tensor", cl.t, true)
		if err != nil {
			return c.fail(KindAllReduce, err)
		}
		ss[i] = s
		parts[i] = s.buf.Shape
		off += copy(buf[off:], s.buf.Host)
	}
	dt := calls[0].t.DType()
	n := total / dt.Size()
	// Parts is the group's signature: the peers' checks compare the fused
	// calls, not only the total.
	fb := Buffer{DType: dt, Count: n, Shape: tensor.Shape{n}, Parts: parts, Host: buf}
	if err := c.b.AllReduce(ctx, fb, calls[0].op); err != nil {
		return err
	}
	off = 0
	for _, s := range ss {
		off += copy(s.buf.Host, buf[off:])
		if err := s.finish(); err != nil {
			return c.fail(KindAllReduce, err)
		}
	}
	return nil
}

func (c *comm) runP2P(ctx context.Context, calls []Call) error {
	var sends, recvs []PeerBuffer
	var backs []staged
	for _, cl := range calls {
		if err := c.checkRank("peer", cl.root); err != nil {
			return c.fail(cl.kind, err)
		}
		if cl.kind == KindSend {
			s, err := c.stage("tensor", cl.src, false)
			if err != nil {
				return c.fail(cl.kind, err)
			}
			sends = append(sends, PeerBuffer{Peer: cl.root, Buf: s.buf})
		} else {
			s, err := c.stage("tensor", cl.t, true)
			if err != nil {
				return c.fail(cl.kind, err)
			}
			recvs = append(recvs, PeerBuffer{Peer: cl.root, Buf: s.buf})
			backs = append(backs, s)
		}
	}
	if err := c.b.SendRecv(ctx, sends, recvs); err != nil {
		return err
	}
	for _, s := range backs {
		if err := s.finish(); err != nil {
			return c.fail(KindRecv, err)
		}
	}
	return nil
}

func (c *comm) runOne(ctx context.Context, cl Call) error {
	k, size, rank := cl.kind, c.Size(), c.Rank()
	switch k {
	case KindBarrier:
		return c.b.Barrier(ctx)
	case KindAllReduce, KindBroadcast, KindReduce:
		if k == KindAllReduce || k == KindReduce {
			if cl.t == nil {
				return c.fail(k, fmt.Errorf("%w: tensor is nil", ErrInvalid))
			}
			if err := c.checkOp(cl.op, cl.t.DType()); err != nil {
				return c.fail(k, err)
			}
		}
		if k != KindAllReduce {
			if err := c.checkRank("root", cl.root); err != nil {
				return c.fail(k, err)
			}
		}
		out := k == KindAllReduce || (k == KindBroadcast && rank != cl.root) || (k == KindReduce && rank == cl.root)
		s, err := c.stage("tensor", cl.t, out)
		if err != nil {
			return c.fail(k, err)
		}
		switch k {
		case KindAllReduce:
			err = c.b.AllReduce(ctx, s.buf, cl.op)
		case KindBroadcast:
			err = c.b.Broadcast(ctx, s.buf, cl.root)
		default:
			err = c.b.Reduce(ctx, s.buf, cl.op, cl.root)
		}
		if err != nil {
			return err
		}
		if err := s.finish(); err != nil {
			return c.fail(k, err)
		}
		return nil
	case KindAllGather, KindReduceScatter, KindAllToAll:
		if cl.t == nil || cl.src == nil {
			return c.fail(k, fmt.Errorf("%w: dst or src is nil", ErrInvalid))
		}
		if cl.t.DType() != cl.src.DType() {
			return c.fail(k, fmt.Errorf("%w: dst is %s but src is %s", ErrInvalid, cl.t.DType(), cl.src.DType()))
		}
		nd, ns := cl.t.NumElements(), cl.src.NumElements()
		var bad bool
		switch k {
		case KindAllGather:
			bad = nd != size*ns
		case KindReduceScatter:
			bad = ns != size*nd
			if err := c.checkOp(cl.op, cl.t.DType()); err != nil {
				return c.fail(k, err)
			}
		default:
			bad = nd != ns || ns%size != 0
		}
		if bad {
			return c.fail(k, fmt.Errorf("%w: dst %s%v and src %s%v do not fit %d ranks",
				ErrInvalid, cl.t.DType(), cl.t.Shape(), cl.src.DType(), cl.src.Shape(), size))
		}
		src := cl.src
		if k == KindAllToAll && src.SharesStorage(cl.t) {
			if err := tensor.Try(func() { src = src.Clone() }); err != nil {
				return c.fail(k, err)
			}
		}
		sd, err := c.stage("dst", cl.t, true)
		if err != nil {
			return c.fail(k, err)
		}
		ss, err := c.stage("src", src, false)
		if err != nil {
			return c.fail(k, err)
		}
		switch k {
		case KindAllGather:
			err = c.b.AllGather(ctx, sd.buf, ss.buf)
		case KindReduceScatter:
			err = c.b.ReduceScatter(ctx, sd.buf, ss.buf, cl.op)
		default:
			err = c.b.AllToAll(ctx, sd.buf, ss.buf)
		}
		if err != nil {
			return err
		}
		if err := sd.finish(); err != nil {
			return c.fail(k, err)
		}
		return nil
	}
	return c.fail(k, fmt.Errorf("%w: unknown call", ErrInvalid))
}
