package cudatensor

import (
	"encoding/binary"
	"fmt"

	"github.com/tessera-ml/tessera/cuda"
)

// maxDims is the most dimensions a strided4 descriptor holds
// (TESS_MAXDIM in kernels/cudakernels/tess_common.cuh).
const maxDims = 8

// strided4Size is sizeof(TessStrided4) in kernels/cudakernels/tensordev.cu:
// int ndim, int pad, i64 shape[8], i64 stride[4][8].
const strided4Size = 8 + 8*maxDims + 4*8*maxDims

// strided4 is the kernels' shape/stride descriptor: one shape and the
// strides (in elements) of up to four operands over it.
type strided4 struct {
	shape   []int64
	strides [4][]int64
}

func (s strided4) numel() int64 {
	n := int64(1)
	for _, d := range s.shape {
		n *= d
	}
	return n
}

// bytes encodes the descriptor in the kernels' layout (little-endian).
func (s strided4) bytes() ([]byte, error) {
	if len(s.shape) > maxDims {
		return nil, fmt.Errorf("cudatensor: %d dimensions after merging axes (max %d)", len(s.shape), maxDims)
	}
	b := make([]byte, strided4Size)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(s.shape)))
	for i, d := range s.shape {
		binary.LittleEndian.PutUint64(b[8+8*i:], uint64(d))
	}
	for k := range 4 {
		st := s.strides[k]
		if st == nil {
			continue
		}
		if len(st) != len(s.shape) {
			return nil, fmt.Errorf("cudatensor: operand %d has %d strides for %d dimensions", k, len(st), len(s.shape))
		}
		for i, v := range st {
			binary.LittleEndian.PutUint64(b[8+8*maxDims+8*(k*maxDims+i):], uint64(v))
		}
	}
	return b, nil
}

// arg returns the descriptor as a by-value kernel argument.
func (s strided4) arg() (cuda.StructArg, error) {
	b, err := s.bytes()
	if err != nil {
		return cuda.StructArg{}, err
	}
	return cuda.StructArg{Data: b, Align: 8}, nil
}

// mergeAxes builds a descriptor for operands with the given strides over
// shape: axes of size 1 are dropped and adjacent axes are merged where every
// operand is contiguous across them, so a contiguous or simply broadcast
// problem becomes one or two dimensions. ok is false when more than maxDims
// dimensions remain. The descriptor is empty (numel 0) when shape has a 0.
func mergeAxes(shape []int, strides ...[]int) (d strided4, ok bool) {
	if len(strides) > 4 {
		panic("cudatensor: more than four operands")
	}
	var dims []int64
	sts := make([][]int64, len(strides))
	for i, n := range shape {
		if n == 0 {
			d.shape = []int64{0}
			for k := range strides {
				d.strides[k] = []int64{0}
			}
			return d, true
		}
		if n == 1 {
			continue
		}
		if len(dims) > 0 {
			last := len(dims) - 1
			merge := true
			for k, st := range strides {
				if sts[k][last] != int64(st[i])*int64(n) {
					merge = false
					break
				}
			}
			if merge {
				dims[last] *= int64(n)
				for k, st := range strides {
					sts[k][last] = int64(st[i])
				}
				continue
			}
		}
		dims = append(dims, int64(n))
		for k, st := range strides {
			sts[k] = append(sts[k], int64(st[i]))
		}
	}
	if dims == nil {
		dims = []int64{}
	}
	d.shape = dims
	for k := range strides {
		if sts[k] == nil {
			sts[k] = []int64{}
		}
		d.strides[k] = sts[k]
	}
	return d, len(dims) <= maxDims
}

// isRowMajor reports whether strides describe shape laid out row-major
// without gaps (size-1 axes may have any stride).
func isRowMajor(shape, strides []int) bool {
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && strides[i] != acc {
			return false
		}
		acc *= shape[i]
	}
	return true
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
