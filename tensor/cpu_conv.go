package tensor

import (
	"sync"
	"sync/atomic"

	"github.com/tessera-ml/tessera/kernels/cpu"
)

// CPU convolution kernels (the ConvDevice capability). Work items are
// (image, group) pairs handed out from an atomic counter to up to GOMAXPROCS
// goroutines. Each item unfolds its input windows for a block of output rows
// into a per-worker buffer small enough to stay in cache (im2col) and runs
// one GEMM on it, so no [K, N*OH*OW] matrix is ever built, the output is
// written in NCHW order directly, and the bias (forward) and bias gradient
// (backward) are fused.

// convGeom is the geometry of one convolution call.
type convGeom struct {
	n, c, h, w             int
	o, oh, ow              int
	groups, cg, og         int
	kh, kw                 int
	sh, sw, ph, pw, dh, dw int
	k, p                   int // cg*kh*kw, oh*ow
	xs                     [4]int
	xoff                   int
	// wide selects the wide layout for blocks of several images: stride 1,
	// no padding and contiguous rows, so each im2col row of an image is one
	// contiguous run of the input of oh*w elements (output columns ox >= ow
	// are computed and dropped). pb is the block columns per image.
	wide bool
	pb   int
}

func newConvGeom(x View, o int, p ConvParams, groups int) *convGeom {
	g := &convGeom{
		n: x.Shape[0], c: x.Shape[1], h: x.Shape[2], w: x.Shape[3], o: o,
		groups: groups, kh: p.KH, kw: p.KW,
		sh: p.StrideH, sw: p.StrideW, ph: p.PadH, pw: p.PadW, dh: p.DilH, dw: p.DilW,
		xoff: x.Offset,
	}
	copy(g.xs[:], x.Strides)
	g.oh, g.ow = p.OutSize(g.h, g.w)
	g.cg, g.og = g.c/groups, o/groups
	g.k, g.p = g.cg*g.kh*g.kw, g.oh*g.ow
	return g
}

// direct reports whether the GEMM can read the input in place (a 1x1
// window with unit stride and no padding over rows of contiguous planes).
func (g *convGeom) direct() bool {
	return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 &&
		g.xs[3] == 1 && g.xs[2] == g.w
}

// colsBudget is the number of elements of the per-worker im2col buffer.
// Small images are processed several at a time (one GEMM for all, so the
// weights are packed once per block); large ones in blocks of output rows.
const colsBudget = 1 << 18

// blocking returns the images per work item and, for one image per item,
// the output rows per im2col block.
func (g *convGeom) blocking() (imgs, rows int) {
	if g.direct() {
		return 1, g.oh
	}
	// Several images per GEMM pay when packing the weights (og*k per call)
	// costs more than gathering the output rows (og*p per image).
	per := g.k * g.p
	if g.k > g.p && per <= colsBudget/2 {
		imgs = min(colsBudget/per, max(1, g.n/(2*Threads())))
		if imgs > 1 {
			g.wide = g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.xs[3] == 1 && g.xs[2] == g.w
			g.pb = g.p
			if g.wide {
				g.pb = g.oh * g.w
			}
		}
		return imgs, g.oh
	}
	return 1, max(1, min(g.oh, colsBudget/max(1, g.k*g.ow)))
}

// validRange returns the outputs o in [0, n) whose input o*s+off is in [0, size).
func validRange(n, s, off, size int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if size-off <= 0 {
		return 0, 0
	}
	hi = min(n, (size-off+s-1)/s)
	if hi < lo {
		return 0, 0
	}
	return lo, hi
}

// im2col writes the windows of channels c0..c0+cg-1 of image img for output
// rows [oy0, oy1) into cols as a [k, (oy1-oy0)*ow] matrix with row stride ld.
func im2col[T float32 | float64](g *convGeom, cols []T, ld int, x []T, img, c0, oy0, oy1 int) {
	np := (oy1 - oy0) * g.ow
	xsC, xsH, xsW := g.xs[1], g.xs[2], g.xs[3]
	r := 0
	for c := c0; c < c0+g.cg; c++ {
		cbase := g.xoff + img*g.xs[0] + c*xsC
		for i := 0; i < g.kh; i++ {
			for j := 0; j < g.kw; j++ {
				row := cols[r*ld : r*ld+np]
				r++
				off := j*g.dw - g.pw
				ox0, ox1 := validRange(g.ow, g.sw, off, g.w)
				// Output rows [y0, y1) read input rows inside the image.
				y0, y1 := validRange(g.oh, g.sh, i*g.dh-g.ph, g.h)
				y0, y1 = max(y0, oy0), min(y1, oy1)
				if ox0 >= ox1 || y0 >= y1 {
					clear(row)
					continue
				}
				clear(row[:(y0-oy0)*g.ow])
				clear(row[(y1-oy0)*g.ow:])
				wd := ox1 - ox0
				inner := g.sw == 1 && xsW == 1 && ox0 == 0 && ox1 == g.ow
				for oy := y0; oy < y1; oy++ {
					dst := row[(oy-oy0)*g.ow : (oy-oy0+1)*g.ow]
					base := cbase + (oy*g.sh-g.ph+i*g.dh)*xsH + (ox0*g.sw+off)*xsW
					if inner {
						// The common case: a whole row, contiguous.
						if wd >= 16 {
							copy(dst, x[base:base+wd])
							continue
						}
						src := x[base : base+wd]
						for t := range dst {
							dst[t] = src[t]
						}
						continue
					}
					clear(dst[:ox0])
					clear(dst[ox1:])
					if g.sw == 1 && xsW == 1 {
						copy(dst[ox0:ox1], x[base:base+wd])
						continue
					}
					step := g.sw * xsW
					d := dst[ox0:ox1]
					for t := range d {
						d[t] = x[base]
						base += step
					}
				}
			}
		}
	}
}

