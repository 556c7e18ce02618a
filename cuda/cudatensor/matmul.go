package cudatensor

import (
	"slices"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/tensor"
)

// MatMul implements tensor.Device through cuBLAS.
func (d *Device) MatMul(dst, a, b tensor.View) { d.matmul("MatMul", dst, a, b, 0) }

// MatMulAdd implements tensor.MatMulAdder: dst += a @ b (GEMM with beta 1).
func (d *Device) MatMulAdd(dst, a, b tensor.View) { d.matmul("MatMulAdd", dst, a, b, 1) }

// matLayout maps a rows x cols matrix with strides (sr, sc) to cuBLAS's
// row-major view: stored as is with leading dimension ld (trans false), or
// stored transposed (trans true: cols x rows row-major, ld = sc). ok is
// false when neither stride is 1 (or a stride is 0): the matrix must be
// copied first.
func matLayout(rows, cols, sr, sc int) (trans bool, ld int, ok bool) {
	switch {
	case rows <= 1 && cols <= 1:
		return false, 1, true
	case rows <= 1: // a row vector: only the column stride matters
		if sc == 1 {
			return false, cols, true
		}
		if sc >= 1 {
			return true, sc, true
		}
		return false, 0, false
	case cols <= 1: // a column vector
		if sr >= 1 {
			return false, sr, true
		}
		return false, 0, false
	case sc == 1 && sr >= cols:
		return false, sr, true
	case sr == 1 && sc >= rows:
		return true, sc, true
	}
	return false, 0, false
}

// operand is a device matrix (stack) for the GEMM planner.
type operand struct {
	ptr     cuda.DevicePtr
	shape   []int
	strides []int
}

// transposed swaps the last two axes.
func (o operand) transposed() operand {
	n := len(o.shape)
	s, st := slices.Clone(o.shape), slices.Clone(o.strides)
	s[n-2], s[n-1] = s[n-1], s[n-2]
	st[n-2], st[n-1] = st[n-1], st[n-2]
	return operand{o.ptr, s, st}
}

func (o operand) mat() (rows, cols, sr, sc int) {
	n := len(o.shape)
	return o.shape[n-2], o.shape[n-1], o.strides[n-2], o.strides[n-1]
}

// gemmCall is one cuBLAS call of a plan, in row-major terms, with explicit
// batch strides (0 allowed: a broadcast operand).
type gemmCall struct {
	transA, transB bool
	m, n, k        int
	lda, ldb, ldc  int
	a, b, c        cuda.DevicePtr // element offsets already applied
	batch          int            // 0: GemmEx
	sa, sb, sc     int64
}

// planGemm turns c = a @ b over batched strided operands (same batch shape,
// broadcast batches have stride 0) into cuBLAS calls. c must be row-major
// in its last two axes or their transpose; a and b must have a unit stride
// in one of their last two axes (the caller copies them otherwise). It
// returns ok false when that does not hold. size is the element size.
func planGemm(c, a, b operand, size int) (calls []gemmCall, ok bool) {
	m, n, _, _ := c.mat()
	if t, _, cok := matLayout(c.mat()); cok && t {
		// C is stored transposed: compute Cᵀ = Bᵀ·Aᵀ into it instead.
		c, a, b = c.transposed(), b.transposed(), a.transposed()
		m, n = n, m
	}
	tc, ldc, cok := matLayout(c.mat())
	if !cok || tc {
		return nil, false
	}
	_, k, _, _ := a.mat()
	ta, lda, aok := matLayout(a.mat())
	tb, ldb, bok := matLayout(b.mat())
	if !aok || !bok {
		return nil, false
	}
	nd := len(c.shape)
	batch := c.shape[:nd-2]
	desc, _ := mergeAxes(batch, c.strides[:nd-2], a.strides[:nd-2], b.strides[:nd-2])
	if desc.numel() == 0 {
		return nil, true
	}
	base := gemmCall{transA: ta, transB: tb, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc}
	sz := int64(size)
	nb := len(desc.shape)
	if nb == 0 {
		g := base
		g.a, g.b, g.c = a.ptr, b.ptr, c.ptr
		return []gemmCall{g}, true
	}
	inner := nb - 1
	outer := desc.shape[:inner]
	idx := make([]int64, inner)
	for {
		var oc, oa, ob int64
		for i, x := range idx {
			oc += x * desc.strides[0][i]
			oa += x * desc.strides[1][i]
			ob += x * desc.strides[2][i]
		}
		g := base
		g.c, g.a, g.b = c.ptr.Add(oc*sz), a.ptr.Add(oa*sz), b.ptr.Add(ob*sz)
		g.batch = int(desc.shape[inner])
		g.sc, g.sa, g.sb = desc.strides[0][inner], desc.strides[1][inner], desc.strides[2][inner]
		calls = append(calls, g)
		j := inner - 1
		for ; j >= 0; j-- {
			idx[j]++
			if idx[j] < outer[j] {
				break
			}
			idx[j] = 0
		}
		if j < 0 {
			break
		}
	}
	return calls, true
}

