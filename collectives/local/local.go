package local

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/internal/kern"
	"github.com/tessera-ml/tessera/tensor"
)

// Algorithm selects how AllReduce moves data.
type Algorithm uint8

// The AllReduce algorithms. Both give bit-identical results (the canonical
// order), so the choice only affects speed.
const (
	// Auto picks with AutoAlgorithm.
	Auto Algorithm = iota
	// Ring is reduce-scatter + all-gather: rank r owns slice r of the
	// buffer; it folds that slice of every rank's buffer block by block in
	// cache and writes each finished block to every rank (the all-gather is
	// fused into the reduce-scatter, so each input byte is read once and
	// each output byte written once). This is the shared-memory form of the
	// ring algorithm: with every peer's buffer addressable, the n-1
	// neighbour hops of a ring collapse into direct reads, and ranks visit
	// peers in ring order (r+1, r+2, ...) to spread the traffic.
	Ring
	// Direct has every rank fold the whole buffer of every rank into a
	// private scratch buffer and copy it into its own tensor after the
	// others have read it: more reads, no shared writes and no partitioning,
	// best for small messages. It is the one-level (flat) tree.
	Direct
	// Tree reduces up the canonical binary tree: at stage h the first
	// rank of every subtree of height h folds its right half's partial
	// result into its own, block by block; after the last stage every rank
	// copies rank 0's result. A stage is a barrier, so it takes
	// ceil(log2 n)+1 synchronisations and the work of stage h falls on
	// n/2^h ranks: the structure a network implementation uses, but in
	// shared memory it loses to Ring at every size measured (see
	// AutoAlgorithm), so Auto never picks it.
	Tree
)

var algoNames = [...]string{"auto", "ring", "direct", "tree"}

