package cuda_test

import (
	"errors"
	"fmt"

	"github.com/tessera-ml/tessera/cuda"
)

// Check for a GPU and fall back to the CPU when there is none. (No Output
// comment: the answer depends on the machine.)
func ExampleAvailable() {
	if err := cuda.Load(); err != nil {
		fmt.Println("using the CPU:", errors.Is(err, cuda.ErrUnavailable), err)
		return
	}
	fmt.Print(cuda.Info())
}

// A row-major product C = A·B (2x4 times 4x3) becomes a column-major cuBLAS
// call on the swapped operands.
func ExampleRowMajorGemm_ToColumnMajor() {
	g := cuda.RowMajorGemm{M: 2, N: 3, K: 4, Alpha: 1, A: 0xa000, B: 0xb000, C: 0xc000,
		InType: cuda.R32F, OutType: cuda.R32F, Compute: cuda.Compute32FFastTF32}.ToColumnMajor()
	fmt.Printf("m=%d n=%d k=%d A=%#x lda=%d B=%#x ldb=%d ldc=%d\n", g.M, g.N, g.K, uint64(g.A), g.LDA, uint64(g.B), g.LDB, g.LDC)
	// Output: m=3 n=2 k=4 A=0xb000 lda=3 B=0xa000 ldb=4 ldc=3
}

// Kernel arguments are packed into a byte block with natural alignment.
func ExampleArgs() {
	a := cuda.NewArgs().Add(int64(10)).Add(float32(0.5)).Add(cuda.DevicePtr(0x7f0000000000))
	fmt.Println(a.Len(), a.Offsets(), a.Size(), a.Err())
	// Output: 3 [0 8 16] 24 <nil>
}
