package tensor_test

import (
	"errors"
	"fmt"

	"github.com/tessera-ml/tessera/tensor"
)

// Views share storage: Transpose, Slice and Expand change only the shape,
// the strides (in elements) and the offset, so a write through a view is
// seen by its base. Contiguous copies only a tensor that is not row-major.
func Example_viewsAndStrides() {
	a := tensor.Arange(0, 12, 1, tensor.Float32).Reshape(3, 4)
	fmt.Println("a      ", a.Shape(), a.Strides(), a.Offset(), a.IsContiguous())

	t := a.T() // [4 3], the strides swapped
	fmt.Println("a.T()  ", t.Shape(), t.Strides(), t.Offset(), t.IsContiguous())

	s := a.Slice(1, 1, 4, 2) // columns 1 and 3
	fmt.Println("slice  ", s.Shape(), s.Strides(), s.Offset(), s.IsContiguous())

	r := a.Select(0, 2) // row 2
	fmt.Println("row 2  ", r.Shape(), r.Strides(), r.Offset())

	e := tensor.FromSlice([]float32{1, 2, 3}, 3, 1).Expand(3, 4) // stride 0 repeats
	fmt.Println("expand ", e.Shape(), e.Strides())

	s.Set(100, 0, 0) // writes a[0][1]
	fmt.Println(a.At(0, 1))
	c := t.Contiguous()
	fmt.Println("copy   ", c.Shape(), c.Strides(), c.IsContiguous())
	// Output:
	// a       [3 4] [4 1] 0 true
	// a.T()   [4 3] [1 4] 0 false
	// slice   [3 2] [4 2] 1 false
	// row 2   [4] [1] 8
	// expand  [3 4] [1 0]
	// 100
	// copy    [4 3] [3 1] true
}

// Binary ops promote dtypes as PyTorch does: the wider float wins, a float
// beats any integer, BFloat16 with Float16 gives Float32, and true division
// or a float function of integers gives Float32. Comparisons give Bool and
// integer sums Int64; a Go scalar keeps the tensor's dtype unless it needs a
// float.
func Example_dtypePromotion() {
	ones := func(dt tensor.DType) *tensor.Tensor { return tensor.Ones(dt, 2) }
	fmt.Println(tensor.Add(ones(tensor.Int32), ones(tensor.Int64)).DType())
	fmt.Println(tensor.Add(ones(tensor.Int64), ones(tensor.Float16)).DType())
	fmt.Println(tensor.Add(ones(tensor.BFloat16), ones(tensor.Float16)).DType())
	fmt.Println(tensor.Add(ones(tensor.Float32), ones(tensor.Float64)).DType())
	q := tensor.Div(tensor.FromSlice([]int64{5}), tensor.FromSlice([]int64{2}))
	fmt.Println(q.DType(), q.Float32s())
	fmt.Println(tensor.Lt(ones(tensor.Float16), ones(tensor.Int32)).DType())
	fmt.Println(tensor.Sum(ones(tensor.Int32), false).DType())
	fmt.Println(tensor.AddScalar(ones(tensor.Int64), 2).DType(), tensor.AddScalar(ones(tensor.Int64), 0.5).DType())
	// Output:
	// int64
	// float16
	// float32
	// float64
	// float32 [2.5]
	// bool
	// int64
	// int64 float32
}

// Broadcasting follows NumPy: shapes are aligned at the right, and each pair
// of sizes must be equal or one of them 1 (a missing axis counts as 1). The
// broadcast operand is read through stride-0 views, never copied.
func Example_broadcasting() {
	col := tensor.FromSlice([]float32{1, 2, 3}, 3, 1)
	row := tensor.FromSlice([]float32{10, 20}, 2)
	fmt.Println(tensor.Add(col, row)) // [3 1] + [2] -> [3 2]

	shape, err := tensor.BroadcastShapes([]int{8, 1, 6, 1}, []int{7, 1, 5})
	fmt.Println(shape, err)
	_, err = tensor.BroadcastShapes([]int{2, 3}, []int{4})
	fmt.Println(err != nil)
	// Output:
	// [[11. 21.]
	//  [12. 22.]
	//  [13. 23.]]
	// [8 7 6 5] <nil>
	// true
}

// The Generator is Philox-4x32-10, a counter-based generator: a seed and an
// offset fully determine every draw, on every device, so a stream can be
// saved with State and replayed with SetState, and two generators with the
// same seed give the same tensors.
func ExampleGenerator() {
	g := tensor.NewGenerator(42)
	seed, off := g.State()
	x := g.Uniform(0, 1, tensor.Float64, 4)
	fmt.Println(seed, off)
	_, after := g.State()
	fmt.Println(after) // 4 float64s of two 32-bit words each

	g.SetState(seed, off) // replay
	y := g.Uniform(0, 1, tensor.Float64, 4)
	fmt.Println(tensor.Equal(x, y))

	z := tensor.NewGenerator(42).Uniform(0, 1, tensor.Float64, 4)
	fmt.Println(tensor.Equal(x, z))
	fmt.Println(tensor.Equal(x, tensor.NewGenerator(43).Uniform(0, 1, tensor.Float64, 4)))
	// Output:
	// 42 0
	// 8
	// true
	// true
	// false
}

// Misuse of an op panics with a *tensor.Error naming the op and the shapes;
// Try turns that panic into an error value (other panics pass through).
func ExampleTry() {
	a := tensor.Ones(tensor.Float32, 2, 3)
	b := tensor.Ones(tensor.Float32, 4, 5)
	var c *tensor.Tensor
	err := tensor.Try(func() { c = tensor.MatMul(a, b) })
	fmt.Println(c == nil, err)

	var te *tensor.Error
	if errors.As(err, &te) {
		fmt.Println(te.Op)
	}
	fmt.Println(tensor.Try(func() { c = tensor.MatMul(a, b.Narrow(0, 0, 3)) }), c.Shape())
	// Output:
	// true tensor.MatMul: shapes [2 3] and [4 5]: inner dimensions 3 and 4 differ
	// tensor.MatMul
	// <nil> [2 5]
}
