package tensor

import (
	"sync"
)

// loop is a strided iteration over a common shape for a few operands. Axes
// that are laid out alike in every operand are merged, so a contiguous
// tensor is one long inner run. Its slices live in the struct's own arrays
// for up to loopOps operands and loopDims merged axes (and grow onto the
// heap beyond), so planning an iteration is one allocation.
type loop struct {
	shape   []int   // coalesced shape; len >= 1
	strides [][]int // per operand, per coalesced axis
	base    []int   // per operand, storage offset of the first element
	numel   int

	shapeBuf  [loopDims]int
	strideBuf [loopOps][loopDims]int
	strideHdr [loopOps][]int
	baseBuf   [loopOps]int
	idxBuf    [loopDims]int // runRange's scratch on the calling goroutine
	offsBuf   [loopOps]int
}

const (
	loopOps  = 4
	loopDims = 6
)

func makeLoop(shape []int, views ...View) *loop {
	l := &loop{numel: Shape(shape).NumElements()}
	nv := len(views)
	if nv <= loopOps {
		l.base = l.baseBuf[:nv]
		l.strides = l.strideHdr[:nv]
		for k := range nv {
			l.strides[k] = l.strideBuf[k][:0]
		}
	} else {
		l.base = make([]int, nv)
		l.strides = make([][]int, nv)
	}
	for k, v := range views {
		l.base[k] = v.Offset
	}
	// Drop size-1 axes, then merge neighbours that stay affine in every operand.
	l.shape = l.shapeBuf[:0]
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if last := len(l.shape) - 1; last >= 0 {
			merge := true
			for k, v := range views {
				if l.strides[k][last] != v.Strides[i]*d {
					merge = false
					break
				}
			}
			if merge {
				l.shape[last] *= d
				for k, v := range views {
					l.strides[k][last] = v.Strides[i]
				}
				continue
			}
		}
		l.shape = append(l.shape, d)
		for k, v := range views {
			l.strides[k] = append(l.strides[k], v.Strides[i])
		}
	}
	if len(l.shape) == 0 {
		l.shape = append(l.shape, 1)
		for k := range views {
			l.strides[k] = append(l.strides[k], 0)
		}
	}
	return l
}

// inner returns operand k's stride along the innermost run.
func (l *loop) inner(k int) int { return l.strides[k][len(l.shape)-1] }

// grain is the number of elements below which work runs on one goroutine.
const grain = 1 << 15

// workers returns how many goroutines to use for n units of work costing
// about cost element-operations each.
func workers(n, cost int) int {
	w := n * cost / grain
	if w <= 1 {
		return 1 // without asking Threads: runtime.GOMAXPROCS takes a lock
	}
	return max(min(Threads(), w), 1)
}

// parallelFor splits [0, n) into contiguous ranges over up to w goroutines.
func parallelFor(n, w int, body func(lo, hi int)) {
	if w <= 1 || n <= 1 {
		body(0, n)
		return
	}
	w = min(w, n)
	var wg sync.WaitGroup
	for i := range w {
		lo, hi := n*i/w, n*(i+1)/w
		if i == w-1 {
			body(lo, hi)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(lo, hi)
		}()
	}
	wg.Wait()
}

// run calls fn for every inner run of the iteration: offs holds each
// operand's offset of the run's first element and n its length. Work is
// split across goroutines when large; each goroutine gets its own fn from
// newFn (so it can own scratch buffers). cost is a rough number of
// operations per element.
func (l *loop) run(cost int, newFn func() func(offs []int, n int)) {
	if l.numel == 0 {
		return
	}
	if w := workers(l.numel, cost); w > 1 {
		parallelFor(l.numel, w, func(lo, hi int) { l.runRange(lo, hi, newFn()) })
		return
	}
	l.runAll(newFn())
}

// scratch returns the calling goroutine's runRangeWith scratch (idx and
// offs), from the loop's own arrays when they are large enough.
func (l *loop) scratch() (idx, offs []int) {
	if len(l.shape) <= loopDims && len(l.base) <= loopOps {
		return l.idxBuf[:len(l.shape)], l.offsBuf[:len(l.base)]
	}
	return make([]int, len(l.shape)), make([]int, len(l.base))
}

func (l *loop) runRange(lo, hi int, fn func(offs []int, n int)) {
	if lo >= hi {
		return // also keeps a zero-size shape from dividing by zero below
	}
	l.runRangeWith(lo, hi, make([]int, len(l.shape)), make([]int, len(l.base)), fn)
}

// runAll is runRange over the whole iteration on the calling goroutine.
func (l *loop) runAll(fn func(offs []int, n int)) {
	if l.numel == 0 {
		return
	}
	idx, offs := l.scratch()
	l.runRangeWith(0, l.numel, idx, offs, fn)
}

// runRangeWith is runRange with caller-owned scratch: idx has one entry per
// loop axis and offs one per operand.
func (l *loop) runRangeWith(lo, hi int, idx, offs []int, fn func(offs []int, n int)) {
	if lo >= hi {
		return
	}
	nd := len(l.shape)
	// Decompose lo into a multi-index.
	rem := lo
	for d := nd - 1; d >= 0; d-- {
		idx[d] = rem % l.shape[d]
		rem /= l.shape[d]
	}
	for k := range offs {
		o := l.base[k]
		for d := range nd {
			o += idx[d] * l.strides[k][d]
		}
		offs[k] = o
	}
	last := nd - 1
	for pos := lo; pos < hi; {
		n := min(l.shape[last]-idx[last], hi-pos)
		fn(offs, n)
		pos += n
		if pos >= hi {
			break
		}
		// Advance to the start of the next run.
		for k := range offs {
			offs[k] += n * l.strides[k][last]
		}
		idx[last] += n
		for d := last; d > 0 && idx[d] == l.shape[d]; d-- {
			idx[d] = 0
			idx[d-1]++
			for k := range offs {
				offs[k] += l.strides[k][d-1] - l.shape[d]*l.strides[k][d]
			}
		}
	}
}

// parallelParts is parallelFor that also tells each body its part number.
func parallelParts(n, w int, body func(part, lo, hi int)) {
	var wg sync.WaitGroup
	for i := 1; i < w; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(i, n*i/w, n*(i+1)/w)
		}()
	}
	body(0, 0, n/w)
	wg.Wait()
}