// col2im adds cols (a [k, (oy1-oy0)*ow] matrix with row stride ld, as
// im2col writes) into the contiguous NCHW tensor dx at the positions im2col
// reads.
func col2im[T float32 | float64](g *convGeom, dx, cols []T, ld, img, c0, oy0, oy1 int) {
	np := (oy1 - oy0) * g.ow
	r := 0
	for c := c0; c < c0+g.cg; c++ {
		cbase := (img*g.c + c) * g.h * g.w
		for i := 0; i < g.kh; i++ {
			for j := 0; j < g.kw; j++ {
				row := cols[r*ld : r*ld+np]
				r++
				off := j*g.dw - g.pw
				ox0, ox1 := validRange(g.ow, g.sw, off, g.w)
				if ox0 >= ox1 {
					continue
				}
				for oy := oy0; oy < oy1; oy++ {
					iy := oy*g.sh - g.ph + i*g.dh
					if iy < 0 || iy >= g.h {
						continue
					}
					src := row[(oy-oy0)*g.ow+ox0 : (oy-oy0)*g.ow+ox1]
					base := cbase + iy*g.w + ox0*g.sw + off
					if g.sw == 1 {
						d := dx[base : base+len(src)]
						for t, v := range src {
							d[t] += v
						}
						continue
					}
					for _, v := range src {
						dx[base] += v
						base += g.sw
					}
				}
			}
		}
	}
}

// scratch pools the per-worker im2col buffers.
var scratch32, scratch64 sync.Pool

func getScratch[T float32 | float64](n int) *[]T {
	var z T
	p := &scratch64
	if any(z) == any(float32(0)) {
		p = &scratch32
	}
	if v := p.Get(); v != nil {
		s := v.(*[]T)
		if cap(*s) >= n {
			*s = (*s)[:n]
			return s
		}
	}
	s := make([]T, n)
	return &s
}

func putScratch[T float32 | float64](s *[]T) {
	var z T
	if any(z) == any(float32(0)) {
		scratch32.Put(s)
	} else {
		scratch64.Put(s)
	}
}

// forItems runs body(worker, item) for items 0..n-1 on up to w goroutines
// that claim items from a shared counter; worker is in [0, w).
func forItems(n, w int, body func(worker, item int)) {
	w = max(1, min(w, n))
	if w == 1 {
		for i := range n {
			body(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func(t int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			body(t, i)
		}
	}
	for t := 1; t < w; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(t)
		}()
	}
	work(0)
	wg.Wait()
}

// convWorkers is the number of goroutines for items of about flops work each.
func convWorkers(items, flops int) int {
	if items*flops < 1<<20 {
		return 1
	}
	return Threads()
}

func cpuData[T float32 | float64](v View) []T { return v.Storage.(*cpuStorage).buf.([]T) }

func (cpuDevice) Conv2d(dst, x, w, b View, p ConvParams, groups int) bool {
	switch {
	case allDType(Float32, dst, x, w) && (b.Storage == nil || b.DType() == Float32):
		convForward[float32](dst, x, w, b, p, groups, cpu.Sgemm, nil)
	case allDType(Float64, dst, x, w) && (b.Storage == nil || b.DType() == Float64):
		convForward[float64](dst, x, w, b, p, groups, cpu.Dgemm, nil)
	default:
		return false
	}
	return true
}

func (cpuDevice) Conv2dBackwardInput(dx, gy, w View, p ConvParams, groups int) bool {
	switch {
	case allDType(Float32, dx, gy, w):
		convBackwardInput[float32](dx, gy, w, p, groups, cpu.Sgemm)
	case allDType(Float64, dx, gy, w):
		convBackwardInput[float64](dx, gy, w, p, groups, cpu.Dgemm)
	default:
		return false
	}
	return true
}

func (cpuDevice) Conv2dBackwardWeight(dw, db, x, gy View, p ConvParams, groups int) bool {
	switch {
	case allDType(Float32, dw, x, gy) && (db.Storage == nil || db.DType() == Float32):
		convWeightGrad[float32](dw, db, x, gy, p, groups, cpu.Sgemm)
	case allDType(Float64, dw, x, gy) && (db.Storage == nil || db.DType() == Float64):
		convWeightGrad[float64](dw, db, x, gy, p, groups, cpu.Dgemm)
	default:
		return false
	}
	return true
}

// Conv2dBackward implements ConvBackwarder for geometries processed in
// image blocks (the input and weight gradients share the gathered output
// gradient and the column buffer); it declines the others.
func (cpuDevice) Conv2dBackward(dx, dw, db, x, gy, w View, p ConvParams, groups int) bool {
	g := newConvGeom(x, w.Shape[0], p, groups)
	if nb, _ := g.blocking(); nb < 2 || g.direct() {
		return false
	}
	switch {
	case allDType(Float32, dx, dw, x, gy, w) && (db.Storage == nil || db.DType() == Float32):
		convWeightInputGrad[float32](dx, dw, db, x, gy, w, p, groups, cpu.Sgemm)
	case allDType(Float64, dx, dw, x, gy, w) && (db.Storage == nil || db.DType() == Float64):
		convWeightInputGrad[float64](dx, dw, db, x, gy, w, p, groups, cpu.Dgemm)
	default:
		return false
	}
	return true
}

