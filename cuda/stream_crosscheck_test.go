package cuda_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/tensor"
)

// The Go reference that the CUDA random kernels are tested against (here
// on the host emulator, on the GPU by TestGPUPhiloxMatchesCPUStream) is the
// CPU stream of package tensor, number for number.
func TestRandomReferenceMatchesTensorCPU(t *testing.T) {
	const n = 1001
	for _, off := range []uint64{0, 4, 40} {
		seed := uint64(0xdeadbeef_cafef00d)
		g := tensor.NewGenerator(seed)
		g.SetState(seed, off)
		u := g.Uniform(-2, 3, tensor.Float32, n).Float32s()
		g.SetState(seed, off)
		z := g.Normal(1, 2, tensor.Float32, n).Float32s()
		for j := 0; j < n; j++ {
			require.Equal(t, u[j], cuda.RefUniformF32(seed, off, j, -2, 3), "uniform %d at offset %d", j, off)
			require.Equal(t, z[j], cuda.RefNormalF32(seed, off, j, 1, 2), "normal %d at offset %d", j, off)
		}
	}
}
