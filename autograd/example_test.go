package autograd_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// The gradient of y = Σ x² is 2x.
func Example() {
	x := autograd.Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
	y := autograd.Sum(autograd.Square(x), false)
	if err := y.Backward(); err != nil {
		panic(err)
	}
	fmt.Println(x.Grad().Float64s())
	// Output: [2 4 6]
}

// A Hessian-vector product: differentiate the gradient again.
func ExampleGrad() {
	x := autograd.Param(tensor.FromSlice([]float64{1, 2}, 2))
	y := autograd.Sum(autograd.PowScalar(x, 3), false) // gradient 3x², Hessian diag(6x)
	g, _ := autograd.Grad([]*autograd.Var{y}, []*autograd.Var{x}, nil, autograd.BackwardOpts{CreateGraph: true})
	v := autograd.Constant(tensor.FromSlice([]float64{1, 1}, 2))
	hv, _ := autograd.Grad([]*autograd.Var{autograd.Sum(autograd.Mul(g[0], v), false)}, []*autograd.Var{x}, nil, autograd.BackwardOpts{})
	fmt.Println(g[0].Value().Float64s(), hv[0].Value().Float64s())
	// Output: [3 12] [6 12]
}

// Hooks run as soon as a leaf's gradient is final.
func ExampleVar_RegisterHook() {
	w := autograd.Param(tensor.FromSlice([]float64{2}, 1))
	w.RegisterHook(func(g *tensor.Tensor) { fmt.Println("grad ready:", g.Float64s()) })
	x := autograd.Constant(tensor.FromSlice([]float64{5}, 1))
	_ = autograd.Sum(autograd.Mul(w, x), false).Backward()
	// Output: grad ready: [5]
}