func allDType(dt DType, vs ...View) bool {
	for _, v := range vs {
		if _, ok := v.Storage.(*cpuStorage); !ok || v.DType() != dt {
			return false
		}
	}
	return true
}

// blocks splits the images into work items of nb images and returns the
// item count; item it covers images [it*nb, min(n, (it+1)*nb)) of one group.
func (g *convGeom) items(nb int) int { return (g.n + nb - 1) / nb * g.groups }

func (g *convGeom) item(it, nb int) (n0, n1, gr int) {
	gr = it % g.groups
	n0 = it / g.groups * nb
	return n0, min(g.n, n0+nb), gr
}

// With po, the output is not written to dst (unused) but max-pooled into po
// image by image, or block by block (not for direct geometries).
func convForward[T float32 | float64](dst, x, w, b View, p ConvParams, groups int, gemm gemmFunc[T], po *pooledOut[T]) {
	g := newConvGeom(x, w.Shape[0], p, groups)
	xd, wd := cpuData[T](x), cpuData[T](w)[w.Offset:]
	var yd []T
	if po == nil {
		yd = cpuData[T](dst)[dst.Offset:]
	}
	var bd []T
	if b.Storage != nil {
		bd = cpuData[T](b)[b.Offset:]
	}
	direct := g.direct()
	nb, rb := g.blocking()
	var wb []T // [o, k+1]: the weights with the bias as a last column
	if bd != nil && !direct && nb == 1 {
		wb = make([]T, g.o*(g.k+1))
		for o := range g.o {
			copy(wb[o*(g.k+1):], wd[o*g.k:(o+1)*g.k])
			wb[o*(g.k+1)+g.k] = bd[o]
		}
	}
	items := g.items(nb)
	forItems(items, convWorkers(items, 2*g.og*g.k*g.p*nb), func(_, it int) {
		n0, n1, gr := g.item(it, nb)
		wg := wd[gr*g.og*g.k:]
		var cols, tmp *[]T
		colsN := (g.k + 1) * max(nb*max(g.p, g.pb), rb*g.ow)
		if !direct {
			extra := 0
			if po != nil {
				extra = g.og * g.p // the output planes, after the columns
			}
			cols = getScratch[T](colsN + extra)
			defer putScratch(cols)
		}
		if nb > 1 {
			// All images in one GEMM into tmp [og, nb*pb], then to NCHW.
			np := (n1 - n0) * g.pb
			for img := n0; img < n1; img++ {
				blockCols(g, (*cols)[(img-n0)*g.pb:], np, xd, img, gr*g.cg, false)
			}
			tmp = getScratch[T](g.og * np)
			defer putScratch(tmp)
			gemm(g.og, np, g.k, 1, wg, g.k, 1, *cols, np, 1, 0, *tmp, np, 1)
			if po != nil {
				po.poolBlock(g, *tmp, bd, n0, n1, gr)
				return
			}
			scatterRows(g, yd, *tmp, bd, n0, n1, gr)
			return
		}
		img := n0
		var out []T // the output planes of img and gr
		if po != nil {
			out = (*cols)[colsN : colsN+g.og*g.p]
		} else {
			out = yd[(img*g.o+gr*g.og)*g.p:]
		}
		for oy0 := 0; oy0 < g.oh; oy0 += rb {
			oy1 := min(g.oh, oy0+rb)
			np := (oy1 - oy0) * g.ow
			c := out[oy0*g.ow:]
			if !direct {
				// The bias is one more column of the weights times a row of ones.
				im2col(g, *cols, np, xd, img, gr*g.cg, oy0, oy1)
				if wb != nil {
					ones := (*cols)[g.k*np : (g.k+1)*np]
					for t := range ones {
						ones[t] = 1
					}
					gemm(g.og, np, g.k+1, 1, wb[gr*g.og*(g.k+1):], g.k+1, 1, *cols, np, 1, 0, c, g.p, 1)
				} else {
					gemm(g.og, np, g.k, 1, wg, g.k, 1, *cols, np, 1, 0, c, g.p, 1)
				}
				continue
			}
			var beta T
			if bd != nil {
				for o := range g.og {
					row := c[o*g.p : o*g.p+np]
					v := bd[gr*g.og+o]
					for t := range row {
						row[t] = v
					}
				}
				beta = 1
			}
			bm := xd[g.xoff+img*g.xs[0]+gr*g.cg*g.xs[1]+oy0*g.ow:]
			gemm(g.og, np, g.k, 1, wg, g.k, 1, bm, g.xs[1], 1, beta, c, g.p, 1)
		}
		if po != nil {
			po.pool(out, img, gr*g.og, g.og)
		}
	})
}

// blockCols writes the im2col rows of image img (channels c0..c0+cg-1) in
// the block layout: im2col's, or in the wide layout one contiguous run per
// row. With clean, the dropped columns of the wide layout are zeroed (they
// hold neighbouring input otherwise, harmless to the forward product).
func blockCols[T float32 | float64](g *convGeom, cols []T, ld int, x []T, img, c0 int, clean bool) {
	if !g.wide {
		im2col(g, cols, ld, x, img, c0, 0, g.oh)
		return
	}
	r := 0
	for c := c0; c < c0+g.cg; c++ {
		cbase := g.xoff + img*g.xs[0] + c*g.xs[1]
		for i := 0; i < g.kh; i++ {
			for j := 0; j < g.kw; j++ {
				row := cols[r*ld : r*ld+g.pb]
				r++
				start := cbase + i*g.dh*g.w + j*g.dw
				n := copy(row, x[start:])
				clear(row[n:])
				if clean {
					zeroGaps(row, g.oh, g.w, g.ow)
				}
			}
		}
	}
}

