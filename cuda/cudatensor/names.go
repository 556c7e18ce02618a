package cudatensor

import (
	"sort"
	"sync"

	"github.com/tessera-ml/tessera/kernels/cudakernels"
	"github.com/tessera-ml/tessera/tensor"
)

// Kernel names of kernels/cudakernels/tensordev.cu (all start with tess_td_).

// dtypeName is a dtype's suffix in kernel names.
var dtypeName = map[tensor.DType]string{
	tensor.Float32: "f32", tensor.Float64: "f64", tensor.Float16: "f16", tensor.BFloat16: "bf16",
	tensor.Int32: "i32", tensor.Int64: "i64", tensor.Bool: "bool",
}

// sizeName names the bit-moving kernels by element size.
func sizeName(dt tensor.DType) string {
	switch dt.Size() {
	case 1:
		return "x1"
	case 2:
		return "x2"
	case 4:
		return "x4"
	}
	return "x8"
}

func copyKernel(dt tensor.DType) string   { return "tess_td_copy_" + sizeName(dt) }
func fillKernel(dt tensor.DType) string   { return "tess_td_fill_" + sizeName(dt) }
func whereKernel(dt tensor.DType) string  { return "tess_td_where_" + sizeName(dt) }
func gatherKernel(dt tensor.DType) string { return "tess_td_gather_" + sizeName(dt) }
func castKernel(from, to tensor.DType) string {
	return "tess_td_cast_" + dtypeName[from] + "_" + dtypeName[to]
}

// floatUnary maps the unary ops to their float kernels (f32, f64, f16, bf16).
var floatUnary = map[tensor.UnaryOp]string{
	tensor.OpNeg: "neg", tensor.OpAbs: "abs", tensor.OpSign: "sign", tensor.OpExp: "exp", tensor.OpLog: "log",
	tensor.OpLog1p: "log1p", tensor.OpSqrt: "sqrt", tensor.OpRsqrt: "rsqrt", tensor.OpSin: "sin", tensor.OpCos: "cos",
	tensor.OpTanh: "tanh", tensor.OpSigmoid: "sigmoid", tensor.OpReLU: "relu", tensor.OpGELUTanh: "gelu_tanh",
	tensor.OpGELUErf: "gelu_erf", tensor.OpPowScalar: "pow_scalar", tensor.OpClamp: "clamp", tensor.OpSquare: "square",
	tensor.OpRecip: "recip", tensor.OpAffine: "affine", tensor.OpFloor: "floor", tensor.OpCeil: "ceil",
	tensor.OpRound: "round", tensor.OpErf: "erf", tensor.OpLeakyReLU: "leaky_relu", tensor.OpStep: "step",
}

// intUnary maps the unary ops that are exact on integers to their kernels
// (i32, i64). Floor, Ceil and Round are the identity on integers.
var intUnary = map[tensor.UnaryOp]string{
	tensor.OpNeg: "neg", tensor.OpAbs: "abs", tensor.OpSign: "sign", tensor.OpSquare: "square",
	tensor.OpReLU: "relu", tensor.OpStep: "step", tensor.OpClamp: "clamp", tensor.OpAffine: "affine",
	tensor.OpLeakyReLU: "leaky_relu", tensor.OpFloor: "identity", tensor.OpCeil: "identity", tensor.OpRound: "identity",
}

var binaryArith = map[tensor.BinaryOp]string{
	tensor.OpAdd: "add", tensor.OpSub: "sub", tensor.OpMul: "mul", tensor.OpDiv: "div",
	tensor.OpMaximum: "maximum", tensor.OpMinimum: "minimum", tensor.OpPow: "pow",
}

var binaryCompare = map[tensor.BinaryOp]string{
	tensor.OpEq: "eq", tensor.OpNe: "ne", tensor.OpLt: "lt", tensor.OpLe: "le", tensor.OpGt: "gt", tensor.OpGe: "ge",
}

var binaryLogical = map[tensor.BinaryOp]string{tensor.OpAnd: "and", tensor.OpOr: "or", tensor.OpXor: "xor"}

var reduceName = map[tensor.ReduceOp]string{
	tensor.ReduceSum: "sum", tensor.ReduceProd: "prod", tensor.ReduceMax: "max", tensor.ReduceMin: "min",
	tensor.ReduceArgMax: "argmax", tensor.ReduceArgMin: "argmin",
}

