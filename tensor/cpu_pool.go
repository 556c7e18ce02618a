package tensor

// CPU pooling kernels (the PoolDevice capability): one pass over each input
// plane, planes spread over goroutines. Max pooling records the index of
// each maximum so its backward is a scatter, with no comparisons or masks.

func (cpuDevice) MaxPool2d(dst, idx, x View, p ConvParams) bool {
	switch {
	case allDType(Float32, dst, x):
		maxPool[float32](dst, idx, x, p)
	case allDType(Float64, dst, x):
		maxPool[float64](dst, idx, x, p)
	default:
		return false
	}
	return true
}

func (cpuDevice) MaxPool2dBackward(dx, gy, idx View) bool {
	return cpuMaxPool2dBackward(dx, gy, idx, false)
}

// cpuMaxPool2dBackward is MaxPool2dBackward; with clear it first sets each
// plane of dx to zero (dx may then hold anything on entry).
func cpuMaxPool2dBackward(dx, gy, idx View, clear bool) bool {
	switch {
	case allDType(Float32, dx, gy):
		maxPoolBackward[float32](dx, gy, idx, clear)
	case allDType(Float64, dx, gy):
		maxPoolBackward[float64](dx, gy, idx, clear)
	default:
		return false
	}
	return true
}

func (cpuDevice) AvgPool2d(dst, x View, p ConvParams) bool {
	switch {
	case allDType(Float32, dst, x):
		avgPool[float32](dst, x, p, false)
	case allDType(Float64, dst, x):
		avgPool[float64](dst, x, p, false)
	default:
		return false
	}
	return true
}

func (cpuDevice) AvgPool2dBackward(dx, gy View, p ConvParams) bool {
	switch {
	case allDType(Float32, dx, gy):
		avgPool[float32](gy, dx, p, true)
	case allDType(Float64, dx, gy):
		avgPool[float64](gy, dx, p, true)
	default:
		return false
	}
	return true
}

// forPlanes runs body over ranges of the n planes, in parallel when there
// are about cost element-operations per plane and enough of them.
func forPlanes(n, cost int, body func(lo, hi int)) {
	parallelFor(n, workers(n, cost), body)
}

func maxPool[T float32 | float64](dst, idx, x View, p ConvParams) {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := dst.Shape[2], dst.Shape[3]
	xd, yd := cpuData[T](x), cpuData[T](dst)[dst.Offset:]
	id := idx.Storage.(*cpuStorage).buf.([]int32)[idx.Offset:]
	sN, sC, sH, sW := x.Strides[0], x.Strides[1], x.Strides[2], x.Strides[3]
	fast := maxPool2x2Fast(p, sW)
	forPlanes(n*c, h*w, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			base := x.Offset + (pl/c)*sN + (pl%c)*sC
			maxPoolPlane(yd[pl*oh*ow:(pl+1)*oh*ow], id[pl*oh*ow:(pl+1)*oh*ow], xd, base, sH, sW, h, w, oh, ow, p, fast)
		}
	})
}

// maxPool2x2Fast reports whether maxPool2x2Plane takes the window p over
// rows with unit column stride sW.
func maxPool2x2Fast(p ConvParams, sW int) bool {
	return p.KH == 2 && p.KW == 2 && p.StrideH == 2 && p.StrideW == 2 && p.PadH == 0 && p.PadW == 0 &&
		p.DilH == 1 && p.DilW == 1 && sW == 1 && !p.CeilMode
}

// maxPoolPlane pools the plane of xd at base (strides sH, sW, size h x w)
// into y and ix (the output plane, row-major); fast selects
// maxPool2x2Plane.
func maxPoolPlane[T float32 | float64](y []T, ix []int32, xd []T, base, sH, sW, h, w, oh, ow int, p ConvParams, fast bool) {
	if fast {
		maxPool2x2Plane(y, ix, xd[base:], sH, oh, ow, w)
		return
	}
	for oy := range oh {
		iy0 := oy*p.StrideH - p.PadH
		for ox := range ow {
			ix0 := ox*p.StrideW - p.PadW
			first := true
			var m T
			var mi int32
			for i := range p.KH {
				iy := iy0 + i*p.DilH
				if iy < 0 || iy >= h {
					continue
				}
				for j := range p.KW {
					jx := ix0 + j*p.DilW
					if jx < 0 || jx >= w {
						continue
					}
					v := xd[base+iy*sH+jx*sW]
					if first || v > m || v != v {
						m, mi, first = v, int32(iy*w+jx), false
					}
				}
			}
			y[oy*ow+ox], ix[oy*ow+ox] = m, mi
		}
	}
}