// allFinite reports whether x holds no Inf or NaN (v-v is 0 for every
// finite v and NaN otherwise).
func allFinite[T float32 | float64](x []T) bool {
	var a, b T
	t := 0
	for ; t+2 <= len(x); t += 2 {
		a += x[t] - x[t]
		b += x[t+1] - x[t+1]
	}
	for ; t < len(x); t++ {
		a += x[t] - x[t]
	}
	return a+b == 0
}

// planesFinite reports whether the input planes of group gr for images
// [n0, n1) are finite (contiguous planes, as the wide layout requires).
func planesFinite[T float32 | float64](g *convGeom, x []T, n0, n1, gr int) bool {
	for img := n0; img < n1; img++ {
		for c := gr * g.cg; c < (gr+1)*g.cg; c++ {
			b := g.xoff + img*g.xs[0] + c*g.xs[1]
			if !allFinite(x[b : b+g.h*g.w]) {
				return false
			}
		}
	}
	return true
}

// zeroGaps zeroes the dropped columns ow..w-1 of each of the oh rows of a
// wide-layout row.
func zeroGaps[T float32 | float64](row []T, oh, w, ow int) {
	for oy := range oh {
		for t := oy*w + ow; t < (oy+1)*w; t++ {
			row[t] = 0
		}
	}
}

// blockCol2im adds block-layout columns of image img into dx (contiguous).
// The dropped columns of the wide layout wrap onto the next input row; they
// are zero (wᵀ times the zero columns gatherRows leaves), so adding them
// changes nothing as long as the weights are finite.
func blockCol2im[T float32 | float64](g *convGeom, dx, cols []T, ld, img, c0 int) {
	if !g.wide {
		col2im(g, dx, cols, ld, img, c0, 0, g.oh)
		return
	}
	hw := g.h * g.w
	r := 0
	for c := c0; c < c0+g.cg; c++ {
		plane := dx[(img*g.c+c)*hw : (img*g.c+c+1)*hw]
		for i := 0; i < g.kh; i++ {
			for j := 0; j < g.kw; j++ {
				row := cols[r*ld : r*ld+g.pb]
				r++
				d := plane[i*g.dh*g.w+j*g.dw:]
				addTo(d[:min(len(row), len(d))], row)
			}
		}
	}
}

// addTo adds s to d (len(d) <= len(s)): AVX2 for float32 where available.
func addTo[T float32 | float64](d, s []T) {
	if df, ok := any(d).([]float32); ok {
		addF32(df, any(s).([]float32))
		return
	}
	addToGo(d, s)
}

// addToGo is addTo in portable Go, four elements a step.
func addToGo[T float32 | float64](d, s []T) {
	s = s[:len(d)]
	t := 0
	for ; t+4 <= len(d); t += 4 {
		dd, ss := d[t:t+4:t+4], s[t:t+4:t+4]
		dd[0] += ss[0]
		dd[1] += ss[1]
		dd[2] += ss[2]
		dd[3] += ss[3]
	}
	for ; t < len(d); t++ {
		d[t] += s[t]
	}
}

// addScalar sets d = s + v (AVX2 for float32 where available).
func addScalar[T float32 | float64](d, s []T, v T) {
	if df, ok := any(d).([]float32); ok {
		affineF32(df, any(s).([]float32), 1, float32(v))
		return
	}
	s = s[:len(d)]
	for t := range d {
		d[t] = s[t] + v
	}
}

// gatherRows copies the output-gradient rows of group gr for images
// [n0, n1) into tmp as an [og, (n1-n0)*pb] block-layout matrix (zeros in
// the dropped columns of the wide layout).
func gatherRows[T float32 | float64](g *convGeom, tmp, gd []T, n0, n1, gr int) {
	np := (n1 - n0) * g.pb
	for img := n0; img < n1; img++ {
		for o := range g.og {
			src := gd[(img*g.o+gr*g.og+o)*g.p : (img*g.o+gr*g.og+o+1)*g.p]
			dst := tmp[o*np+(img-n0)*g.pb : o*np+(img-n0+1)*g.pb]
			if !g.wide {
				copy(dst, src)
				continue
			}
			for oy := range g.oh {
				d := dst[oy*g.w : (oy+1)*g.w]
				copy(d, src[oy*g.ow:(oy+1)*g.ow])
				clear(d[g.ow:])
			}
		}
	}
}

// scatterRows copies the block-layout product tmp [og, (n1-n0)*pb] of group
// gr to the NCHW output y, adding the bias bd when it is not nil.
func scatterRows[T float32 | float64](g *convGeom, y, tmp, bd []T, n0, n1, gr int) {
	np := (n1 - n0) * g.pb
	rw, rows := g.p, 1 // run width and runs per output plane
	if g.wide {
		rw, rows = g.ow, g.oh
	}
	sw := g.pb / rows
	for img := n0; img < n1; img++ {
		for o := range g.og {
			src := tmp[o*np+(img-n0)*g.pb : o*np+(img-n0+1)*g.pb]
			dst := y[(img*g.o+gr*g.og+o)*g.p : (img*g.o+gr*g.og+o+1)*g.p]
			var v T
			if bd != nil {
				v = bd[gr*g.og+o]
			}
			for r := range rows {
				s, d := src[r*sw:r*sw+rw], dst[r*rw:(r+1)*rw]
				if bd == nil {
					copy(d, s)
					continue
				}
				addScalar(d, s, v)
			}
		}
	}
}

