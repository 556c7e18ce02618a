package kern

import (
	"testing"

	"github.com/tessera-ml/tessera/tensor"
)

func BenchmarkCombineF32(b *testing.B) {
	out, x, y := make([]float32, BlockElems), make([]float32, BlockElems), make([]float32, BlockElems)
	b.SetBytes(int64(BlockElems * 4))
	for b.Loop() {
		combine(Sum, out, x, y)
	}
}

func BenchmarkBlock4F32(b *testing.B) {
	const n = 4
	r := New(tensor.Float32, Sum, n)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, BlockElems*4)
	}
	b.SetBytes(int64(BlockElems * 4 * n))
	for b.Loop() {
		r.Block(bufs, bufs, 0, BlockElems)
	}
}
