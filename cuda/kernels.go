package cuda

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync"

	"github.com/tessera-ml/tessera/kernels/cudakernels"
)

// DType names the element types of the kernels ("f32", "f64", "f16",
// "bf16", "i32", "i64"), as they appear in kernel names.
type DType string

// Kernel element types.
const (
	F32  DType = "f32"
	F64  DType = "f64"
	F16  DType = "f16"
	BF16 DType = "bf16"
	I32  DType = "i32"
	I64  DType = "i64"
)

// AllDTypes is every kernel element type.
var AllDTypes = []DType{F32, F64, F16, BF16, I32, I64}

// FloatDTypes are the types with arithmetic kernels.
var FloatDTypes = []DType{F32, F64}

// Op names of the elementwise kernels (see kernels/cudakernels/elementwise.cu).
var (
	UnaryOps = []string{"neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid",
		"relu", "gelu", "silu", "square", "recip", "sign", "floor", "ceil", "log1p", "expm1"}
	BinaryOps = []string{"add", "sub", "mul", "div", "maximum", "minimum", "pow",
		"eq", "ne", "lt", "le", "gt", "ge"}
	ReduceOps = []string{"sum", "prod", "max", "min"}
)

// Kernel name builders. They do not check that the kernel exists; Kernels
// does, and KernelNames/TestKernelNamesExist keep the lists in sync.
func UnaryKernel(op string, t DType) string    { return "tess_unary_" + op + "_" + string(t) }
func BinaryKernel(op string, t DType) string   { return "tess_binary_" + op + "_" + string(t) }
func CastKernel(from, to DType) string         { return "tess_cast_" + string(from) + "_" + string(to) }
func CopyKernel(t DType) string                { return "tess_copy_" + string(t) }
func FillKernel(t DType) string                { return "tess_fill_" + string(t) }
func ReduceKernel(op string, t DType) string   { return "tess_reduce_" + op + "_" + string(t) }
func RowKernel(name string, t DType) string    { return "tess_" + name + "_" + string(t) }
func PhiloxKernel(dist string, t DType) string { return "tess_philox_" + dist + "_" + string(t) }

// CoreModules are the kernels/cudakernels modules whose kernels KernelNames
// lists (other modules, such as a tensor device's own kernels, may be
// embedded beside them; Kernels loads them all).
var CoreModules = []string{"elementwise", "index", "optim", "random", "reduce"}

// rowKernels are the per-row kernels of reduce.cu, index.cu and optim.cu
// (instantiated for f32 and f64).
var rowKernels = []string{"softmax", "log_softmax", "softmax_bwd", "log_softmax_bwd",
	"layernorm_fwd", "layernorm_bwd_dx", "layernorm_bwd_dgamma",
	"cross_entropy_fwd", "cross_entropy_bwd",
	"gather", "scatter_add", "im2col", "col2im", "adam", "sgd", "where"}

// KernelNames lists every kernel the Go side may launch, sorted.
func KernelNames() []string {
	var n []string
	for _, t := range FloatDTypes {
		for _, op := range UnaryOps {
			n = append(n, UnaryKernel(op, t))
		}
		for _, op := range BinaryOps {
			n = append(n, BinaryKernel(op, t))
		}
		for _, op := range ReduceOps {
			n = append(n, ReduceKernel(op, t))
		}
		for _, k := range rowKernels {
			n = append(n, RowKernel(k, t))
		}
		n = append(n, PhiloxKernel("uniform", t), PhiloxKernel("normal", t))
	}
	n = append(n, PhiloxKernel("bernoulli", F32), "tess_philox_bits")
	for _, a := range AllDTypes {
		n = append(n, CopyKernel(a), FillKernel(a))
		for _, b := range AllDTypes {
			n = append(n, CastKernel(a, b))
		}
	}
	sort.Strings(n)
	return n
}

// MaxDims is the most dimensions a Strided descriptor holds.
const MaxDims = 8

// StridedSize is the size in bytes of the C struct TessStrided.
const StridedSize = 8 + 8*MaxDims + 3*8*MaxDims

// Strided is the shape/stride descriptor of the elementwise kernels
// (struct TessStrided in kernels/cudakernels/tess_common.cuh): a broadcast shape
// and, for each of up to three operands (out, a, b), its strides in
// elements (0 for a broadcast dimension). It is passed by value.
type Strided struct {
	Shape   []int64
	Strides [3][]int64
}

