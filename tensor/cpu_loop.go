package tensor

import (
	"sync"
)

// loop is a strided iteration over a common shape for a few operands. Axes
// that are laid out alike in every operand are merged, so a contiguous
// tensor is one long inner run.
type loop struct {
	shape   []int   // coalesced shape; len >= 1
	strides [][]int // per operand, per coalesced axis
	base    []int   // per operand, storage offset of the first element
	numel   int
}

func makeLoop(shape []int, views ...View) *loop {
	l := &loop{numel: Shape(shape).NumElements()}
	l.base = make([]int, len(views))
	for k, v := range views {
		l.base[k] = v.Offset
	}
	// Drop size-1 axes, then merge neighbours that stay affine in every operand.
	var dims []int
	for i, d := range shape {
		if d != 1 {
			dims = append(dims, i)
		}
	}
	l.strides = make([][]int, len(views))
	if len(dims) == 0 {
		l.shape = []int{1}
		for k := range views {
			l.strides[k] = []int{0}
		}
		return l
	}
	l.shape = []int{shape[dims[0]]}
	for k, v := range views {
		l.strides[k] = []int{v.Strides[dims[0]]}
	}
	for _, i := range dims[1:] {
		last := len(l.shape) - 1
		merge := true
		for k, v := range views {
			if l.strides[k][last] != v.Strides[i]*shape[i] {
				merge = false
				break
			}
		}
		if merge {
			l.shape[last] *= shape[i]
			for k, v := range views {
				l.strides[k][last] = v.Strides[i]
			}
			continue
		}
		l.shape = append(l.shape, shape[i])
		for k, v := range views {
			l.strides[k] = append(l.strides[k], v.Strides[i])
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
	p := Threads()
	if w := n * cost / grain; w < p {
		p = w
	}
	return max(p, 1)
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
	parallelFor(l.numel, workers(l.numel, cost), func(lo, hi int) { l.runRange(lo, hi, newFn()) })
}

func (l *loop) runRange(lo, hi int, fn func(offs []int, n int)) {
	if lo >= hi {
		return // also keeps a zero-size shape from dividing by zero below
	}
	l.runRangeWith(lo, hi, make([]int, len(l.shape)), make([]int, len(l.base)), fn)
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
