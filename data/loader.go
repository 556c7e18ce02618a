package data

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/tessera-ml/tessera/tensor"
)

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	// BatchSize is the number of samples per batch; it must be positive.
	BatchSize int
	// Shuffle orders each epoch's samples by Permutation of a seed derived
	// from Seed and the epoch; without it samples come in index order.
	Shuffle bool
	// Seed selects the shuffle. All ranks of a job must use the same Seed.
	Seed uint64
	// DropLast drops the last batch of an epoch when it is smaller than
	// BatchSize.
	DropLast bool

	// Rank and WorldSize shard the dataset like PyTorch's
	// DistributedSampler: rank r takes positions r, r+W, r+2W, ... of the
	// epoch's order. WorldSize 0 or 1 means no sharding.
	Rank, WorldSize int
	// DropUneven, with sharding, drops the tail of the epoch's order so that
	// every rank gets floor(N/W) samples. Without it the order is padded by
	// wrapping around to its start, so every rank gets ceil(N/W) samples and
	// a few samples are seen twice per epoch (DistributedSampler's default).
	DropUneven bool

	// Prefetch is how many batches a background goroutine prepares ahead of
	// the consumer (0: batches are built synchronously in Next).
	Prefetch int
	// Device, if not nil, is where batches are placed (the copy happens on
	// the prefetch goroutine when Prefetch > 0). Nil means the CPU.
	Device tensor.Device
}

// Loader draws batches from a Dataset: deterministic shuffling from
// (Seed, epoch), batching, drop-last, sharding by rank, and prefetching.
// A Loader is immutable and safe for concurrent use; each Epoch call
// returns an independent Iterator.
type Loader struct {
	ds   Dataset
	opts LoaderOptions
}

// Batch is one batch of samples.
type Batch struct {
	// X holds the features, float32 of shape [B, SampleShape...].
	X *tensor.Tensor
	// Y holds the class labels, int64 of shape [B] (nil for a Regression).
	Y *tensor.Tensor
	// T holds a Regression's targets, float32 of shape [B, TargetShape...]
	// (nil for other datasets).
	T *tensor.Tensor
	// Indices are the dataset indices of the B samples.
	Indices []int
}

// NewLoader checks opts and returns a loader over ds.
func NewLoader(ds Dataset, opts LoaderOptions) (*Loader, error) {
	if ds == nil {
		return nil, errors.New("data: NewLoader: nil dataset")
	}
	if opts.BatchSize <= 0 {
		return nil, fmt.Errorf("data: NewLoader: batch size %d must be positive", opts.BatchSize)
	}
	if opts.WorldSize < 0 || (opts.WorldSize > 1 && (opts.Rank < 0 || opts.Rank >= opts.WorldSize)) ||
		(opts.WorldSize <= 1 && opts.Rank != 0) {
		return nil, fmt.Errorf("data: NewLoader: rank %d is not in a world of size %d", opts.Rank, opts.WorldSize)
	}
	if opts.Prefetch < 0 {
		return nil, fmt.Errorf("data: NewLoader: negative prefetch %d", opts.Prefetch)
	}
	if v, ok := ds.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("data: NewLoader: %w", err)
		}
	}
	if _, err := shapeSize(ds.SampleShape()); err != nil {
		return nil, fmt.Errorf("data: NewLoader: sample shape %v: %w", ds.SampleShape(), err)
	}
	if reg, ok := ds.(Regression); ok {
		if _, err := shapeSize(reg.TargetShape()); err != nil {
			return nil, fmt.Errorf("data: NewLoader: target shape %v: %w", reg.TargetShape(), err)
		}
	}
	if n := ds.Len(); n < 0 {
		return nil, fmt.Errorf("data: NewLoader: dataset length %d", n)
	}
	return &Loader{ds: ds, opts: opts}, nil
}

// Dataset returns the loader's dataset.
func (l *Loader) Dataset() Dataset { return l.ds }