func convBackwardInput[T float32 | float64](dx, gy, w View, p ConvParams, groups int, gemm gemmFunc[T]) {
	// dx is contiguous: its geometry reads like an input with NCHW strides.
	g := newConvGeom(dx, w.Shape[0], p, groups)
	xd, wd, gd := cpuData[T](dx)[dx.Offset:], cpuData[T](w)[w.Offset:], cpuData[T](gy)[gy.Offset:]
	direct := g.direct()
	nb, rb := g.blocking()
	// The dropped columns of the wide layout come out of the GEMM as zeros
	// (wᵀ times zero columns) unless the weights hold Inf or NaN.
	wFinite := !g.wide || allFinite(wd[:g.o*g.k])
	items := g.items(nb)
	forItems(items, convWorkers(items, 2*g.og*g.k*g.p*nb), func(_, it int) {
		n0, n1, gr := g.item(it, nb)
		wg := wd[gr*g.og*g.k:]
		if direct {
			// dx rows of this group = wᵀ·gy.
			gemm(g.k, g.p, g.og, 1, wg, 1, g.k, gd[(n0*g.o+gr*g.og)*g.p:], g.p, 1,
				0, xd[(n0*g.c+gr*g.cg)*g.p:], g.p, 1)
			return
		}
		cols := getScratch[T](g.k * max(nb*max(g.p, g.pb), rb*g.ow))
		defer putScratch(cols)
		if nb > 1 {
			np := (n1 - n0) * g.pb
			tmp := getScratch[T](g.og * np)
			defer putScratch(tmp)
			gatherRows(g, *tmp, gd, n0, n1, gr)
			gemm(g.k, np, g.og, 1, wg, 1, g.k, *tmp, np, 1, 0, *cols, np, 1)
			if !wFinite {
				for r := range g.k {
					zeroGaps((*cols)[r*np:(r+1)*np], (n1-n0)*g.oh, g.w, g.ow)
				}
			}
			for img := n0; img < n1; img++ {
				blockCol2im(g, xd, (*cols)[(img-n0)*g.pb:], np, img, gr*g.cg)
			}
			return
		}
		img := n0
		for oy0 := 0; oy0 < g.oh; oy0 += rb {
			oy1 := min(g.oh, oy0+rb)
			np := (oy1 - oy0) * g.ow
			gemm(g.k, np, g.og, 1, wg, 1, g.k, gd[(img*g.o+gr*g.og)*g.p+oy0*g.ow:], g.p, 1, 0, *cols, np, 1)
			col2im(g, xd, *cols, np, img, gr*g.cg, oy0, oy1)
		}
	})
}

// convWeightGrad computes the weight gradient dw (and the bias gradient db
// unless its Storage is nil) from the output gradient gy.
func convWeightGrad[T float32 | float64](dw, db, x, gy View, p ConvParams, groups int, gemm gemmFunc[T]) {
	convBackwardPass(convGrads[T]{dw: dw, db: db, gy: gy}, x, p, groups, gemm)
}

// convWeightInputGrad computes the weight, bias and input gradients in one
// pass over the image blocks, sharing the gathered output gradient (the
// caller has checked that the geometry has image blocks).
func convWeightInputGrad[T float32 | float64](dx, dw, db, x, gy, w View, p ConvParams, groups int, gemm gemmFunc[T]) {
	convBackwardPass(convGrads[T]{dw: dw, db: db, dx: dx, w: w, gy: gy}, x, p, groups, gemm)
}

// convPooledGrad is convWeightGrad (dx with nil Storage) or
// convWeightInputGrad for a convolution followed by a max pooling: the
// output gradient is given pooled, and each image's rows are scattered from
// pg into a scratch buffer just before its products (not for direct
// geometries).
func convPooledGrad[T float32 | float64](dx, dw, db, x, w View, pg *pooledGrad[T], p ConvParams, groups int, gemm gemmFunc[T]) {
	convBackwardPass(convGrads[T]{dw: dw, db: db, dx: dx, w: w, pooled: pg}, x, p, groups, gemm)
}

// convGrads says what one backward pass computes and from what.
type convGrads[T float32 | float64] struct {
	dw, db View           // the weight gradient; the bias gradient (nil Storage: none)
	dx, w  View           // the input gradient and the weight (nil Storage: not computed)
	gy     View           // the output gradient, dense,
	pooled *pooledGrad[T] // or pooled (then gy is unused)
}

// convGradPass is the state of a backward pass shared by its workers.
type convGradPass[T float32 | float64] struct {
	g        *convGeom
	gemm     gemmFunc[T]
	pg       *pooledGrad[T]
	xd, wd   []T // input, weight gradient
	gd, bd   []T // dense output gradient (nil when pooled), bias gradient (nil: none)
	dxd, wtd []T // input gradient and weight (nil: no input gradient)
	wFinite  bool
	direct   bool
	nb, rb   int
	kb       int // columns of a worker's weight-gradient block: k, +1 for the bias row of ones
	rsC, csC int // the layout of those blocks
	per      int // accumulator elements per worker
	acc      []T
}

