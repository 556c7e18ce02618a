package cpu

import "unsafe"

// genericKernel4x4 is the portable micro-kernel: a 4×4 tile of C from packed
// micro-panels a (k steps of 4) and b (k steps of 4), with unit stride along
// the 4 rows of the tile and ldc between its columns. C is read only when
// beta != 0.
func genericKernel4x4[T float](k int, a, b, c *T, ldc int, alpha, beta T) {
	pa := unsafe.Slice(a, 4*k)
	pb := unsafe.Slice(b, 4*k)
	var c00, c10, c20, c30 T
	var c01, c11, c21, c31 T
	var c02, c12, c22, c32 T
	var c03, c13, c23, c33 T
	for p := 0; p < k; p++ {
		av := pa[4*p : 4*p+4 : 4*p+4]
		bv := pb[4*p : 4*p+4 : 4*p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c10 += a1 * b0
		c20 += a2 * b0
		c30 += a3 * b0
		c01 += a0 * b1
		c11 += a1 * b1
		c21 += a2 * b1
		c31 += a3 * b1
		c02 += a0 * b2
		c12 += a1 * b2
		c22 += a2 * b2
		c32 += a3 * b2
		c03 += a0 * b3
		c13 += a1 * b3
		c23 += a2 * b3
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	store := func(o int, v0, v1, v2, v3 T) {
		d := cs[o : o+4 : o+4]
		if beta == 0 {
			d[0], d[1], d[2], d[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		} else {
			d[0] = alpha*v0 + beta*d[0]
			d[1] = alpha*v1 + beta*d[1]
			d[2] = alpha*v2 + beta*d[2]
			d[3] = alpha*v3 + beta*d[3]
		}
	}
	store(0, c00, c10, c20, c30)
	store(ldc, c01, c11, c21, c31)
	store(2*ldc, c02, c12, c22, c32)
	store(3*ldc, c03, c13, c23, c33)
}