func (a Algorithm) String() string {
	if int(a) < len(algoNames) {
		return algoNames[a]
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// DefaultDirectMax is the largest AllReduce, in bytes, that Auto runs with
// Direct on two ranks.
const DefaultDirectMax = 2 << 10

// AutoAlgorithm is Auto's choice for an all-reduce of nbytes over n ranks
// with the given direct threshold: Direct for two ranks up to directMax
// bytes, Ring otherwise. Measured with go run ./bench/collectives -algo
// {direct,tree,ring} (bench/results/collectives.md): Direct wins only on
// two ranks below a few KiB, by about 0.5 µs; with 4 and 8 ranks Ring is as
// fast at 8 bytes and 2-5x faster from 8 KiB; Tree is never fastest.
func AutoAlgorithm(n, nbytes, directMax int) Algorithm {
	if n <= 2 && nbytes <= directMax {
		return Direct
	}
	return Ring
}

type config struct {
	algo      Algorithm
	directMax int
}

// Option configures a local communicator.
type Option func(*config)

// WithAlgorithm forces an AllReduce algorithm.
func WithAlgorithm(a Algorithm) Option { return func(c *config) { c.algo = a } }

// WithDirectMax sets the largest message Auto sends with Direct (on two ranks).
func WithDirectMax(bytes int) Option { return func(c *config) { c.directMax = bytes } }

// New returns the n communicators of an in-process world, one per rank.
// Each must be used from its own goroutine (collectives block until every
// rank has called them). Close every one when done.
func New(n int, opts ...Option) ([]collectives.Comm, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: local.New: %d ranks", collectives.ErrInvalid, n)
	}
	cfg := config{directMax: DefaultDirectMax}
	for _, o := range opts {
		o(&cfg)
	}
	w := newWorld(n, cfg)
	comms := make([]collectives.Comm, n)
	for r := range comms {
		comms[r] = collectives.New(newRank(w, r))
	}
	return comms, nil
}

// Run runs fn on n ranks, each on its own goroutine with its own
// communicator, and returns the ranks' errors joined (each prefixed with
// its rank). When a rank returns an error or panics, the communicator is
// aborted, so every peer's pending and later calls fail instead of
// hanging; when a rank returns, its communicator is closed, so peers
// waiting for it fail too. Run returns after every rank has returned.
func Run(ctx context.Context, n int, fn func(ctx context.Context, c collectives.Comm) error, opts ...Option) error {
	comms, err := New(n, opts...)
	if err != nil {
		return err
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs[r] = fmt.Errorf("rank %d: panic: %v\n%s", r, p, debug.Stack())
					c.Abort(errs[r])
				}
				c.Close()
			}()
			if err := fn(ctx, c); err != nil {
				errs[r] = fmt.Errorf("rank %d: %w", r, err)
				c.Abort(errs[r])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rank is one rank's Backend.
type rank struct {
	w      *world
	r      int
	red    map[[2]uint8]kern.Reducer
	red2   map[[2]uint8]kern.Reducer // two-input reducers on AccType, for Tree
	acc    []byte                    // Tree's partial result
	srcs   [][]byte
	dsts   [][]byte
	one    [][]byte
	direct []byte
	nsplit int
	subs   []*rank
	closed bool
}

func newRank(w *world, r int) *rank {
	return &rank{w: w, r: r, red: map[[2]uint8]kern.Reducer{}, red2: map[[2]uint8]kern.Reducer{},
		srcs: make([][]byte, w.n), dsts: make([][]byte, w.n), one: make([][]byte, 1)}
}

func (p *rank) Name() string { return "local" }
func (p *rank) Rank() int    { return p.r }
func (p *rank) Size() int    { return p.w.n }
func (p *rank) Err() error   { return p.w.err() }

func (p *rank) Abort(err error) { p.w.abort(err) }

func (p *rank) Close() error {
	if !p.closed {
		p.closed = true
		for _, s := range p.subs {
			s.Close()
		}
		p.w.abortWith(fmt.Errorf("rank %d closed its communicator", p.r), false)
	}
	return nil
}

func (p *rank) reducer(dt tensor.DType, op collectives.RedOp) kern.Reducer {
	k := [2]uint8{uint8(dt), uint8(op)}
	r, ok := p.red[k]
	if !ok {
		r = kern.New(dt, kern.Op(op), p.w.n)
		p.red[k] = r
	}
	return r
}

// collective posts s, waits for every rank, checks that the slots agree,
// runs work, waits for every rank again (so no buffer is released while a
// peer reads it) and then runs after.
func (p *rank) collective(ctx context.Context, s slot, work, after func()) error {
	w := p.w
	if err := w.err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		w.abort(fmt.Errorf("rank %d: %s: %w", p.r, s.kind, err))
		return w.err()
	}
	w.slots[p.r] = s
	if err := w.barrier(ctx, p.r, s.kind); err != nil {
		return err
	}
	err := w.check()
	if err == nil && work != nil {
		work()
	}
	if e := w.barrier(ctx, p.r, s.kind); e != nil {
		return e
	}
	if err == nil && after != nil {
		after()
	}
	return err
}

// chunk returns owner o's element range of a count-element buffer.
func chunk(count, n, o int) (lo, hi int) {
	c := (count + n - 1) / n
	c = (c + 15) &^ 15 // 64-byte aligned slices for 4-byte types
	lo = min(o*c, count)
	hi = min(lo+c, count)
	return lo, hi
}

// foldRange folds elements [lo, hi) of p.srcs into p.dsts block by block.
func foldRange(red kern.Reducer, srcs, dsts [][]byte, lo, hi int) {
	for i := lo; i < hi; i += kern.BlockElems {
		red.Block(srcs, dsts, i, min(kern.BlockElems, hi-i))
	}
}

func (p *rank) AllReduce(ctx context.Context, b collectives.Buffer, op collectives.RedOp) error {
	w := p.w
	algo := w.cfg.algo
	nbytes := b.Count * b.DType.Size()
	if algo == Auto {
		algo = AutoAlgorithm(w.n, nbytes, w.cfg.directMax)
	}
	if w.n == 1 {
		algo = Ring
	}
	s := slot{kind: collectives.KindAllReduce, a: b, op: op}
	var work, after func()
	red := p.reducer(b.DType, op)
	switch algo {
	case Tree:
		return p.treeAllReduce(ctx, b, op)
	case Direct:
		if cap(p.direct) < nbytes {
			p.direct = make([]byte, nbytes)
		}
		scratch := p.direct[:nbytes]
		work = func() {
			for i := range w.n {
				p.srcs[i] = w.slots[i].a.Host
			}
			p.one[0] = scratch
			foldRange(red, p.srcs, p.one, 0, b.Count)
		}
		after = func() { copy(b.Host, scratch) }
	default:
		work = func() {
			for i := range w.n {
				p.srcs[i] = w.slots[i].a.Host
			}
			for i := range w.n {
				p.dsts[i] = w.slots[(p.r+1+i)%w.n].a.Host
			}
			lo, hi := chunk(b.Count, w.n, p.r)
			foldRange(red, p.srcs, p.dsts, lo, hi)
		}
	}
	return p.collective(ctx, s, work, after)
}

// treeAllReduce is AllReduce with the Tree algorithm.
func (p *rank) treeAllReduce(ctx context.Context, b collectives.Buffer, op collectives.RedOp) error {
	w := p.w
	acc := kern.AccType(b.DType)
	nb := b.Count * acc.Size()
	if cap(p.acc) < nb {
		p.acc = make([]byte, nb)
	}
	mine := p.acc[:nb]
	op2 := op
	if op == collectives.Avg {
		op2 = collectives.Sum // divide once at the end
	}
	k := [2]uint8{uint8(acc), uint8(op2)}
	if b.DType == tensor.Bool {
		k[0] = uint8(tensor.Bool)
	}
	red, ok := p.red2[k]
	if !ok {
		red = kern.New(tensor.DType(k[0]), kern.Op(op2), 2)
		p.red2[k] = red
	}
	var stageErr error
	s := slot{kind: collectives.KindAllReduce, a: b, op: op, scratch: mine}
	err := p.collective(ctx, s, func() {
		for i := 0; i < b.Count; i += kern.BlockElems {
			kern.Widen(b.DType, mine, b.Host, i, min(kern.BlockElems, b.Count-i))
		}
		pair := make([][]byte, 2)
		for h := 1; h <= treeHeight(0, w.n); h++ {
			if stageErr = w.barrier(ctx, p.r, collectives.KindAllReduce); stageErr != nil {
				return
			}
			if mid, ok := treeMerge(0, w.n, p.r, h); ok {
				pair[0], pair[1] = mine, w.slots[mid].scratch
				foldRange(red, pair, pair[:1], 0, b.Count)
			}
		}
		if p.r == 0 && op == collectives.Avg && w.n > 1 {
			kern.Divide(acc, mine, w.n)
		}
		if stageErr = w.barrier(ctx, p.r, collectives.KindAllReduce); stageErr != nil {
			return
		}
		root := w.slots[0].scratch
		for i := 0; i < b.Count; i += kern.BlockElems {
			kern.Narrow(b.DType, b.Host, root, i, min(kern.BlockElems, b.Count-i))
		}
	}, nil)
	if err == nil {
		err = stageErr
	}
	return err
}

// treeHeight is the height of the canonical tree over ranks [lo, hi).
func treeHeight(lo, hi int) int {
	if hi-lo <= 1 {
		return 0
	}
	mid := lo + (hi-lo+1)/2
	return 1 + max(treeHeight(lo, mid), treeHeight(mid, hi))
}

// treeMerge reports whether rank r leads a subtree of height h in the
// canonical tree over [lo, hi), and the first rank of its right half.
func treeMerge(lo, hi, r, h int) (mid int, ok bool) {
	if hi-lo <= 1 {
		return 0, false
	}
	mid = lo + (hi-lo+1)/2
	if r == lo && treeHeight(lo, hi) == h {
		return mid, true
	}
	if r < mid {
		return treeMerge(lo, mid, r, h)
	}
	return treeMerge(mid, hi, r, h)
}

func (p *rank) Reduce(ctx context.Context, b collectives.Buffer, op collectives.RedOp, root int) error {
	w := p.w
	red := p.reducer(b.DType, op)
	return p.collective(ctx, slot{kind: collectives.KindReduce, a: b, op: op, root: root}, func() {
		for i := range w.n {
			p.srcs[i] = w.slots[i].a.Host
		}
		p.one[0] = w.slots[root].a.Host
		lo, hi := chunk(b.Count, w.n, p.r)
		foldRange(red, p.srcs, p.one, lo, hi)
	}, nil)
}

func (p *rank) Broadcast(ctx context.Context, b collectives.Buffer, root int) error {
	w := p.w
	return p.collective(ctx, slot{kind: collectives.KindBroadcast, a: b, root: root}, func() {
		if p.r != root {
			copy(b.Host, w.slots[root].a.Host)
		}
	}, nil)
}

func (p *rank) AllGather(ctx context.Context, dst, src collectives.Buffer) error {
	w := p.w
	return p.collective(ctx, slot{kind: collectives.KindAllGather, a: dst, b: src}, func() {
		nb := len(src.Host)
		for i := range w.n {
			k := (p.r + i) % w.n
			copy(dst.Host[k*nb:(k+1)*nb], w.slots[k].b.Host)
		}
	}, nil)
}

func (p *rank) ReduceScatter(ctx context.Context, dst, src collectives.Buffer, op collectives.RedOp) error {
	w := p.w
	red := p.reducer(dst.DType, op)
	return p.collective(ctx, slot{kind: collectives.KindReduceScatter, a: dst, b: src, op: op}, func() {
		nb := len(dst.Host)
		for i := range w.n {
			p.srcs[i] = w.slots[i].b.Host[p.r*nb : (p.r+1)*nb]
		}
		p.one[0] = dst.Host
		foldRange(red, p.srcs, p.one, 0, dst.Count)
	}, nil)
}

func (p *rank) AllToAll(ctx context.Context, dst, src collectives.Buffer) error {
	w := p.w
	return p.collective(ctx, slot{kind: collectives.KindAllToAll, a: dst, b: src}, func() {
		nb := len(src.Host) / w.n
		for i := range w.n {
			k := (p.r + i) % w.n
			copy(dst.Host[k*nb:(k+1)*nb], w.slots[k].b.Host[p.r*nb:(p.r+1)*nb])
		}
	}, nil)
}

func (p *rank) Barrier(ctx context.Context) error {
	return p.collective(ctx, slot{kind: collectives.KindBarrier}, nil, nil)
}

func (p *rank) Split(ctx context.Context, color, key int) (collectives.Backend, error) {
	w := p.w
	seq := p.nsplit
	p.nsplit++
	var sub collectives.Backend
	err := p.collective(ctx, slot{kind: collectives.KindSplit, color: color, key: key}, func() {
		if color < 0 {
			return
		}
		var members []int
		for i := range w.n {
			if w.slots[i].color == color {
				members = append(members, i)
			}
		}
		slices.SortStableFunc(members, func(a, b int) int { return w.slots[a].key - w.slots[b].key })
		myRank := slices.Index(members, p.r)
		w.splitMu.Lock()
		k := [2]int{seq, color}
		ps := w.splits[k]
		if ps == nil {
			ps = &pendingSplit{w: newWorld(len(members), w.cfg), left: len(members)}
			w.splits[k] = ps
			w.children = append(w.children, ps.w)
		}
		ps.left--
		if ps.left == 0 {
			delete(w.splits, k)
		}
		w.splitMu.Unlock()
		sr := newRank(ps.w, myRank)
		p.subs = append(p.subs, sr)
		sub = sr
	}, nil)
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// SendRecv posts every send, then takes every receive in order, then waits
// for the sends to be taken. Sends to one peer arrive in order.
func (p *rank) SendRecv(ctx context.Context, sends, recvs []collectives.PeerBuffer) error {
	w := p.w
	if err := w.err(); err != nil {
		return err
	}
	fail := func(k collectives.Kind, err error) error {
		w.abort(fmt.Errorf("rank %d: %s: %w", p.r, k, err))
		return w.err()
	}
	posted := make([]*message, 0, len(sends))
	// On any early return, withdraw what was not taken and wait for what was.
	defer func() {
		for _, m := range posted {
			if !m.state.CompareAndSwap(0, 2) {
				<-m.done
			}
		}
	}()
	for _, s := range sends {
		m := &message{buf: s.Buf, from: p.r, done: make(chan struct{})}
		select {
		case w.mail[p.r][s.Peer] <- m:
			posted = append(posted, m)
		case <-w.abortCh:
			return w.err()
		case <-ctx.Done():
			return fail(collectives.KindSend, fmt.Errorf("%w sending to rank %d", ctx.Err(), s.Peer))
		}
	}
	var firstErr error
	for _, rv := range recvs {
		var m *message
		select {
		case m = <-w.mail[rv.Peer][p.r]:
		case <-w.abortCh:
			return w.err()
		case <-ctx.Done():
			return fail(collectives.KindRecv, fmt.Errorf("%w receiving from rank %d", ctx.Err(), rv.Peer))
		}
		if !m.state.CompareAndSwap(0, 1) {
			return w.err() // the sender withdrew: the world is aborted
		}
		if !collectives.SameBuffer(m.buf, rv.Buf) {
			m.err = fmt.Errorf("%w: Send/Recv: rank %d sent %s but rank %d receives %s",
				collectives.ErrMismatch, m.from, m.buf.Desc(), p.r, rv.Buf.Desc())
			if firstErr == nil {
				firstErr = m.err
			}
		} else {
			copy(rv.Buf.Host, m.buf.Host)
		}
		close(m.done)
	}
	for i, m := range posted {
		select {
		case <-m.done:
		case <-w.abortCh:
			posted = posted[i:]
			return w.err()
		case <-ctx.Done():
			posted = posted[i:]
			return fail(collectives.KindSend, fmt.Errorf("%w waiting for rank %d to receive", ctx.Err(), sends[i].Peer))
		}
		if m.err != nil && firstErr == nil {
			firstErr = m.err
		}
	}
	posted = nil
	return firstErr
}
