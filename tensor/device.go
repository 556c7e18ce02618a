package tensor

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Storage is a flat buffer of elements owned by a device. Tensors are views
// (shape, strides, offset) over a Storage; several tensors may share one.
type Storage interface {
	Device() Device
	DType() DType
	Len() int
}

// View is what a device kernel sees of a tensor: its storage and the
// layout of the elements it addresses. Strides are in elements and may be
// zero (broadcast); they are never negative.
type View struct {
	Storage Storage
	Shape   []int
	Strides []int
	Offset  int
}

// DType returns the element type of the view's storage.
func (v View) DType() DType { return v.Storage.DType() }

// UnaryOp names an elementwise operation of one operand.
type UnaryOp uint8

// The unary operations. Params of Device.Unary: Pow uses p0 as the exponent,
// Clamp uses [p0, p1], LeakyReLU uses p0 as the slope, Affine computes p0*x+p1.
const (
	OpNeg UnaryOp = iota
	OpAbs
	OpSign
	OpExp
	OpLog
	OpLog1p
	OpSqrt
	OpRsqrt
	OpSin
	OpCos
	OpTanh
	OpSigmoid
	OpReLU
	OpGELUTanh
	OpGELUErf
	OpPowScalar
	OpClamp
	OpSquare
	OpRecip
	OpAffine
	OpNot
	OpFloor
	OpCeil
	OpRound
	OpErf
	OpLeakyReLU
	OpStep // 1 where x > 0, else 0 (the derivative of ReLU)
	numUnaryOps
)

// BinaryOp names an elementwise operation of two operands.
type BinaryOp uint8

// The binary operations. Comparisons and logical ops produce Bool.
const (
	OpAdd BinaryOp = iota
	OpSub
	OpMul
	OpDiv
	OpMaximum
	OpMinimum
	OpPow
	OpEq
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpAnd
	OpOr
	OpXor
	numBinaryOps
)

func (op BinaryOp) isCompare() bool { return op >= OpEq && op <= OpGe }
func (op BinaryOp) isLogical() bool { return op >= OpAnd }

// ReduceOp names a reduction.
type ReduceOp uint8

// The reductions. ArgMax and ArgMin write Int64 indices (first occurrence).
const (
	ReduceSum ReduceOp = iota
	ReduceProd
	ReduceMax
	ReduceMin
	ReduceArgMax
	ReduceArgMin
)

// Distribution names what Device.RandomFill draws.
type Distribution uint8

// The distributions of RandomFill. Uniform draws in [p0, p1); Normal has mean
// p0 and standard deviation p1; Bernoulli is 1 with probability p0; RandInt
// draws integers in [p0, p1).
const (
	Uniform Distribution = iota
	Normal
	BernoulliDist
	RandInt
)

// Device is the small set of primitive kernels a backend implements. Every
// tensor op is built from these. Kernels receive views that the tensor layer
// has already checked: shapes agree (broadcast operands come with zero
// strides), dtypes are as documented, and dst never overlaps an input unless
// it is the same element-for-element view (in-place). A kernel may run
// asynchronously; reading data back (ToHost) waits for it.
type Device interface {
	// Name identifies the device, e.g. "cpu" or "cuda:0".
	Name() string
	// Alloc returns zeroed storage for n elements, or an error (out of memory).
	Alloc(dt DType, n int) (Storage, error)
	// ToHost copies storage to a new CPU storage.
	ToHost(s Storage) (Storage, error)
	// FromHost copies CPU storage to a new storage on this device.
	FromHost(s Storage) (Storage, error)

	// Fill sets every element of dst to v.
	Fill(dst View, v float64)
	// Copy copies src into dst (same shape), converting the dtype.
	Copy(dst, src View)
	// Unary applies op elementwise: dst = op(x). dst and x have the same dtype.
	Unary(op UnaryOp, dst, x View, p0, p1 float64)
	// Binary applies op elementwise: dst = a op b. a and b share a dtype; dst
	// has it too, or Bool for comparisons.
	Binary(op BinaryOp, dst, a, b View)
	// Where sets dst = cond ? a : b; cond is Bool.
	Where(dst, cond, a, b View)
	// Reduce reduces the last nred axes of src into dst, whose shape is
	// src.Shape[:len-nred]. Arg reductions take nred == 1 and write Int64.
	Reduce(op ReduceOp, dst, src View, nred int)
	// MatMul computes dst = a @ b over shapes [batch..., M, K] @ [batch..., K, N]
	// -> [batch..., M, N]; all three have the same rank and batch shape.
	MatMul(dst, a, b View)
	// Gather sets dst[i][j][k] = src[i][index[i][j][k]][k] along axis (index is Int64
	// and has dst's shape).
	Gather(dst, src, index View, axis int)
	// ScatterAdd adds src[i][j][k] into dst[i][index[i][j][k]][k] along axis.
	ScatterAdd(dst, index, src View, axis int)
	// Softmax writes the softmax (or log-softmax) of src along its last axis.
	Softmax(dst, src View, log bool)
	// RandomFill draws dst from the Philox-4x32-10 stream at (seed, offset); see Generator.
	RandomFill(dst View, dist Distribution, seed, offset uint64, p0, p1 float64)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]func(ordinal int) (Device, error){}
)

// RegisterDevice makes a device kind available to GetDevice under name (e.g.
// "cuda"). Backends call it from init, the way database/sql drivers do.
func RegisterDevice(kind string, open func(ordinal int) (Device, error)) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic(Errorf("tensor.RegisterDevice", "device kind %s registered twice", kind))
	}
	registry[kind] = open
}

// DeviceKinds lists the registered device kinds, "cpu" included.
func DeviceKinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	kinds := []string{"cpu"}
	for k := range registry {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds[1:])
	return kinds
}

// GetDevice returns the device named like "cpu", "cuda" or "cuda:1".
func GetDevice(name string) (Device, error) {
	kind, ord := name, 0
	if i := strings.IndexByte(name, ':'); i >= 0 {
		kind = name[:i]
		if _, err := fmt.Sscanf(name[i+1:], "%d", &ord); err != nil || ord < 0 {
			return nil, fmt.Errorf("tensor: bad device name %q", name)
		}
	}
	if kind == "cpu" {
		return CPU, nil
	}
	registryMu.RLock()
	open, ok := registry[kind]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("tensor: no device kind %q registered (have %v)", kind, DeviceKinds())
	}
	return open(ord)
}