// columnMajor converts a planned call to cuda.Gemm (cuBLAS's convention):
// a row-major C = A·B is the column-major Cᵀ = Bᵀ·Aᵀ.
func (g gemmCall) columnMajor(beta float64, in, out cuda.DataType, compute cuda.ComputeType) cuda.Gemm {
	op := func(t bool) cuda.Op {
		if t {
			return cuda.Trans
		}
		return cuda.NoTrans
	}
	return cuda.Gemm{
		TransA: op(g.transB), TransB: op(g.transA),
		M: g.n, N: g.m, K: g.k,
		Alpha: 1, Beta: beta,
		A: g.b, AType: in, LDA: g.ldb, StrideA: g.sb,
		B: g.a, BType: in, LDB: g.lda, StrideB: g.sa,
		C: g.c, CType: out, LDC: g.ldc, StrideC: g.sc,
		Batch: g.batch, Compute: compute,
	}
}

func (d *Device) operandOf(op string, v tensor.View) operand {
	return operand{ptr: d.ptrOf(op, v), shape: v.Shape, strides: v.Strides}
}

func (d *Device) matmul(op string, dst, a, b tensor.View, beta float64) {
	defer keepAlive(dst, a, b)
	nd := len(dst.Shape)
	if numel(dst.Shape) == 0 {
		return
	}
	if a.Shape[nd-1] == 0 { // K = 0: the product is zero
		if beta == 0 {
			d.Fill(dst, 0)
		}
		return
	}
	dt := dst.DType()
	native := a.DType() == dt && b.DType() == dt
	via := dt // the dtype cuBLAS computes in
	switch dt {
	case tensor.Float32, tensor.Float64, tensor.Float16:
	case tensor.BFloat16:
		if d.be.computeMajor() < 8 {
			via = tensor.Float32 // cuBLAS has no bf16 GEMM before sm_80
		}
	case tensor.Int32, tensor.Int64:
		via = tensor.Float64 // the CPU computes integer products in float64
	default:
		native = false
	}
	if !native {
		d.hostFallback(op, []int{0}, []tensor.View{dst, a, b}, func(h []tensor.View) {
			if beta != 0 {
				tensor.CPU.(tensor.MatMulAdder).MatMulAdd(h[0], h[1], h[2])
			} else {
				tensor.CPU.MatMul(h[0], h[1], h[2])
			}
		})
		return
	}
	if via != dt {
		conv := func(v tensor.View, load bool) (tensor.View, *Storage) {
			s := d.temp(op, via, numel(v.Shape))
			cv := tensor.View{Storage: s, Shape: v.Shape, Strides: tensor.ContiguousStrides(v.Shape)}
			if load {
				d.Copy(cv, v)
			}
			return cv, s
		}
		ca, sa := conv(a, true)
		cb, sb := conv(b, true)
		cd, sd := conv(dst, beta != 0)
		d.gemm(op, cd, ca, cb, beta)
		d.Copy(dst, cd)
		sa.release()
		sb.release()
		sd.release()
		return
	}
	d.gemm(op, dst, a, b, beta)
}

// gemm runs dst (+)= a @ b for float32/float64/float16/bfloat16 views,
// copying an operand to contiguous scratch when cuBLAS cannot read it in
// place (neither of its last two strides is 1) and computing into scratch
// when dst is not row-major (or its transpose).
func (d *Device) gemm(op string, dst, a, b tensor.View, beta float64) {
	dt := dst.DType()
	var tmps []*Storage
	defer func() {
		for _, s := range tmps {
			s.release()
		}
	}()
	contig := func(v tensor.View, load bool) tensor.View {
		s := d.temp(op, dt, numel(v.Shape))
		tmps = append(tmps, s)
		cv := tensor.View{Storage: s, Shape: v.Shape, Strides: tensor.ContiguousStrides(v.Shape)}
		if load {
			d.Copy(cv, v)
		}
		return cv
	}
	oc, oa, ob := d.operandOf(op, dst), d.operandOf(op, a), d.operandOf(op, b)
	if _, _, ok := matLayout(oa.mat()); !ok {
		a = contig(a, true)
		oa = d.operandOf(op, a)
	}
	if _, _, ok := matLayout(ob.mat()); !ok {
		b = contig(b, true)
		ob = d.operandOf(op, b)
	}
	calls, ok := planGemm(oc, oa, ob, dt.Size())
	out := dst
	if !ok { // dst is not row-major: compute into scratch and copy
		out = contig(dst, beta != 0)
		calls, ok = planGemm(d.operandOf(op, out), oa, ob, dt.Size())
		if !ok {
			panic(&tensor.Error{Op: "cudatensor." + op, Msg: "internal error: no GEMM plan for contiguous operands"})
		}
	}
	in, compute := gemmTypes(dt, d.TF32.Load())
	for _, c := range calls {
		check(op, d.be.gemm(c.columnMajor(beta, in, in, compute)))
	}
	if out.Storage != dst.Storage {
		d.Copy(dst, out)
	}
}

// gemmTypes returns cuBLAS's data and compute types for dt.
func gemmTypes(dt tensor.DType, tf32 bool) (cuda.DataType, cuda.ComputeType) {
	switch dt {
	case tensor.Float64:
		return cuda.R64F, cuda.Compute64F
	case tensor.Float16:
		return cuda.R16F, cuda.Compute32F
	case tensor.BFloat16:
		return cuda.R16BF, cuda.Compute32F
	}
	if tf32 {
		return cuda.R32F, cuda.Compute32FFastTF32
	}
	return cuda.R32F, cuda.Compute32F
}