// maxPool2x2Plane pools one plane (rows sH apart in x) with a 2x2 window
// and stride 2: the first maximum of each window in row-major order, a NaN
// winning over numbers (as PyTorch's v > max || isnan(v)), as a tree of
// pairwise choices; float32 rows go through the vector kernel in blocks
// of 8 outputs.
func maxPool2x2Plane[T float32 | float64](y []T, ix []int32, x []T, sH, oh, ow, w int) {
	for oy := range oh {
		r0 := x[2*oy*sH : 2*oy*sH+2*ow]
		r1 := x[(2*oy+1)*sH : (2*oy+1)*sH+2*ow]
		yr, ir := y[oy*ow:(oy+1)*ow], ix[oy*ow:(oy+1)*ow]
		ir = ir[:len(yr)]
		q := int32(2 * oy * w)
		o0 := 0
		if y32, ok := any(yr).([]float32); ok {
			o0 = maxPool2x2RowF32(y32, ir, any(r0).([]float32), any(r1).([]float32), q, int32(w))
		}
		for ox := o0; ox < len(yr); ox++ {
			// branch-free: the choices as 0/1 offsets
			j1 := 2*ox + b2i(r0[2*ox+1] > r0[2*ox]) | b2i(r0[2*ox+1] != r0[2*ox+1])
			j2 := 2*ox + b2i(r1[2*ox+1] > r1[2*ox]) | b2i(r1[2*ox+1] != r1[2*ox+1])
			m := [2]T{r0[j1], r1[j2]}
			i := [2]int32{q + int32(j1), q + int32(w+j2)}
			k := b2i(m[1] > m[0]) | b2i(m[1] != m[1])
			yr[ox], ir[ox] = m[k], i[k]
		}
	}
}

// b2i is 1 for true and 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func maxPoolBackward[T float32 | float64](dx, gy, idx View, zero bool) {
	n, c, h, w := dx.Shape[0], dx.Shape[1], dx.Shape[2], dx.Shape[3]
	q := gy.Shape[2] * gy.Shape[3]
	xd, gd := cpuData[T](dx)[dx.Offset:], cpuData[T](gy)[gy.Offset:]
	id := idx.Storage.(*cpuStorage).buf.([]int32)[idx.Offset:]
	hw := h * w
	forPlanes(n*c, q, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			d := xd[pl*hw : (pl+1)*hw]
			g := gd[pl*q : (pl+1)*q]
			if zero {
				clear(d)
			}
			for t, i := range id[pl*q : (pl+1)*q] {
				if uint32(i) >= uint32(hw) {
					panic(&Error{Op: "tensor.MaxPool2dBackward", Msg: "index out of range"})
				}
				d[i] += g[t]
			}
		}
	})
}

// avgPool averages windows of x into y (backward false), or, with backward
// true, spreads the gradient y (gy) over the windows of x (dx, contiguous).
// Each window's divisor is given by avgDivisors (the kernel size except
// with ExcludePad or past the padding in ceil mode).
func avgPool[T float32 | float64](y, x View, p ConvParams, backward bool) {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := y.Shape[2], y.Shape[3]
	xd, yd := cpuData[T](x), cpuData[T](y)[y.Offset:]
	sN, sC, sH, sW := x.Strides[0], x.Strides[1], x.Strides[2], x.Strides[3]
	dh, dw := avgDivisors(h, w, oh, ow, p)
	forPlanes(n*c, oh*ow*p.KH*p.KW, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			base := x.Offset + (pl/c)*sN + (pl%c)*sC
			yp := yd[pl*oh*ow : (pl+1)*oh*ow]
			for oy := range oh {
				iy0 := oy*p.StrideH - p.PadH
				for ox := range ow {
					ix0 := ox*p.StrideW - p.PadW
					inv := 1 / T(dh[oy]*dw[ox])
					if backward {
						gv := yp[oy*ow+ox] * inv
						for i := range p.KH {
							iy := iy0 + i*p.DilH
							if iy < 0 || iy >= h {
								continue
							}
							for j := range p.KW {
								if jx := ix0 + j*p.DilW; jx >= 0 && jx < w {
									xd[base+iy*sH+jx*sW] += gv
								}
							}
						}
						continue
					}
					var s T
					for i := range p.KH {
						iy := iy0 + i*p.DilH
						if iy < 0 || iy >= h {
							continue
						}
						for j := range p.KW {
							if jx := ix0 + j*p.DilW; jx >= 0 && jx < w {
								s += xd[base+iy*sH+jx*sW]
							}
						}
					}
					yp[oy*ow+ox] = s * inv
				}
			}
		}
	})
}
