//go:build amd64 && !purego

package tensor

import "unsafe"

//go:noescape
func binF32AVX(d, a, b *float32, n int, op int, nt bool)

// binF32 computes d = a op b (op 0 add, 1 sub, 2 mul, 3 div) over
// contiguous float32 slices of equal length.
func binF32(op int, d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	i := 0
	if hasSIMD && len(d) >= 8 {
		nt := len(d) >= ntMinElems
		if nt {
			if mis := uintptr(unsafe.Pointer(&d[0])) & 31; mis%4 != 0 {
				nt = false
			} else if mis != 0 {
				i = int(32-mis) / 4
				binF32Go(op, d[:i], a[:i], b[:i])
			}
		}
		if m := (len(d) - i) &^ 7; m > 0 {
			binF32AVX(&d[i], &a[i], &b[i], m, op, nt)
			i += m
		}
	}
	binF32Go(op, d[i:], a[i:], b[i:])
}