// Indices returns the dataset indices that this rank visits in the given
// epoch, in order, before batching.
func (l *Loader) Indices(epoch int) []int {
	n := l.ds.Len()
	var order []int
	if l.opts.Shuffle {
		order = Permutation(epochSeed(l.opts.Seed, epoch), n)
	} else {
		order = make([]int, n)
		for i := range order {
			order[i] = i
		}
	}
	w := l.opts.WorldSize
	if w <= 1 {
		return order
	}
	var per int
	if l.opts.DropUneven {
		per = n / w
		order = order[:per*w]
	} else {
		per = (n + w - 1) / w
		for i := 0; len(order) < per*w && n > 0; i++ {
			order = append(order, order[i%n])
		}
	}
	out := make([]int, 0, per)
	for i := l.opts.Rank; i < len(order); i += w {
		out = append(out, order[i])
	}
	return out
}

// NumSamples returns how many samples this rank visits per epoch
// (including padding, excluding a dropped last batch).
func (l *Loader) NumSamples() int {
	if l.opts.DropLast {
		return l.NumBatches() * l.opts.BatchSize
	}
	return l.perRank()
}

// NumBatches returns the number of batches per epoch on this rank.
func (l *Loader) NumBatches() int {
	n := l.perRank()
	if l.opts.DropLast {
		return n / l.opts.BatchSize
	}
	return (n + l.opts.BatchSize - 1) / l.opts.BatchSize
}

func (l *Loader) perRank() int {
	n, w := l.ds.Len(), l.opts.WorldSize
	switch {
	case w <= 1:
		return n
	case l.opts.DropUneven:
		return n / w
	}
	return (n + w - 1) / w
}

// Epoch starts iterating over one epoch's batches. The iterator stops early
// when ctx is cancelled. Call Close when done with it (Close before the end
// is fine, and so is calling it twice) so that its prefetch goroutine exits
// at once; an iterator dropped without Close stops its goroutine when ctx is
// cancelled or, at the latest, once the garbage collector finds it.
func (l *Loader) Epoch(ctx context.Context, epoch int) *Iterator {
	idx := l.Indices(epoch)
	var batches [][]int
	for start := 0; start < len(idx); start += l.opts.BatchSize {
		end := min(start+l.opts.BatchSize, len(idx))
		if end-start < l.opts.BatchSize && l.opts.DropLast {
			break
		}
		batches = append(batches, idx[start:end])
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &iterState{l: l, ctx: ctx, cancel: cancel, batches: batches}
	it := &Iterator{s: s}
	if l.opts.Prefetch > 0 {
		s.ch = make(chan result, l.opts.Prefetch)
		s.done = make(chan struct{})
		go s.produce()
		// The producer references only s, so an abandoned Iterator can be
		// collected; its cleanup then stops the producer.
		runtime.AddCleanup(it, func(cancel context.CancelFunc) { cancel() }, cancel)
	}
	return it
}

type result struct {
	b   Batch
	err error
}

// Iterator yields the batches of one epoch:
//
//	it := loader.Epoch(ctx, epoch)
//	defer it.Close()
//	for b, ok := it.Next(); ok; b, ok = it.Next() {
//		...
//	}
//	if err := it.Err(); err != nil { ... }
type Iterator struct {
	s *iterState
}

type iterState struct {
	l       *Loader
	ctx     context.Context
	cancel  context.CancelFunc
	batches [][]int
	next    int // synchronous mode: the next batch to build

	ch   chan result   // prefetch mode
	done chan struct{} // closed when the producer has exited

	mu        sync.Mutex
	err       error
	closeOnce sync.Once
}

var (
	errClosed = errors.New("data: iterator closed")
	errEnd    = errors.New("data: end of epoch")
)

// Next returns the next batch, or false at the end of the epoch, after
// Close, or when the context is cancelled or a batch fails (see Err).
func (it *Iterator) Next() (Batch, bool) {
	s := it.s
	if s.getErr() != nil {
		return Batch{}, false
	}
	if err := s.ctx.Err(); err != nil {
		s.setErr(err)
		return Batch{}, false
	}
	if s.ch == nil {
		if s.next >= len(s.batches) {
			s.finish()
			return Batch{}, false
		}
		b, err := s.l.build(s.batches[s.next])
		s.next++
		if err != nil {
			s.setErr(err)
			s.cancel()
			return Batch{}, false
		}
		return b, true
	}
	select {
	case r, ok := <-s.ch:
		if !ok {
			// The producer stopped: the end, or a cancellation.
			if err := s.ctx.Err(); err != nil {
				s.setErr(err)
			} else {
				s.finish()
			}
			return Batch{}, false
		}
		if r.err != nil {
			s.setErr(r.err)
			s.cancel()
			return Batch{}, false
		}
		return r.b, true
	case <-s.ctx.Done():
		s.setErr(s.ctx.Err())
		return Batch{}, false
	}
}

// finish records the normal end of the epoch and releases the context.
func (s *iterState) finish() {
	s.setErr(errEnd)
	s.cancel()
}

func (s *iterState) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *iterState) getErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Err returns the error that ended the iteration early: the context's error
// after a cancellation, or a batch's failure. It is nil after a complete
// epoch and after Close.
func (it *Iterator) Err() error {
	err := it.s.getErr()
	if errors.Is(err, errClosed) || errors.Is(err, errEnd) {
		return nil
	}
	return err
}