// convBackwardPass runs the pass: each worker accumulates into its own
// [og, kb] block per group (and, for the direct path, bias sums), and the
// blocks are summed into dw and db at the end.
func convBackwardPass[T float32 | float64](j convGrads[T], x View, p ConvParams, groups int, gemm gemmFunc[T]) {
	g := newConvGeom(x, j.dw.Shape[0], p, groups)
	s := &convGradPass[T]{g: g, gemm: gemm, pg: j.pooled, xd: cpuData[T](x), wd: cpuData[T](j.dw)[j.dw.Offset:], wFinite: true}
	if s.pg == nil {
		s.gd = cpuData[T](j.gy)[j.gy.Offset:]
	}
	if j.db.Storage != nil {
		s.bd = cpuData[T](j.db)[j.db.Offset:]
	}
	s.direct = g.direct()
	s.nb, s.rb = g.blocking()
	if j.dx.Storage != nil {
		s.dxd, s.wtd = cpuData[T](j.dx)[j.dx.Offset:], cpuData[T](j.w)[j.w.Offset:]
		s.wFinite = !g.wide || allFinite(s.wtd[:g.o*g.k])
	}
	items := g.items(s.nb)
	nw := max(1, min(convWorkers(items, 2*g.og*g.k*g.p*s.nb), items))
	// With a bias (and an im2col buffer) the columns get a last row of ones,
	// so the GEMM's last output column is the bias gradient.
	s.kb = g.k
	if s.bd != nil && !s.direct {
		s.kb++
	}
	// The GEMM writes column-major ([kb][og]) when that puts the longer
	// side along the micro-kernel's rows.
	s.rsC, s.csC = s.kb, 1
	if g.og >= 32 || g.og >= s.kb {
		s.rsC, s.csC = 1, g.og
	}
	s.per = g.o*s.kb + g.o
	s.acc = make([]T, nw*s.per)
	forItems(items, nw, s.item)
	s.sumWorkers(nw, groups)
}

// item is worker t's share of work item it: an image block, or one image.
func (s *convGradPass[T]) item(t, it int) {
	g := s.g
	n0, n1, gr := g.item(it, s.nb)
	a := s.acc[t*s.per : (t+1)*s.per]
	colsN := (g.k + 1) * max(s.nb*max(g.p, g.pb), s.rb*g.ow)
	var cols []T
	if !s.direct {
		extra := 0
		if s.pg != nil {
			extra = g.og * g.p // the output-gradient planes, after the columns
		}
		c := getScratch[T](colsN + extra)
		defer putScratch(c)
		cols = *c
	}
	if s.nb > 1 {
		s.imageBlock(a, cols, n0, n1, gr)
		return
	}
	s.image(a, cols, colsN, n0, gr)
}

// ones sets the bias row of the columns (when there is one) to 1.
func (s *convGradPass[T]) ones(cols []T, np int) {
	if s.kb > s.g.k {
		row := cols[s.g.k*np : (s.g.k+1)*np]
		for t := range row {
			row[t] = 1
		}
	}
}

// imageBlock does images n0..n1 of group gr at once:
// dw_g[og, kb] += gy[og, np] · colsᵀ[np, kb], and, when asked, the input
// gradient from the same gathered rows.
func (s *convGradPass[T]) imageBlock(a, cols []T, n0, n1, gr int) {
	g := s.g
	ag := a[gr*g.og*s.kb:]
	np := (n1 - n0) * g.pb
	// The dropped columns of the wide layout meet zeros of gy; they need
	// clearing only when the input holds Inf or NaN.
	clean := g.wide && !planesFinite(g, s.xd, n0, n1, gr)
	for img := n0; img < n1; img++ {
		blockCols(g, cols[(img-n0)*g.pb:], np, s.xd, img, gr*g.cg, clean)
	}
	s.ones(cols, np)
	tmp := getScratch[T](g.og * np)
	defer putScratch(tmp)
	if s.pg != nil {
		s.pg.gather(g, *tmp, n0, n1, gr)
	} else {
		gatherRows(g, *tmp, s.gd, n0, n1, gr)
	}
	s.gemm(g.og, s.kb, np, 1, *tmp, np, 1, cols, 1, np, 1, ag, s.rsC, s.csC)
	if s.dxd == nil {
		return
	}
	// The input gradient: the columns wᵀ·gy into the now free cols, then
	// col2im.
	s.gemm(g.k, np, g.og, 1, s.wtd[gr*g.og*g.k:], 1, g.k, *tmp, np, 1, 0, cols, np, 1)
	if !s.wFinite {
		for r := range g.k {
			zeroGaps(cols[r*np:(r+1)*np], (n1-n0)*g.oh, g.w, g.ow)
		}
	}
	for img := n0; img < n1; img++ {
		blockCol2im(g, s.dxd, cols[(img-n0)*g.pb:], np, img, gr*g.cg)
	}
}

// image does one image of group gr in blocks of output rows, through
// im2col columns or (direct geometries) straight from the input.
func (s *convGradPass[T]) image(a, cols []T, colsN, img, gr int) {
	g := s.g
	ag, ab := a[gr*g.og*s.kb:], a[g.o*s.kb+gr*g.og:]
	var rows []T // the rows of the output gradient for img and gr
	if s.pg != nil {
		rows = cols[colsN : colsN+g.og*g.p]
		s.pg.fill(rows, img, gr*g.og, g.og, g.p)
	} else {
		rows = s.gd[(img*g.o+gr*g.og)*g.p:]
	}
	for oy0 := 0; oy0 < g.oh; oy0 += s.rb {
		oy1 := min(g.oh, oy0+s.rb)
		np := (oy1 - oy0) * g.ow
		gm := rows[oy0*g.ow:]
		if !s.direct {
			im2col(g, cols, np, s.xd, img, gr*g.cg, oy0, oy1)
			s.ones(cols, np)
			s.gemm(g.og, s.kb, np, 1, gm, g.p, 1, cols, 1, np, 1, ag, s.rsC, s.csC)
			continue
		}
		s.gemm(g.og, g.k, np, 1, gm, g.p, 1, s.xd[g.xoff+img*g.xs[0]+gr*g.cg*g.xs[1]+oy0*g.ow:], 1, g.xs[1], 1, ag, s.rsC, s.csC)
		if s.bd != nil {
			for o := range g.og {
				ab[o] += sum4(gm[o*g.p : o*g.p+np])
			}
		}
	}
}

