//go:build !amd64 || purego

package tensor

// Portable builds: the kernels of cpu_fastmath.go, without vector code.

func reluF32(d, x []float32)                       { reluF32Go(d, x) }
func reluGradF32(d, g, y []float32)                { reluGradF32Go(d, g, y) }
func affineF32(d, x []float32, a, b float32)       { affineF32Go(d, x, a, b) }
func sumF32(x []float32) float64                   { return sumF32Go(x) }
func accF32F64(acc []float64, x []float32)         { accF32F64Go(acc, x) }
func expF32(d, x []float32, shift float32) float64 { return expF32Go(d, x, shift) }
func tanhF32(d, x []float32)                       { tanhSlice32(d, x) }

func maxF32(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

const transpose8 = false

func transpose8x8(dst []float32, ldd int, src []float32, lds int) {
	for r := range 8 {
		for c := range 8 {
			dst[c*ldd+r] = src[r*lds+c]
		}
	}
}

func maxPool2x2RowF32(yr []float32, ir []int32, r0, r1 []float32, q, w int32) int { return 0 }

func binF32(op int, d, a, b []float32) { binF32Go(op, d, a, b) }
