// Package devicetest is the conformance suite every tensor.Device must pass.
//
// Run checks each primitive of the Device interface against a float64
// reference written here with plain loops over multi-indices (it never calls
// the CPU kernels), on random inputs created on the device under test and
// read back with To(tensor.CPU). It covers every dtype a primitive accepts,
// broadcast (stride-0) operands, non-contiguous operands (permuted, stepped,
// offset), 0-d and zero-size tensors, in-place use (dst is the input view),
// and that a kernel writes nothing outside its destination view.
//
// A backend's test calls it once:
//
//	func TestConformance(t *testing.T) { devicetest.Run(t, dev) }
//
// # Tolerances
//
// Exact primitives (Fill, Copy, Where, Gather, Max/Min/ArgMax/ArgMin,
// comparisons, integer arithmetic, RandomFill's uniform, Bernoulli and
// integer draws) must match the reference exactly; Copy into a narrower
// float rounds once, to nearest even. Rounded results must satisfy
//
//	|got - want| <= rel(dtype) · (|want| + cond)
//
// where want is the float64 reference rounded to the dtype and cond is the
// operation's conditioning term: |x·f'(x)| for a unary f, Σ|terms| for sums
// and matrix products, the spread of a softmax row, and so on. rel is 1e-12
// for float64, 1e-6 for float32 (about 8 ulp), 1e-3 for float16 (2 ulp) and
// 8e-3 for bfloat16 (2 ulp), so a device may compute the 16-bit types in
// float32 and float32 in float32.
package devicetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// Run runs the conformance suite on dev.
func Run(t *testing.T, dev tensor.Device) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"Storage", testStorage},
		{"Fill", testFill},
		{"Copy", testCopy},
		{"CopyRounding", testCopyRounding},
		{"Unary", testUnary},
		{"UnarySpecial", testUnarySpecial},
		{"Binary", testBinary},
		{"BinarySpecial", testBinarySpecial},
		{"Where", testWhere},
		{"Reduce", testReduce},
		{"ReduceSpecial", testReduceSpecial},
		{"MatMul", testMatMul},
		{"Gather", testGather},
		{"ScatterAdd", testScatterAdd},
		{"Softmax", testSoftmax},
		{"RandomFill", testRandomFill},
		{"Ops", testOps},
		{"Fused", testFused},
		{"Expanded", testExpanded},
		{"Sort", testSort},
		{"Norm", testNorm},
		{"PairwiseSqDist", testPairwiseSqDist},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{t: t, dev: dev, rng: rand.New(rand.NewPCG(uint64(i)+1, 0x5eed))}
			tc.fn(e)
		})
	}
}

// Float dtypes, integer dtypes, and all dtypes.
var (
	floatDTypes = []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16}
	intDTypes   = []tensor.DType{tensor.Int32, tensor.Int64}
	allDTypes   = []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16, tensor.Int32, tensor.Int64, tensor.Bool}
)

// rel is the relative tolerance of dtype dt (see the package doc).
func rel(dt tensor.DType) float64 {
	switch dt {
	case tensor.Float64:
		return 1e-12
	case tensor.Float32:
		return 1e-6
	case tensor.Float16:
		return 1e-3
	case tensor.BFloat16:
		return 8e-3
	}
	return 0 // integers and bool: exact
}

type env struct {
	t   *testing.T
	dev tensor.Device
	rng *rand.Rand
}

// run runs f as a subtest with its own env.
func (e *env) run(name string, f func(e *env)) {
	e.t.Run(name, func(t *testing.T) {
		f(&env{t: t, dev: e.dev, rng: e.rng})
	})
}

// buffer is a storage on the device under test and the values it was
// created with (as float64, exact for every dtype).
type buffer struct {
	dt   tensor.DType
	vals []float64
	st   tensor.Storage
}

// hostStorage encodes values representable in dt as CPU storage, bit for bit.
func hostStorage(dt tensor.DType, vals []float64) tensor.Storage {
	var buf any
	switch dt {
	case tensor.Float32:
		b := make([]float32, len(vals))
		for i, v := range vals {
			b[i] = float32(v)
		}
		buf = b
	case tensor.Float64:
		buf = slices.Clone(vals)
	case tensor.BFloat16:
		b := make([]uint16, len(vals))
		for i, v := range vals {
			b[i] = bf16Bits(v)
		}
		buf = b
	case tensor.Float16:
		b := make([]uint16, len(vals))
		for i, v := range vals {
			b[i] = f16Bits(v)
		}
		buf = b
	case tensor.Int32:
		b := make([]int32, len(vals))
		for i, v := range vals {
			b[i] = int32(v)
		}
		buf = b
	case tensor.Int64:
		b := make([]int64, len(vals))
		for i, v := range vals {
			b[i] = int64(v)
		}
		buf = b
	case tensor.Bool:
		b := make([]bool, len(vals))
		for i, v := range vals {
			b[i] = v != 0
		}
		buf = b
	}
	return tensor.NewHostStorage(dt, buf)
}

