// Package argcheck is the argument agreement check of the collectives
// backends that cannot see their peers' arguments (MPI, NCCL). Every rank
// describes its call (Describe) as a fixed header and a variable detail
// (full shapes, and the fused calls of a Group); Agree all-reduces the
// packed header with Max, and only when the ranks disagree all-gathers the
// headers and details and returns collectives.Disagree's error for the
// first rank that differs from rank 0, the same on every rank.
package argcheck

import (
	"fmt"
	"hash/fnv"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// Len is the number of int64 words in a header.
const Len = 19

// MaxDetail caps the detail words exchanged to name a mismatch (a group of
// thousands of fused calls); the header's hash still covers all of them.
const MaxDetail = 4096

// Header words.
const (
	wKind, wDType, wOp, wRoot = 0, 1, 2, 3
	wA, wB                    = 4, 10 // count, ndim, up to 4 dims
	wDetailLen, wDetailHash   = 16, 17
	wDTypeB                   = 18
)

// Call is one rank's call as the check sees it.
type Call struct {
	Head   [Len]int64
	Detail []int64
}

// Describe encodes a call: kind, dtypes, reduction, root, the count and
// first dims of the (in-place or dst) buffer a and of src b in the header;
// the full shapes and a's fused parts in the detail, whose length and hash
// are in the header too.
func Describe(k collectives.Kind, op collectives.RedOp, root int, a, b collectives.Buffer) Call {
	var c Call
	h := &c.Head
	h[wKind], h[wDType], h[wOp], h[wRoot] = int64(k), int64(a.DType), int64(op), int64(root)
	h[wDTypeB] = int64(b.DType)
	put := func(at int, x collectives.Buffer) {
		h[at] = int64(x.Count)
		h[at+1] = int64(len(x.Shape))
		for i, d := range x.Shape {
			if i < 4 {
				h[at+2+i] = int64(d)
			}
		}
	}
	put(wA, a)
	put(wB, b)
	c.Detail = encode(a, b)
	h[wDetailLen] = int64(len(c.Detail))
	hs := fnv.New64a()
	var w [8]byte
	for _, v := range c.Detail {
		for i := range w {
			w[i] = byte(uint64(v) >> (8 * i))
		}
		hs.Write(w[:])
	}
	// 62 bits: Pack negates every word, which must not overflow.
	h[wDetailHash] = int64(hs.Sum64() >> 2)
	return c
}

// encode is the detail: a's shape, b's shape, then a's parts (-1 for none,
// else their number followed by each part's ndim and dims).
func encode(a, b collectives.Buffer) []int64 {
	var d []int64
	shape := func(s tensor.Shape) {
		d = append(d, int64(len(s)))
		for _, v := range s {
			d = append(d, int64(v))
		}
	}
	shape(a.Shape)
	shape(b.Shape)
	if a.Parts == nil {
		return append(d, -1)
	}
	d = append(d, int64(len(a.Parts)))
	for _, p := range a.Parts {
		shape(p)
	}
	return d
}

// decode rebuilds rank's arguments from its header and (possibly
// truncated) detail; what the detail lacks comes from the header.
func decode(h []int64, d []int64) collectives.Args {
	pos, ok := 0, true
	next := func() int64 {
		if pos >= len(d) {
			ok = false
			return 0
		}
		pos++
		return d[pos-1]
	}
	shape := func() tensor.Shape {
		n := next()
		if !ok || n < 0 || n > int64(len(d)-pos) {
			ok = false
			return nil
		}
		s := make(tensor.Shape, n)
		for i := range s {
			s[i] = int(next())
		}
		return s
	}
	fromHead := func(at int) tensor.Shape {
		nd := int(h[at+1])
		s := make(tensor.Shape, min(nd, 4))
		for i := range s {
			s[i] = int(h[at+2+i])
		}
		return s
	}
	a := collectives.Buffer{DType: tensor.DType(h[wDType]), Count: int(h[wA])}
	b := collectives.Buffer{DType: tensor.DType(h[wDTypeB]), Count: int(h[wB])}
	a.Shape, b.Shape = shape(), shape()
	if !ok {
		a.Shape, b.Shape = fromHead(wA), fromHead(wB)
	} else if np := next(); ok && np >= 0 {
		a.Parts = make([]tensor.Shape, 0, min(np, int64(len(d))))
		for range np {
			p := shape()
			if !ok {
				break // truncated: the parts listed so far
			}
			a.Parts = append(a.Parts, p)
		}
	}
	return collectives.Args{Kind: collectives.Kind(h[wKind]), A: a, B: b,
		Op: collectives.RedOp(h[wOp]), Root: int(h[wRoot])}
}

// HeadBuffer returns the dtype and element count of buffer a in header h.
func HeadBuffer(h []int64) (tensor.DType, int) {
	return tensor.DType(h[wDType]), int(h[wA])
}

// HeadDesc describes buffer a of header h, as far as the header tells:
// "float32[4 3]", or "float32[120 elements in 5 dims]" past four dims.
func HeadDesc(h []int64) string {
	dt, nd := tensor.DType(h[wDType]), int(h[wA+1])
	if nd > 4 || nd < 0 {
		return fmt.Sprintf("%s[%d elements in %d dims]", dt, h[wA], nd)
	}
	return fmt.Sprintf("%s%v", dt, h[wA+2:wA+2+nd])
}

// Pack returns h followed by -h: after an all-reduce with Max, every word
// equals h's on every rank exactly when all the headers are equal.
func Pack(h [Len]int64) [2 * Len]int64 {
	var p [2 * Len]int64
	for i, v := range h {
		p[i], p[Len+i] = v, -v
	}
	return p
}

// Agreed reports whether the Max all-reduce of every rank's Pack shows
// that every header equals h.
func Agreed(h [Len]int64, reduced [2 * Len]int64) bool {
	for i, v := range h {
		if reduced[i] != v || reduced[Len+i] != -v {
			return false
		}
	}
	return true
}

// Exchange is what a backend lends the check: two collectives on int64
// words over all its ranks.
type Exchange struct {
	// MaxReduce all-reduces words in place with Max.
	MaxReduce func(words []int64) error
	// Gather all-gathers src (the same length on every rank) into dst, of
	// Size times src's length, in rank order.
	Gather func(dst, src []int64) error
}

// Agree checks that every one of size ranks passed the same call as c:
// one small all-reduce when they agree; when they do not, two all-gathers
// (headers, then details) and an error wrapping collectives.ErrMismatch
// that names rank 0's and the first differing rank's calls, identical on
// every rank. Errors of the exchange itself are returned as they are.
func Agree(k collectives.Kind, size int, c Call, ex Exchange) error {
	packed := Pack(c.Head)
	if err := ex.MaxReduce(packed[:]); err != nil {
		return err
	}
	if Agreed(c.Head, packed) {
		return nil
	}
	heads := make([]int64, Len*size)
	// A copy: c holds a Go pointer (Detail), which cgo must not be handed.
	head := append([]int64(nil), c.Head[:]...)
	if err := ex.Gather(heads, head); err != nil {
		return err
	}
	width := 0
	for r := range size {
		width = max(width, int(min(heads[r*Len+wDetailLen], MaxDetail)))
	}
	details := make([]int64, width*size)
	mine := make([]int64, width)
	copy(mine, c.Detail)
	if err := ex.Gather(details, mine); err != nil {
		return err
	}
	return Mismatch(k, heads, details, width)
}

// Mismatch returns the error for the gathered headers (Len words per rank)
// and details (width words per rank, zero-padded and truncated to
// min(length, MaxDetail)).
func Mismatch(k collectives.Kind, heads, details []int64, width int) error {
	size := len(heads) / Len
	args := func(r int) collectives.Args {
		h := heads[r*Len : (r+1)*Len]
		n := int(min(h[wDetailLen], int64(width)))
		return decode(h, details[r*width:r*width+n])
	}
	a0 := args(0)
	for r := 1; r < size; r++ {
		if err := collectives.Disagree(a0, r, args(r)); err != nil {
			return err
		}
	}
	// Equal as far as the (truncated) details go, but the headers differ.
	for r := 1; r < size; r++ {
		if heads[r*Len+wDetailHash] != heads[wDetailHash] {
			return fmt.Errorf("%w: %s: rank 0 passed %s but rank %d passed a call that differs after the first %d words of its description",
				collectives.ErrMismatch, k, a0.A.Desc(), r, MaxDetail)
		}
	}
	return fmt.Errorf("%w: %s: headers differ", collectives.ErrMismatch, k)
}