// Close stops the iterator and waits for its prefetch goroutine to exit.
// It may be called from another goroutine while Next is blocked; Next then
// returns false. Next itself must not be called concurrently.
func (it *Iterator) Close() {
	s := it.s
	s.closeOnce.Do(func() {
		s.setErr(errClosed)
		s.cancel()
		if s.done != nil {
			<-s.done
		}
	})
}

// Len returns the number of batches of the epoch.
func (it *Iterator) Len() int { return len(it.s.batches) }

func (s *iterState) produce() {
	defer close(s.done)
	defer close(s.ch)
	for _, idx := range s.batches {
		if s.ctx.Err() != nil {
			return
		}
		b, err := s.l.build(idx)
		select {
		case s.ch <- result{b, err}:
		case <-s.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// build assembles the batch of the given dataset indices. A panic in the
// dataset's methods (or in placing the batch on the device) becomes the
// returned error, so that a faulty dataset ends the epoch with Err, on the
// prefetch goroutine as well as in Next, instead of killing the process.
func (l *Loader) build(idx []int) (b Batch, err error) {
	cur := -1 // the dataset index being read, for the error message
	defer func() {
		if p := recover(); p != nil {
			where := "building a batch"
			if cur >= 0 {
				where = fmt.Sprintf("reading sample %d", cur)
			}
			b = Batch{}
			if e, ok := p.(error); ok {
				err = fmt.Errorf("data: dataset panicked %s: %w", where, e)
			} else {
				err = fmt.Errorf("data: dataset panicked %s: %v", where, p)
			}
		}
	}()
	shape := l.ds.SampleShape()
	size := prod(shape)
	x := make([]float32, len(idx)*size)
	reg, isReg := l.ds.(Regression)
	var y []int64
	var t []float32
	var tshape []int
	if isReg {
		tshape = reg.TargetShape()
		tsize := prod(tshape)
		t = make([]float32, len(idx)*tsize)
		for k, i := range idx {
			cur = i
			reg.Sample(i, x[k*size:(k+1)*size])
			reg.Target(i, t[k*tsize:(k+1)*tsize])
		}
	} else {
		y = make([]int64, len(idx))
		for k, i := range idx {
			cur = i
			y[k] = l.ds.Sample(i, x[k*size:(k+1)*size])
		}
	}
	cur = -1
	err = tensor.Try(func() {
		b.X = tensor.FromSlice(x, append([]int{len(idx)}, shape...)...)
		if isReg {
			b.T = tensor.FromSlice(t, append([]int{len(idx)}, tshape...)...)
		} else {
			b.Y = tensor.FromSlice(y, len(idx))
		}
		if dev := l.opts.Device; dev != nil {
			b.X = b.X.To(dev)
			if b.Y != nil {
				b.Y = b.Y.To(dev)
			}
			if b.T != nil {
				b.T = b.T.To(dev)
			}
		}
	})
	if err != nil {
		return Batch{}, fmt.Errorf("data: building batch: %w", err)
	}
	b.Indices = idx
	return b, nil
}
