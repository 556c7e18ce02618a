//go:build amd64 && !purego

package tensor

// addF32AVX2 adds s into d over n elements, n a multiple of 8 (cpu_conv_amd64.s).
//
//go:noescape
func addF32AVX2(d, s *float32, n int)

// addF32 adds s into d (len(s) >= len(d)), AVX2 for whole blocks of 8.
func addF32(d, s []float32) {
	if n := len(d) &^ 7; hasSIMD && n > 0 {
		_ = s[len(d)-1]
		addF32AVX2(&d[0], &s[0], n)
		d, s = d[n:], s[n:len(d)]
	}
	for t := range d {
		d[t] += s[t]
	}
}
