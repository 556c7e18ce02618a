package cpu_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/kernels/cpu"
)

func ExampleSgemm() {
	// A is 2×3 and B is 3×2, both row-major; C = A·B is 2×2, row-major.
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		7, 8,
		9, 10,
		11, 12,
	}
	c := make([]float32, 4)
	cpu.Sgemm(2, 2, 3, 1, a, 3, 1, b, 2, 1, 0, c, 2, 1)
	fmt.Println(c)

	// Aᵀ·A (3×3) uses the same slice with swapped strides for the transpose.
	ata := make([]float32, 9)
	cpu.Sgemm(3, 3, 2, 1, a, 1, 3, a, 3, 1, 0, ata, 3, 1)
	fmt.Println(ata)
	// Output:
	// [58 64 139 154]
	// [17 22 27 22 29 36 27 36 45]
}

func ExampleDgemm() {
	// C = 0.5·A·B + 2·C with A 1×2, B 2×1 and C 1×1.
	c := []float64{1}
	cpu.Dgemm(1, 1, 2, 0.5, []float64{2, 4}, 2, 1, []float64{3, 5}, 1, 1, 2, c, 1, 1)
	fmt.Println(c[0])
	// Output: 15
}