// decodeHost returns the elements of a CPU storage as float64.
func decodeHost(st tensor.Storage) []float64 {
	var out []float64
	switch b := tensor.HostData(st).(type) {
	case []float32:
		for _, v := range b {
			out = append(out, float64(v))
		}
	case []float64:
		out = slices.Clone(b)
	case []uint16:
		dec := f16Value
		if st.DType() == tensor.BFloat16 {
			dec = bf16Value
		}
		for _, v := range b {
			out = append(out, dec(v))
		}
	case []int32:
		for _, v := range b {
			out = append(out, float64(v))
		}
	case []int64:
		for _, v := range b {
			out = append(out, float64(v))
		}
	case []bool:
		for _, v := range b {
			if v {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		}
	default:
		panic(fmt.Sprintf("devicetest: storage %T is not on the CPU", st))
	}
	if out == nil {
		out = []float64{}
	}
	return out
}

// upload creates a device buffer holding vals (which must be representable in dt).
func (e *env) upload(dt tensor.DType, vals []float64) *buffer {
	host := tensor.FromView(tensor.View{Storage: hostStorage(dt, vals), Shape: []int{len(vals)}, Strides: []int{1}})
	d := host.To(e.dev)
	require.Equal(e.t, e.dev, d.Device(), "To(dev) must place the tensor on the device")
	require.Equal(e.t, dt, d.DType())
	return &buffer{dt: dt, vals: slices.Clone(vals), st: d.Storage()}
}

// download reads a device storage back, all of it.
func (e *env) download(st tensor.Storage) []float64 {
	n := st.Len()
	t := tensor.FromView(tensor.View{Storage: st, Shape: []int{n}, Strides: []int{1}})
	h := t.To(tensor.CPU)
	require.Equal(e.t, tensor.CPU, h.Device())
	vals := decodeHost(h.Storage())
	require.Equal(e.t, 0, h.Offset())
	require.Len(e.t, vals, n)
	return vals
}

// layout names how an operand is laid out over its storage.
type layout int

const (
	contiguous    layout = iota // row-major from offset 0
	offsetL                     // row-major from a non-zero offset, with elements after it
	permuted                    // axes stored in reverse order (column-major); a transpose
	stepped                     // every other element along every axis, from an offset
	broadcastHead               // axis 0 has stride 0 (an Expand of a size-1 axis)
	broadcastTail               // the last axis has stride 0
	broadcastAll                // every stride 0 (an expanded scalar)
)

var layoutNames = [...]string{"contiguous", "offset", "permuted", "stepped", "bcast-head", "bcast-tail", "bcast-all"}

func (l layout) String() string { return layoutNames[l] }

// Layouts an input may have, and those a destination may have.
var (
	inputLayouts = []layout{contiguous, offsetL, permuted, stepped, broadcastHead, broadcastTail}
	dstLayouts   = []layout{contiguous, offsetL, permuted, stepped}
)

// operand is a strided view of a buffer.
type operand struct {
	buf     *buffer
	shape   []int
	strides []int
	offset  int
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// geometry returns strides, offset and storage length for shape laid out as l.
func geometry(shape []int, l layout) (strides []int, offset, size int) {
	nd := len(shape)
	switch l {
	case offsetL:
		return tensor.ContiguousStrides(shape), 5, numel(shape) + 9
	case permuted:
		strides = make([]int, nd)
		acc := 1
		for i := range nd {
			strides[i] = acc
			acc *= shape[i]
		}
		return strides, 0, numel(shape)
	case stepped:
		mem := make([]int, nd)
		for i, d := range shape {
			mem[i] = 2*d + 1
		}
		strides = tensor.ContiguousStrides(mem)
		for i := range strides {
			strides[i] *= 2
		}
		return strides, 3, numel(mem)*2 + 4
	case broadcastHead, broadcastTail, broadcastAll:
		base := slices.Clone(shape)
		for i := range base {
			if l == broadcastAll || (l == broadcastHead && i == 0) || (l == broadcastTail && i == nd-1) {
				base[i] = 1
			}
		}
		strides = tensor.ContiguousStrides(base)
		for i := range strides {
			if base[i] == 1 && shape[i] != 1 {
				strides[i] = 0
			}
		}
		return strides, 1, numel(base) + 2
	}
	return tensor.ContiguousStrides(shape), 0, numel(shape)
}

// newOperand makes a device operand of the given shape and layout; every
// element of its storage (also those outside the view) comes from gen.
func (e *env) newOperand(dt tensor.DType, shape []int, l layout, gen func() float64) operand {
	strides, off, size := geometry(shape, l)
	vals := make([]float64, size)
	for i := range vals {
		vals[i] = quantize(dt, gen())
	}
	return operand{buf: e.upload(dt, vals), shape: slices.Clone(shape), strides: strides, offset: off}
}

func (o operand) view() tensor.View {
	return tensor.View{Storage: o.buf.st, Shape: slices.Clone(o.shape), Strides: slices.Clone(o.strides), Offset: o.offset}
}

func (o operand) tensor() *tensor.Tensor { return tensor.FromView(o.view()) }

func (o operand) pos(idx []int) int {
	p := o.offset
	for i, x := range idx {
		p += x * o.strides[i]
	}
	return p
}

// at returns the element at idx as created.
func (o operand) at(idx []int) float64 { return o.buf.vals[o.pos(idx)] }

// values returns the view's elements in row-major order, as created.
func (o operand) values() []float64 {
	out := make([]float64, 0, numel(o.shape))
	forEach(o.shape, func(idx []int) { out = append(out, o.at(idx)) })
	return out
}

// same returns an operand over the same storage as o (for in-place use).
func (o operand) same() operand { return o }

// forEach calls f with every multi-index of shape in row-major order (f must not keep idx).
func forEach(shape []int, f func(idx []int)) {
	n := numel(shape)
	idx := make([]int, len(shape))
	for k := 0; k < n; k++ {
		f(idx)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// checkDst reads dst's storage back and checks the view's elements against
// want (row-major) with check, and that every element outside the view kept
// the value it was created with.
func (e *env) checkDst(what string, dst operand, want []float64, check func(i int, got, want float64) bool) {
	e.t.Helper()
	got := e.download(dst.buf.st)
	inView := make([]bool, len(got))
	var bad []string
	nbad := 0
	i := 0
	forEach(dst.shape, func(idx []int) {
		p := dst.pos(idx)
		inView[p] = true
		if !check(i, got[p], want[i]) {
			nbad++
			if len(bad) < 6 {
				bad = append(bad, fmt.Sprintf("at %v: got %v, want %v", slices.Clone(idx), got[p], want[i]))
			}
		}
		i++
	})
	for p, v := range got {
		if !inView[p] && !sameValue(v, dst.buf.vals[p]) {
			nbad++
			if len(bad) < 6 {
				bad = append(bad, fmt.Sprintf("storage element %d outside the destination view changed from %v to %v", p, dst.buf.vals[p], v))
			}
		}
	}
	if nbad > 0 {
		e.t.Errorf("%s: %d wrong elements (dtype %v, shape %v, strides %v, offset %d):\n\t%s",
			what, nbad, dst.buf.dt, dst.shape, dst.strides, dst.offset, strings.Join(bad, "\n\t"))
	}
}

// sameValue is equality that also matches NaN with NaN and tells -0 from +0 apart only for NaN-free equality.
func sameValue(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// exact checks for identical values (NaN matches NaN).
func exact(_ int, got, want float64) bool { return sameValue(got, want) }

// within returns a check that accepts |got-want| <= r·(|want| + cond[i]);
// infinities and NaN must match exactly.
func within(r float64, cond []float64) func(int, float64, float64) bool {
	return func(i int, got, want float64) bool {
		if sameValue(got, want) {
			return true
		}
		if math.IsNaN(want) || math.IsInf(want, 0) || math.IsNaN(got) || math.IsInf(got, 0) {
			return false
		}
		c := 0.0
		if cond != nil {
			c = cond[i]
		}
		return math.Abs(got-want) <= r*(math.Abs(want)+c)
	}
}

// checker returns exact for integer and bool dtypes, else within(rel(dt), cond).
func checker(dt tensor.DType, cond []float64) func(int, float64, float64) bool {
	if !dt.IsFloat() {
		return exact
	}
	return within(rel(dt), cond)
}

// uniform returns a generator of values in [lo, hi) that are never zero.
func (e *env) uniform(lo, hi float64) func() float64 {
	return func() float64 {
		for {
			v := lo + (hi-lo)*e.rng.Float64()
			if v != 0 {
				return v
			}
		}
	}
}

// magnitude returns a generator of values with |v| in [lo, hi) and a random sign.
func (e *env) magnitude(lo, hi float64) func() float64 {
	return func() float64 {
		v := lo + (hi-lo)*e.rng.Float64()
		if e.rng.IntN(2) == 0 {
			return -v
		}
		return v
	}
}

// ints returns a generator of integers in [lo, hi], skipping zero when noZero.
func (e *env) ints(lo, hi int, noZero bool) func() float64 {
	return func() float64 {
		for {
			v := lo + e.rng.IntN(hi-lo+1)
			if v != 0 || !noZero {
				return float64(v)
			}
		}
	}
}

// bools returns a generator of random 0/1 values.
func (e *env) bools() func() float64 {
	return func() float64 { return float64(e.rng.IntN(2)) }
}

// defaultGen returns random values suited to dt: floats in ±[0.1, 4), ints in
// [-50, 50] without zero, and random bools.
func (e *env) defaultGen(dt tensor.DType) func() float64 {
	switch {
	case dt.IsFloat():
		return e.magnitude(0.1, 4)
	case dt == tensor.Bool:
		return e.bools()
	}
	return e.ints(-50, 50, true)
}

func shapeName(shape []int) string { return fmt.Sprint(shape) }
