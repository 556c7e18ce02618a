// Command tour is a short walk through Tessera's tensor API: creation,
// broadcasting, views, reductions, matrix products and random numbers.
package main

import (
	"fmt"

	"github.com/tessera-ml/tessera/tensor"
)

func main() {
	a := tensor.Arange(0, 6, 1, tensor.Float32).Reshape(2, 3)
	fmt.Printf("a =\n%v\n", a)
	b := tensor.FromSlice([]float32{10, 20, 30}, 3)
	fmt.Printf("a + b (broadcast) =\n%v\n", tensor.Add(a, b))

	at := a.T() // a view: no copy
	fmt.Printf("a.T() shares storage with a: %v, contiguous: %v\n", at.SharesStorage(a), at.IsContiguous())
	fmt.Printf("a @ a.T() =\n%v\n", tensor.MatMul(a, at))
	fmt.Printf("sum over axis 1 = %v, mean = %v\n", tensor.Sum(a, false, 1), tensor.Mean(a, false).Item())

	g := tensor.NewGenerator(42)
	x := g.Normal(0, 1, tensor.Float32, 4, 5)
	fmt.Printf("softmax rows of a random 4x5 (each sums to 1):\n%v\n", tensor.Softmax(x, 1))
	fmt.Printf("argmax per row: %v\n", tensor.ArgMax(x, 1, false))

	err := tensor.Try(func() { tensor.Add(a, tensor.Ones(tensor.Float32, 4)) })
	fmt.Println("misuse is reported with the op and the shapes:", err)
}