// sumWorkers adds the workers' blocks into dw (row-major [o][k]) and db.
func (s *convGradPass[T]) sumWorkers(nw, groups int) {
	g, kb, rsC, csC := s.g, s.kb, s.rsC, s.csC
	for t := range nw {
		a := s.acc[t*s.per : (t+1)*s.per]
		for gr := range groups {
			ag := a[gr*g.og*kb : (gr+1)*g.og*kb]
			dg := s.wd[gr*g.og*g.k : (gr+1)*g.og*g.k]
			for o := range g.og {
				for k := range g.k {
					dg[o*g.k+k] += ag[o*rsC+k*csC]
				}
				if kb > g.k {
					s.bd[gr*g.og+o] += ag[o*rsC+g.k*csC]
				}
			}
		}
		if s.bd != nil && kb == g.k {
			for o, v := range a[g.o*kb:] {
				s.bd[o] += v
			}
		}
	}
}

// sum4 sums s with four accumulators.
func sum4[T float32 | float64](s []T) T {
	var a, b, c, d T
	t := 0
	for ; t+4 <= len(s); t += 4 {
		q := s[t : t+4 : t+4]
		a += q[0]
		b += q[1]
		c += q[2]
		d += q[3]
	}
	for ; t < len(s); t++ {
		a += s[t]
	}
	return (a + b) + (c + d)
}

// pooledGrad is the gradient of a max-pooled convolution output: the pooled
// gradient gp and the indices idx ([N, O, PH, PW], contiguous, q = PH*PW
// per plane) of MaxPool2d over the output planes.
type pooledGrad[T float32 | float64] struct {
	gp  []T
	idx []int32
	o   int
	q   int
	bad atomic.Bool // an index outside its plane was met
	// mask, when not nil (like gp), keeps the gradient only where it is
	// positive: the output of a ReLU after the pooling.
	mask     []T
	reluGrad func(d, g, y []T) // d = g where y > 0, else 0
}

// masked returns the pooled gradient of plane pl, with zeros where the
// mask is not positive: in buf when there is a mask.
func (pg *pooledGrad[T]) masked(pl int, buf []T) []T {
	g := pg.gp[pl*pg.q : (pl+1)*pg.q]
	if pg.mask == nil {
		return g
	}
	buf = buf[:len(g)]
	pg.reluGrad(buf, g, pg.mask[pl*pg.q:(pl+1)*pg.q])
	return buf
}

// maskBuf returns a buffer for masked when there is a mask.
func (pg *pooledGrad[T]) maskBuf() []T {
	if pg.mask == nil {
		return nil
	}
	return make([]T, pg.q)
}

// fill writes the output-gradient planes c0..c0+nc-1 of image img, hw
// elements each, to dst: zeros with each pooled gradient added at its index.
func (pg *pooledGrad[T]) fill(dst []T, img, c0, nc, hw int) {
	buf := pg.maskBuf()
	for cc := range nc {
		d := dst[cc*hw : (cc+1)*hw]
		clear(d)
		pl := img*pg.o + c0 + cc
		g := pg.masked(pl, buf)
		for t, i := range pg.idx[pl*pg.q : (pl+1)*pg.q] {
			if uint32(i) >= uint32(hw) {
				pg.bad.Store(true)
				continue
			}
			d[i] += g[t]
		}
	}
}

// conv2dMaxPoolBackward is the CPU Conv2dMaxPoolBackwardWeight (dx with
// nil Storage) and Conv2dMaxPoolBackward (dx and w given); it returns false
// for geometries or dtypes it does not take. dx, dw and db (nil Storage: no
// bias) are zeroed; gp, idx and w contiguous.
func conv2dMaxPoolBackward(dx, dw, db, x, gp, idx, mask, w View, p ConvParams, groups int) bool {
	g := newConvGeom(x, dw.Shape[0], p, groups)
	nb, _ := g.blocking()
	if g.direct() || (dx.Storage != nil && nb < 2) {
		return false // the input gradient is computed with the weight gradient only for image blocks
	}
	o, q := gp.Shape[1], gp.Shape[2]*gp.Shape[3]
	id := idx.Storage.(*cpuStorage).buf.([]int32)[idx.Offset:]
	var bad bool
	switch {
	case allDType(Float32, dw, x, gp) && (db.Storage == nil || db.DType() == Float32) && (dx.Storage == nil || allDType(Float32, dx, w)):
		pg := &pooledGrad[float32]{gp: cpuData[float32](gp)[gp.Offset:], idx: id, o: o, q: q}
		if mask.Storage != nil {
			pg.mask, pg.reluGrad = cpuData[float32](mask)[mask.Offset:], reluGradF32
		}
		convPooledGrad[float32](dx, dw, db, x, w, pg, p, groups, cpu.Sgemm)
		bad = pg.bad.Load()
	case allDType(Float64, dw, x, gp) && (db.Storage == nil || db.DType() == Float64) && (dx.Storage == nil || allDType(Float64, dx, w)):
		pg := &pooledGrad[float64]{gp: cpuData[float64](gp)[gp.Offset:], idx: id, o: o, q: q}
		if mask.Storage != nil {
			pg.mask, pg.reluGrad = cpuData[float64](mask)[mask.Offset:], reluGradGo[float64]
		}
		convPooledGrad[float64](dx, dw, db, x, w, pg, p, groups, cpu.Dgemm)
		bad = pg.bad.Load()
	default:
		return false
	}
	if bad {
		panic(&Error{Op: "tensor.Conv2dMaxPoolBackward", Msg: "index out of range"})
	}
	return true
}

