package tensor_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/tensor"
)

func Example() {
	a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.FromSlice([]float32{10, 20, 30}, 3)
	fmt.Println(tensor.Add(a, b))        // broadcasting
	fmt.Println(tensor.MatMul(a, a.T())) // a transposed view, no copy
	fmt.Println(tensor.Sum(a, false, 0)) // reduce over axis 0
	err := tensor.Try(func() { tensor.Add(a, tensor.Ones(tensor.Float32, 4)) })
	fmt.Println(err)
	// Output:
	// [[11. 22. 33.]
	//  [14. 25. 36.]]
	// [[14. 32.]
	//  [32. 77.]]
	// [5. 7. 9.]
	// tensor.Add: shapes [2 3] and [4] do not broadcast
}