// Numel is the number of elements of the shape.
func (s Strided) Numel() int64 {
	n := int64(1)
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// Bytes encodes the descriptor in the kernel's layout.
func (s Strided) Bytes() ([]byte, error) {
	if len(s.Shape) > MaxDims {
		return nil, fmt.Errorf("cuda: %d dimensions (max %d): coalesce or split the op", len(s.Shape), MaxDims)
	}
	b := make([]byte, StridedSize)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(s.Shape)))
	for i, d := range s.Shape {
		binary.LittleEndian.PutUint64(b[8+8*i:], uint64(d))
	}
	for k := 0; k < 3; k++ {
		st := s.Strides[k]
		if st != nil && len(st) != len(s.Shape) {
			return nil, fmt.Errorf("cuda: operand %d has %d strides for %d dimensions", k, len(st), len(s.Shape))
		}
		for i, v := range st {
			binary.LittleEndian.PutUint64(b[8+8*MaxDims+8*(k*MaxDims+i):], uint64(v))
		}
	}
	return b, nil
}

// PackArg implements ArgPacker.
func (s Strided) PackArg(a *Args) {
	b, err := s.Bytes()
	if err != nil {
		if a.err == nil {
			a.err = err
		}
		return
	}
	a.Struct(b, 8)
}

// Contiguous returns the row-major strides of shape.
func Contiguous(shape []int64) []int64 {
	st := make([]int64, len(shape))
	acc := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// Kernels is the set of embedded PTX modules loaded on one device.
type Kernels struct {
	d      *Device
	mods   map[string]*Module
	module map[string]string // kernel name -> module name
}

var kernelsMu sync.Mutex

// Kernels loads every embedded PTX module (kernels/cudakernels) on the device the
// first time it is called and returns the set; later calls return the same
// set. Loading JIT-compiles the PTX (the driver caches the result on disk).
func (d *Device) Kernels() (*Kernels, error) {
	kernelsMu.Lock()
	defer kernelsMu.Unlock()
	d.mu.Lock()
	k := d.kernels
	d.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k = &Kernels{d: d, mods: map[string]*Module{}, module: map[string]string{}}
	for _, name := range cudakernels.Modules() {
		ptx, err := cudakernels.PTX(name)
		if err != nil {
			return nil, err
		}
		m, err := d.LoadModule(ptx)
		if err != nil {
			return nil, fmt.Errorf("cuda: loading kernels/cudakernels/ptx/%s.ptx: %w", name, err)
		}
		k.mods[name] = m
		for _, e := range cudakernels.Entries(ptx) {
			k.module[e] = name
		}
	}
	d.mu.Lock()
	d.kernels = k
	d.mu.Unlock()
	return k, nil
}

// Function returns a kernel by name.
func (k *Kernels) Function(name string) (*Function, error) {
	mod, ok := k.module[name]
	if !ok {
		return nil, fmt.Errorf("cuda: no kernel %q in the embedded PTX", name)
	}
	return k.mods[mod].Function(name)
}

// Block sizes used by the launch helpers.
const (
	ElementwiseBlock = 256
	RowBlock         = 256
)

// GridFor returns a 1-D grid for n work items at block threads per block,
// capped at 32 blocks per multiprocessor (the kernels loop grid-stride).
func (k *Kernels) GridFor(n int64, block int) Dim3 {
	g := (n + int64(block) - 1) / int64(block)
	if max := int64(k.d.props.MultiProcessors) * 32; max > 0 && g > max {
		g = max
	}
	if g < 1 {
		g = 1
	}
	return D1(int(g))
}

// Launch1D launches a grid-stride kernel over n work items (elements, or
// Philox blocks for the random kernels) with ElementwiseBlock threads.
func (k *Kernels) Launch1D(name string, n int64, s *Stream, args ...any) error {
	f, err := k.Function(name)
	if err != nil {
		return err
	}
	return f.Launch(k.GridFor(n, ElementwiseBlock), D1(ElementwiseBlock), 0, s, args...)
}

// LaunchRows launches a one-block-per-row kernel (reductions, softmax,
// layer norm, cross-entropy forward) over rows rows.
func (k *Kernels) LaunchRows(name string, rows int64, s *Stream, args ...any) error {
	f, err := k.Function(name)
	if err != nil {
		return err
	}
	g := rows
	if g > 65535*16 {
		g = 65535 * 16
	}
	if g < 1 {
		g = 1
	}
	return f.Launch(D1(int(g)), D1(RowBlock), 0, s, args...)
}