// unaryKernel returns the kernel for op on dt and whether it takes integer
// parameters; "" when there is none (the host fallback runs instead).
func unaryKernel(op tensor.UnaryOp, dt tensor.DType, p0 float64) (name string, intParams bool) {
	switch {
	case dt.IsFloat():
		if n, ok := floatUnary[op]; ok {
			return "tess_td_unary_" + n + "_" + dtypeName[dt], false
		}
	case dt.IsInt():
		if op == tensor.OpPowScalar {
			switch p0 {
			case 1:
				return "tess_td_iunary_identity_" + dtypeName[dt], true
			case 2:
				return "tess_td_iunary_square_" + dtypeName[dt], true
			}
			return "", false
		}
		if n, ok := intUnary[op]; ok {
			return "tess_td_iunary_" + n + "_" + dtypeName[dt], true
		}
	case dt == tensor.Bool:
		if op == tensor.OpNot {
			return "tess_td_not_bool", false
		}
	}
	return "", false
}

// binaryKernel returns the kernel for op on operands of dtype dt, or "".
func binaryKernel(op tensor.BinaryOp, dt tensor.DType) string {
	if n, ok := binaryCompare[op]; ok {
		if dt == tensor.Bool && op != tensor.OpEq && op != tensor.OpNe {
			return ""
		}
		return "tess_td_cmp_" + n + "_" + dtypeName[dt]
	}
	if n, ok := binaryLogical[op]; ok {
		if dt != tensor.Bool {
			return ""
		}
		return "tess_td_logic_" + n + "_bool"
	}
	if n, ok := binaryArith[op]; ok && dt != tensor.Bool {
		return "tess_td_binary_" + n + "_" + dtypeName[dt]
	}
	return ""
}

// reduceKernel returns the row-reduction kernel (one block per row, or one
// thread per row when perThread).
func reduceKernel(op tensor.ReduceOp, dt tensor.DType, perThread bool) string {
	k := "tess_td_reduce_"
	if perThread {
		k = "tess_td_reducet_"
	}
	return k + reduceName[op] + "_" + dtypeName[dt]
}

func softmaxKernel(dt tensor.DType) string    { return "tess_td_softmax_" + dtypeName[dt] }
func scatterAddKernel(dt tensor.DType) string { return "tess_td_scatter_add_" + dtypeName[dt] }
func randKernel(dt tensor.DType) string       { return "tess_td_rand_" + dtypeName[dt] }

var (
	ptxOnce  sync.Once
	ptxNames map[string]bool
)

// embeddedKernels is the set of kernel entry points in the embedded PTX.
func embeddedKernels() map[string]bool {
	ptxOnce.Do(func() {
		ptxNames = map[string]bool{}
		for _, m := range cudakernels.Modules() {
			b, err := cudakernels.PTX(m)
			if err != nil {
				continue
			}
			for _, e := range cudakernels.Entries(b) {
				ptxNames[e] = true
			}
		}
	})
	return ptxNames
}

// hasKernel reports whether the embedded PTX defines name.
func hasKernel(name string) bool { return name != "" && embeddedKernels()[name] }

// allKernelNames lists every kernel name the dispatch tables can produce
// (for tests and the package doc), sorted.
func allKernelNames() []string {
	set := map[string]bool{}
	all := []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16, tensor.Int32, tensor.Int64, tensor.Bool}
	for _, dt := range all {
		set[copyKernel(dt)] = true
		set[fillKernel(dt)] = true
		set[whereKernel(dt)] = true
		set[gatherKernel(dt)] = true
		for _, to := range all {
			if to != dt {
				set[castKernel(dt, to)] = true
			}
		}
		for op := tensor.UnaryOp(0); op <= tensor.OpStep; op++ {
			for _, p0 := range []float64{1, 2, 3} {
				if n, _ := unaryKernel(op, dt, p0); n != "" {
					set[n] = true
				}
			}
		}
		for op := tensor.OpAdd; op <= tensor.OpXor; op++ {
			if n := binaryKernel(op, dt); n != "" {
				set[n] = true
			}
		}
		for op := range reduceName {
			set[reduceKernel(op, dt, false)] = true
			set[reduceKernel(op, dt, true)] = true
		}
		if dt.IsFloat() {
			set[softmaxKernel(dt)] = true
		}
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int32, tensor.Int64} {
		set[scatterAddKernel(dt)] = true
	}
	set[randKernel(tensor.Float32)] = true
	set[randKernel(tensor.Float64)] = true
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
