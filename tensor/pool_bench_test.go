package tensor

import "testing"

// The first pooling of bench/train's CNN: [128, 32, 26, 26], 2x2, stride 2.
func BenchmarkMaxPool2dCNN(b *testing.B) {
	x := NewGenerator(1).Normal(0, 1, Float32, 128, 32, 26, 26)
	p := ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			MaxPool2d(x, p)
		}
	})
	y, idx := MaxPool2d(x, p)
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			MaxPool2dBackward(y, idx, x.Shape(), p)
		}
	})
}