// pooledOut receives a convolution output max-pooled with p: y and idx
// ([N, O, PH, PW], contiguous) for output planes of h x w.
type pooledOut[T float32 | float64] struct {
	y      []T
	idx    []int32
	o      int
	h, w   int
	ph, pw int
	p      ConvParams
	relu   func(y []T) // ReLU in place, nil for none
}

// finish applies the ReLU, when asked, to a pooled plane.
func (po *pooledOut[T]) finish(y []T) {
	if po.relu != nil {
		po.relu(y)
	}
}

// pool pools the output planes c0..c0+nc-1 of image img, held in src
// (h*w elements each).
func (po *pooledOut[T]) pool(src []T, img, c0, nc int) {
	hw, q := po.h*po.w, po.ph*po.pw
	fast := maxPool2x2Fast(po.p, 1)
	for cc := range nc {
		pl := img*po.o + c0 + cc
		maxPoolPlane(po.y[pl*q:(pl+1)*q], po.idx[pl*q:(pl+1)*q], src, cc*hw, po.w, 1, po.h, po.w, po.ph, po.pw, po.p, fast)
		po.finish(po.y[pl*q : (pl+1)*q])
	}
}

// poolBlock pools the block-layout product tmp [og, (n1-n0)*pb] of group
// gr (see scatterRows), adding the bias bd (when not nil) to the maxima.
func (po *pooledOut[T]) poolBlock(g *convGeom, tmp, bd []T, n0, n1, gr int) {
	np, q := (n1-n0)*g.pb, po.ph*po.pw
	sH := g.ow
	if g.wide {
		sH = g.w
	}
	fast := maxPool2x2Fast(po.p, 1)
	for img := n0; img < n1; img++ {
		for o := range g.og {
			pl := img*po.o + gr*g.og + o
			y := po.y[pl*q : (pl+1)*q]
			maxPoolPlane(y, po.idx[pl*q:(pl+1)*q], tmp, o*np+(img-n0)*g.pb, sH, 1, po.h, po.w, po.ph, po.pw, po.p, fast)
			if bd != nil {
				v := bd[gr*g.og+o]
				for t := range y {
					y[t] += v
				}
			}
			po.finish(y)
		}
	}
}

// conv2dMaxPool is the CPU Conv2dMaxPool2d: y and idx fresh and
// contiguous, b with nil Storage without bias. It returns false for
// geometries or dtypes it does not take.
func conv2dMaxPool(y, idx, x, w, b View, p ConvParams, groups int, pp ConvParams, relu bool) bool {
	if newConvGeom(x, w.Shape[0], p, groups).direct() {
		return false
	}
	oh, ow := p.OutSize(x.Shape[2], x.Shape[3])
	id := idx.Storage.(*cpuStorage).buf.([]int32)[idx.Offset:]
	switch {
	case allDType(Float32, y, x, w) && (b.Storage == nil || b.DType() == Float32):
		po := &pooledOut[float32]{y: cpuData[float32](y)[y.Offset:], idx: id, o: w.Shape[0], h: oh, w: ow, ph: y.Shape[2], pw: y.Shape[3], p: pp}
		if relu {
			po.relu = func(y []float32) { reluF32(y, y) }
		}
		convForward[float32](View{}, x, w, b, p, groups, cpu.Sgemm, po)
	case allDType(Float64, y, x, w) && (b.Storage == nil || b.DType() == Float64):
		po := &pooledOut[float64]{y: cpuData[float64](y)[y.Offset:], idx: id, o: w.Shape[0], h: oh, w: ow, ph: y.Shape[2], pw: y.Shape[3], p: pp}
		if relu {
			po.relu = func(y []float64) {
				for t, v := range y {
					y[t] = max(v, 0)
				}
			}
		}
		convForward[float64](View{}, x, w, b, p, groups, cpu.Dgemm, po)
	default:
		return false
	}
	return true
}

// gather is gatherRows from the pooled gradient: the output-gradient rows
// of images n0..n1-1 and group gr, in the block layout, into tmp.
func (pg *pooledGrad[T]) gather(g *convGeom, tmp []T, n0, n1, gr int) {
	np := (n1 - n0) * g.pb
	buf := pg.maskBuf()
	for img := n0; img < n1; img++ {
		for o := range g.og {
			dst := tmp[o*np+(img-n0)*g.pb : o*np+(img-n0+1)*g.pb]
			clear(dst) // the dropped columns of the wide layout stay zero
			pl := img*pg.o + gr*g.og + o
			gs := pg.masked(pl, buf)
			for t, i := range pg.idx[pl*pg.q : (pl+1)*pg.q] {
				if uint32(i) >= uint32(g.p) {
					pg.bad.Store(true)
					continue
				}
				at := int(i)
				if g.wide {
					at = at/g.ow*g.w + at%g.ow
				}
				dst[at] += gs[t]
			}
		}
	}
}

// reluGradGo is reluGradF32Go for any float type.
func reluGradGo[T float32 | float64](d, g, y []T) {
	g, y = g[:len(d)], y[:len(d)]
	for i, v := range y {
		if v > 0 {
			d[i] = g[i]
		} else {
			d[i] = 0
		}
	}
}
