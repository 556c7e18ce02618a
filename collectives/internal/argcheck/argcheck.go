// Package argcheck is the argument agreement check of the collectives
// backends that cannot see their peers' arguments (MPI, NCCL): every rank
// encodes its call in a fixed header; the ranks all-reduce Pack(header)
// with Max, and if Agreed says no, they all-gather the headers and
// Mismatch names the first rank that disagrees with rank 0.
package argcheck

import (
	"fmt"
	"slices"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// Len is the number of int64 words in a header.
const Len = 16

// Header encodes a call: kind, dtype, reduction, root, and count and up to
// four dims of the (in-place or dst) buffer a and of src b.
func Header(k collectives.Kind, op collectives.RedOp, root int, a, b collectives.Buffer) [Len]int64 {
	var h [Len]int64
	h[0], h[1], h[2], h[3] = int64(k), int64(a.DType), int64(op), int64(root)
	put := func(at int, x collectives.Buffer) {
		h[at] = int64(x.Count)
		h[at+1] = int64(len(x.Shape))
		for i, d := range x.Shape {
			if i < 4 {
				h[at+2+i] = int64(d)
			}
		}
	}
	put(4, a)
	put(10, b)
	return h
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

func describe(h []int64, at int) string {
	dt := tensor.DType(h[1])
	nd := int(h[at+1])
	if nd > 4 {
		return fmt.Sprintf("%s[%d elements in %d dims]", dt, h[at], nd)
	}
	dims := make([]int64, nd)
	copy(dims, h[at+2:at+2+nd])
	return fmt.Sprintf("%s%v", dt, dims)
}

// Mismatch returns the error, wrapping collectives.ErrMismatch, that names
// the first rank whose header (in all, Len words per rank in rank order)
// differs from rank 0's, and both arguments.
func Mismatch(k collectives.Kind, all []int64) error {
	h0 := all[:Len]
	for r := 1; r*Len < len(all); r++ {
		hr := all[r*Len : (r+1)*Len]
		switch {
		case hr[0] != h0[0]:
			return fmt.Errorf("%w: rank 0 called %s but rank %d called %s", collectives.ErrMismatch, collectives.Kind(h0[0]), r, collectives.Kind(hr[0]))
		case !slices.Equal(hr[4:10], h0[4:10]) || hr[1] != h0[1]:
			return fmt.Errorf("%w: %s: rank 0 passed %s but rank %d passed %s", collectives.ErrMismatch, k, describe(h0, 4), r, describe(hr, 4))
		case !slices.Equal(hr[10:], h0[10:]):
			return fmt.Errorf("%w: %s: rank 0 passed src %s but rank %d passed src %s", collectives.ErrMismatch, k, describe(h0, 10), r, describe(hr, 10))
		case hr[2] != h0[2]:
			return fmt.Errorf("%w: %s: rank 0 passed op %s but rank %d passed op %s", collectives.ErrMismatch, k, collectives.RedOp(h0[2]), r, collectives.RedOp(hr[2]))
		case hr[3] != h0[3]:
			return fmt.Errorf("%w: %s: rank 0 passed root %d but rank %d passed root %d", collectives.ErrMismatch, k, h0[3], r, hr[3])
		}
	}
	return fmt.Errorf("%w: %s: headers differ", collectives.ErrMismatch, k)
}
