package tensor

import (
	"github.com/tessera-ml/tessera/kernels/cpu"
)

func (d cpuDevice) MatMul(dst, a, b View) { d.matmul(dst, a, b, 0) }

// MatMulAdd implements MatMulAdder: dst += a @ b.
func (d cpuDevice) MatMulAdd(dst, a, b View) { d.matmul(dst, a, b, 1) }

func (cpuDevice) matmul(dst, a, b View, beta float64) {
	cpuView("MatMul", dst)
	nd := len(dst.Shape)
	m, n, k := dst.Shape[nd-2], dst.Shape[nd-1], a.Shape[nd-1]
	if dst.DType() == Float64 && a.DType() == Float64 && b.DType() == Float64 {
		matmulTyped(dst, a, b, m, n, k, beta, cpu.Dgemm)
		return
	}
	if dst.DType() == Float32 && a.DType() == Float32 && b.DType() == Float32 {
		matmulTyped(dst, a, b, m, n, k, beta, cpu.Sgemm)
		return
	}
	// Other dtypes: compute in float32 (float64 for integers) on contiguous copies.
	ct := Float32
	if !dst.DType().IsFloat() {
		ct = Float64
	}
	conv := func(v View) View {
		st := newCPUStorage(ct, Shape(v.Shape).NumElements())
		c := View{Storage: st, Shape: v.Shape, Strides: ContiguousStrides(v.Shape)}
		CPU.Copy(c, v)
		return c
	}
	ca, cb := conv(a), conv(b)
	cd := View{Storage: newCPUStorage(ct, Shape(dst.Shape).NumElements()), Shape: dst.Shape, Strides: ContiguousStrides(dst.Shape)}
	if beta != 0 {
		CPU.Copy(cd, dst)
	}
	if ct == Float32 {
		matmulTyped(cd, ca, cb, m, n, k, beta, cpu.Sgemm)
	} else {
		matmulTyped(cd, ca, cb, m, n, k, beta, cpu.Dgemm)
	}
	CPU.Copy(dst, cd)
}

type gemmFunc[T float32 | float64] func(m, n, k int, alpha T, a []T, rsA, csA int, b []T, rsB, csB int, beta T, c []T, rsC, csC int)

func matmulTyped[T float32 | float64](dst, a, b View, m, n, k int, beta float64, gemm gemmFunc[T]) {
	nd := len(dst.Shape)
	bd, ba, bb := dst.Storage.(*cpuStorage).buf.([]T), a.Storage.(*cpuStorage).buf.([]T), b.Storage.(*cpuStorage).buf.([]T)
	if m == 0 || n == 0 {
		return
	}
	if nd == 2 {
		// One matrix: no batch loop to plan.
		if k == 0 {
			if beta == 0 {
				fillMatrix(bd[dst.Offset:], m, n, dst.Strides[0], dst.Strides[1])
			}
			return
		}
		gemm(m, n, k, 1, ba[a.Offset:], a.Strides[0], a.Strides[1], bb[b.Offset:], b.Strides[0], b.Strides[1],
			T(beta), bd[dst.Offset:], dst.Strides[0], dst.Strides[1])
		return
	}
	batchShape := dst.Shape[:nd-2]
	bl := makeLoop(batchShape,
		View{Shape: batchShape, Strides: dst.Strides[:nd-2], Offset: dst.Offset},
		View{Shape: batchShape, Strides: a.Strides[:nd-2], Offset: a.Offset},
		View{Shape: batchShape, Strides: b.Strides[:nd-2], Offset: b.Offset})
	one := func(od, oa, ob int) {
		if k == 0 {
			if beta == 0 {
				fillMatrix(bd[od:], m, n, dst.Strides[nd-2], dst.Strides[nd-1])
			}
			return
		}
		gemm(m, n, k, 1, ba[oa:], a.Strides[nd-2], a.Strides[nd-1], bb[ob:], b.Strides[nd-2], b.Strides[nd-1],
			T(beta), bd[od:], dst.Strides[nd-2], dst.Strides[nd-1])
	}
	batches := bl.numel
	perBatch := m * n * max(k, 1)
	if batches >= 2 && perBatch < 1<<18 {
		// Many small products: one goroutine per range of batches, each gemm single-threaded.
		w := min(Threads(), max(1, batches*perBatch/grain))
		parallelFor(batches, w, func(lo, hi int) {
			bl.runRange(lo, hi, func(offs []int, cnt int) {
				for i := range cnt {
					one(offs[0]+i*bl.inner(0), offs[1]+i*bl.inner(1), offs[2]+i*bl.inner(2))
				}
			})
		})
		return
	}
	bl.runRange(0, batches, func(offs []int, cnt int) {
		for i := range cnt {
			one(offs[0]+i*bl.inner(0), offs[1]+i*bl.inner(1), offs[2]+i*bl.inner(2))
		}
	})
}

func fillMatrix[T float32 | float64](c []T, m, n, rs, cs int) {
	for i := range m {
		for j := range n {
			c[i*rs+j*cs] = 0
		}
	}
}
