//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

// AVX2 kernels (cpu_simd_amd64.s). Each wrapper runs the vector kernel over
// whole blocks and finishes the tail (or any block the kernel declines)
// with the portable code of cpu_fastmath.go.

//go:noescape
func reluF32AVX2(d, x *float32, n int)

//go:noescape
func reluGradF32AVX2(d, gr, y *float32, n int)

//go:noescape
func affineF32AVX2(d, x *float32, n int, a, b float32)

//go:noescape
func sumF32AVX2(x *float32, n int) float64

//go:noescape
func accF32F64AVX2(acc *float64, x *float32, n int)

//go:noescape
func maxF32AVX2(x *float32, n int) float32

//go:noescape
func expF32AVX2(d, x *float32, n int, shift float32, sum *float64) int

//go:noescape
func tanhF32AVX2(d, x *float32, n int) int

//go:noescape
func transpose8x8F32AVX(dst *float32, ldd int, src *float32, lds int)

// hasSIMD selects the AVX2+FMA kernels, decided once at start-up.
var hasSIMD = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func reluF32(d, x []float32) {
	x = x[:len(d)]
	n := 0
	if hasSIMD {
		n = len(d) &^ 7
		if n > 0 {
			reluF32AVX2(&d[0], &x[0], n)
		}
	}
	reluF32Go(d[n:], x[n:])
}

func reluGradF32(d, g, y []float32) {
	g, y = g[:len(d)], y[:len(d)]
	n := 0
	if hasSIMD {
		n = len(d) &^ 7
		if n > 0 {
			reluGradF32AVX2(&d[0], &g[0], &y[0], n)
		}
	}
	reluGradF32Go(d[n:], g[n:], y[n:])
}

func affineF32(d, x []float32, a, b float32) {
	x = x[:len(d)]
	n := 0
	if hasSIMD {
		n = len(d) &^ 7
		if n > 0 {
			affineF32AVX2(&d[0], &x[0], n, a, b)
		}
	}
	affineF32Go(d[n:], x[n:], a, b)
}

func sumF32(x []float32) float64 {
	n, s := 0, 0.0
	if hasSIMD {
		n = len(x) &^ 15
		if n > 0 {
			s = sumF32AVX2(&x[0], n)
		}
	}
	return s + sumF32Go(x[n:])
}

func accF32F64(acc []float64, x []float32) {
	x = x[:len(acc)]
	n := 0
	if hasSIMD {
		n = len(acc) &^ 7
		if n > 0 {
			accF32F64AVX2(&acc[0], &x[0], n)
		}
	}
	accF32F64Go(acc[n:], x[n:])
}

// maxF32 returns the largest element of x (len(x) > 0); NaNs may or may
// not be returned.
func maxF32(x []float32) float32 {
	if hasSIMD && len(x) >= 8 {
		n := len(x) &^ 7
		m := maxF32AVX2(&x[0], n)
		for _, v := range x[n:] {
			m = max(m, v)
		}
		return m
	}
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

//go:noescape
func expF32AVX512(d, x *float32, n int, shift float32, sum *float64) int

// hasAVX512 selects the AVX-512 exp (blocks of 16).
var hasAVX512 = hasSIMD && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// expF32 sets d[i] = exp(x[i] - shift) and returns Σ d[i] in float64.
func expF32(d, x []float32, shift float32) float64 {
	x = x[:len(d)]
	sum, i := 0.0, 0
	for hasAVX512 && i+16 <= len(d) {
		i += expF32AVX512(&d[i], &x[i], (len(d)-i)&^15, shift, &sum)
		if i+16 > len(d) {
			break
		}
		// a block with an input outside the vector range
		sum += expF32Vec8(d[i:i+16], x[i:i+16], shift)
		i += 16
	}
	return sum + expF32Vec8(d[i:], x[i:], shift)
}

// expF32Vec8 is expF32 with the 8-wide kernel (and Go for what it declines).
func expF32Vec8(d, x []float32, shift float32) float64 {
	sum, i := 0.0, 0
	if hasSIMD {
		for {
			n := (len(d) - i) &^ 7
			if n == 0 {
				break
			}
			i += expF32AVX2(&d[i], &x[i], n, shift, &sum)
			if i+8 > len(d) {
				break
			}
			// a block with an input outside the vector range: one block in Go
			sum += expF32Go(d[i:i+8], x[i:i+8], shift)
			i += 8
		}
	}
	return sum + expF32Go(d[i:], x[i:], shift)
}

func tanhF32(d, x []float32) {
	x = x[:len(d)]
	i := 0
	if hasSIMD {
		for {
			n := (len(d) - i) &^ 7
			if n == 0 {
				break
			}
			i += tanhF32AVX2(&d[i], &x[i], n)
			if i+8 > len(d) {
				break
			}
			tanhSlice32(d[i:i+8], x[i:i+8])
			i += 8
		}
	}
	tanhSlice32(d[i:], x[i:])
}

// transpose8 reports whether transpose8x8 is available.
var transpose8 = hasSIMD

// transpose8x8 sets dst[c*ldd+r] = src[r*lds+c] for r, c < 8; the caller
// has checked the bounds.
func transpose8x8(dst []float32, ldd int, src []float32, lds int) {
	_ = dst[7*ldd+7]
	_ = src[7*lds+7]
	transpose8x8F32AVX(&dst[0], ldd, &src[0], lds)
}

//go:noescape
func maxPool2x2RowF32AVX2(y *float32, ix *int32, r0, r1 *float32, n int, q, w int32)

// maxPool2x2RowF32 pools the outputs of yr from the rows r0 and r1 with
// the vector kernel, in blocks of 8 (the last block overlapping the one
// before it), and returns how many it did: all, or none for rows of fewer
// than 8 outputs.
func maxPool2x2RowF32(yr []float32, ir []int32, r0, r1 []float32, q, w int32) int {
	n := len(yr)
	if !hasSIMD || n < 8 {
		return 0
	}
	_, _, _ = ir[n-1], r0[2*n-1], r1[2*n-1]
	maxPool2x2RowF32AVX2(&yr[0], &ir[0], &r0[0], &r1[0], n&^7, q, w)
	if t := n - 8; n&7 != 0 {
		maxPool2x2RowF32AVX2(&yr[t], &ir[t], &r0[2*t], &r1[2*t], 8, q+int32(2*t), w)
	}
	return n
}
