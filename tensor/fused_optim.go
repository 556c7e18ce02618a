package tensor

import "math"

// AdamHyper holds the hyperparameters of one Adam or AdamW update (see
// AdamUpdate). Step is the 1-based step number used for bias correction.
type AdamHyper struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Step                               int
	// Decoupled selects AdamW: the weight decay multiplies the parameter by
	// 1 - LR·WeightDecay instead of being added to the gradient.
	Decoupled bool
}

// AdamUpdater is an optional interface of a Device with a fused Adam kernel
// (the CUDA device's tess_adam_f32/f64, for example). AdamUpdate calls it for
// tensors on that device; the kernel returns false when it cannot handle the
// operands (say, non-contiguous views), and AdamUpdate then composes the
// update from elementwise ops. w, g, m and v have been checked to share
// shape, dtype and device.
type AdamUpdater interface {
	AdamUpdate(w, g, m, v View, h AdamHyper) bool
}

// AdamUpdate applies one Adam (or, with h.Decoupled, AdamW) step in place to
// the parameter w, given its gradient g and the first and second moment
// buffers m and v, exactly as torch.optim.Adam/AdamW compute it:
//
//	g' = g + wd·w                  (Adam; AdamW instead sets w = w·(1 - lr·wd))
//	m  = β1·m + (1-β1)·g'
//	v  = β2·v + (1-β2)·g'²
//	w  = w - lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε)
//
// w, g, m and v must have the same shape, floating dtype and device; g is not
// modified. On the CPU with contiguous float32 or float64 operands it runs
// as one fused, parallel pass over memory (AVX2 where available); a device
// that implements AdamUpdater runs its own kernel; otherwise the update is
// composed from elementwise ops, so it works on every device.
func AdamUpdate(w, g, m, v *Tensor, h AdamHyper) {
	const op = "tensor.AdamUpdate"
	for _, t := range []*Tensor{g, m, v} {
		if !Shape(t.shape).Equal(w.shape) || t.DType() != w.DType() || t.Device() != w.Device() {
			fail(op, "operands must share shape, dtype and device: w %v%v on %s, got %v%v on %s",
				w.DType(), Shape(w.shape), w.Device().Name(), t.DType(), Shape(t.shape), t.Device().Name())
		}
	}
	if !w.DType().IsFloat() {
		fail(op, "dtype %v is not floating point", w.DType())
	}
	if h.Step < 1 {
		fail(op, "step %d must be >= 1", h.Step)
	}
	if w.Device() == CPU && w.IsContiguous() && g.IsContiguous() && m.IsContiguous() && v.IsContiguous() {
		n := w.NumElements()
		switch w.DType() {
		case Float32:
			adamCPU(hostSlice[float32](w, n), hostSlice[float32](g, n), hostSlice[float32](m, n), hostSlice[float32](v, n), h)
			return
		case Float64:
			adamCPU(hostSlice[float64](w, n), hostSlice[float64](g, n), hostSlice[float64](m, n), hostSlice[float64](v, n), h)
			return
		}
	}
	if u, ok := w.Device().(AdamUpdater); ok && u.AdamUpdate(w.View(), g.View(), m.View(), v.View(), h) {
		return
	}
	adamComposed(w, g, m, v, h)
}

func hostSlice[T float32 | float64](t *Tensor, n int) []T {
	return HostData(t.st).([]T)[t.offset : t.offset+n]
}

func adamCPU[T float32 | float64](w, g, m, v []T, h AdamHyper) {
	bc1 := 1 - math.Pow(h.Beta1, float64(h.Step))
	bc2 := 1 - math.Pow(h.Beta2, float64(h.Step))
	b1, b2 := T(h.Beta1), T(h.Beta2)
	c1, c2 := T(1-h.Beta1), T(1-h.Beta2)
	stepSize := T(h.LR / bc1)
	rbc2 := T(1 / math.Sqrt(bc2))
	eps := T(h.Eps)
	// Weight decay: L2 adds wd·w to the gradient, decoupled multiplies w by
	// decay. Unused, they are 0 and 1, which change nothing.
	var wd, decay T = 0, 1
	if h.Decoupled {
		decay = T(1 - h.LR*h.WeightDecay)
	} else {
		wd = T(h.WeightDecay)
	}
	k := [9]float32{float32(b1), float32(c1), float32(b2), float32(c2), float32(stepSize),
		float32(rbc2), float32(eps), float32(wd), float32(decay)}
	p := adamParams[T]{b1, b2, c1, c2, stepSize, rbc2, eps, wd, decay}
	n := len(w)
	// About 20 operations per element; run in pieces of at least 8K.
	if nw := workers(n, 4); nw > 1 {
		kp := k // the closure's own copies: k and p stay on the stack below
		pp := p
		parallelFor(n, nw, func(lo, hi int) { adamRange(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], &pp, &kp) })
		return
	}
	adamRange(w, g, m, v, &p, &k) // small tensors: no closure, no goroutine
}

// adamParams are adamCPU's per-step constants in T.
type adamParams[T float32 | float64] struct{ b1, b2, c1, c2, stepSize, rbc2, eps, wd, decay T }

// adamRange is adamCPU on one range (k: the float32 vector kernel's constants).
func adamRange[T float32 | float64](w, g, m, v []T, p *adamParams[T], k *[9]float32) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	done := 0
	if wf, ok := any(w).([]float32); ok {
		done = adamF32Vec(wf, any(g).([]float32), any(m).([]float32), any(v).([]float32), k)
	}
	b1, b2, c1, c2, stepSize, rbc2, eps, wd, decay := p.b1, p.b2, p.c1, p.c2, p.stepSize, p.rbc2, p.eps, p.wd, p.decay
	for i := done; i < len(w); i++ {
		gi, wi := g[i], w[i]
		gi += wd * wi
		wi *= decay
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*(gi*gi)
		m[i], v[i] = mi, vi
		den := T(math.Sqrt(float64(vi)))*rbc2 + eps
		w[i] = wi - stepSize*(mi/den)
	}
}

// adamComposed is AdamUpdate built from device ops.
func adamComposed(w, g, m, v *Tensor, h AdamHyper) {
	bc1 := 1 - math.Pow(h.Beta1, float64(h.Step))
	bc2 := 1 - math.Pow(h.Beta2, float64(h.Step))
	if h.WeightDecay != 0 {
		if h.Decoupled {
			UnaryInto(OpAffine, w, w, 1-h.LR*h.WeightDecay, 0)
		} else {
			g = Add(g, Affine(w, h.WeightDecay, 0))
		}
	}
	// m = β1·m + (1-β1)·g
	UnaryInto(OpAffine, m, m, h.Beta1, 0)
	AddInto(m, m, Affine(g, 1-h.Beta1, 0))
	// v = β2·v + (1-β2)·g²
	UnaryInto(OpAffine, v, v, h.Beta2, 0)
	g2 := Square(g)
	UnaryInto(OpAffine, g2, g2, 1-h.Beta2, 0)
	AddInto(v, v, g2)
	// den = √v/√bc2 + ε (reusing g2)
	UnaryInto(OpSqrt, g2, v, 0, 0)
	UnaryInto(OpAffine, g2, g2, 1/math.Sqrt(bc2), h.Eps)
	DivInto(g2, m, g2)
	UnaryInto(OpAffine, g2, g2, -h.LR/bc1, 0)
	AddInto(w, w, g2)
}

// SGDHyper holds the hyperparameters of one SGD update (see SGDUpdate).
type SGDHyper struct {
	LR, Momentum, Dampening, WeightDecay float64
	Nesterov                             bool
	// First says that buf holds no history yet: it is set to the gradient
	// (torch.optim.SGD's first step) instead of being decayed.
	First bool
}

// SGDUpdate applies one step of SGD with momentum in place to the parameter
// w, given its gradient g and momentum buffer buf (nil when Momentum is 0),
// exactly as torch.optim.SGD computes it:
//
//	g' = g + wd·w
//	buf = g' (First), else buf = μ·buf + (1-dampening)·g'
//	g'' = g' + μ·buf (Nesterov), else g'' = buf
//	w = w - lr·g''
//
// Operands share shape, floating dtype and device; g is not modified. On
// the CPU with contiguous operands it is one fused parallel pass; elsewhere
// it is composed from elementwise ops.
func SGDUpdate(w, g, buf *Tensor, h SGDHyper) {
	const op = "tensor.SGDUpdate"
	ops, nops := [2]*Tensor{g, buf}, 1 // on the stack
	if h.Momentum != 0 {
		if buf == nil {
			fail(op, "momentum %v needs a buffer", h.Momentum)
		}
		nops = 2
	}
	for _, t := range ops[:nops] {
		if !Shape(t.shape).Equal(w.shape) || t.DType() != w.DType() || t.Device() != w.Device() {
			fail(op, "operands must share shape, dtype and device: w %v%v on %s, got %v%v on %s",
				w.DType(), Shape(w.shape), w.Device().Name(), t.DType(), Shape(t.shape), t.Device().Name())
		}
	}
	if !w.DType().IsFloat() {
		fail(op, "dtype %v is not floating point", w.DType())
	}
	contig := w.IsContiguous() && g.IsContiguous() && (h.Momentum == 0 || buf.IsContiguous())
	if w.Device() == CPU && contig {
		n := w.NumElements()
		switch w.DType() {
		case Float32:
			var b []float32
			if h.Momentum != 0 {
				b = hostSlice[float32](buf, n)
			}
			sgdCPU(hostSlice[float32](w, n), hostSlice[float32](g, n), b, h)
			return
		case Float64:
			var b []float64
			if h.Momentum != 0 {
				b = hostSlice[float64](buf, n)
			}
			sgdCPU(hostSlice[float64](w, n), hostSlice[float64](g, n), b, h)
			return
		}
	}
	sgdComposed(w, g, buf, h)
}

func sgdCPU[T float32 | float64](w, g, b []T, h SGDHyper) {
	lr, mu, wd := T(h.LR), T(h.Momentum), T(h.WeightDecay)
	damp := T(1 - h.Dampening)
	l2, mom, nest, first := h.WeightDecay != 0, h.Momentum != 0, h.Nesterov, h.First
	n := len(w)
	if nw := workers(n, 2); nw > 1 {
		parallelFor(n, nw, func(lo, hi int) {
			var bb []T
			if mom {
				bb = b[lo:hi]
			}
			sgdRange(w[lo:hi], g[lo:hi], bb, lr, mu, wd, damp, l2, mom, nest, first)
		})
		return
	}
	sgdRange(w, g, b, lr, mu, wd, damp, l2, mom, nest, first) // small: no closure
}

// sgdRange is sgdCPU's loop over one range (b is nil without momentum).
func sgdRange[T float32 | float64](w, g, bb []T, lr, mu, wd, damp T, l2, mom, nest, first bool) {
	g = g[:len(w)]
	if mom {
		bb = bb[:len(w)]
	}
	for i := range w {
		gi := g[i]
		if l2 {
			gi += wd * w[i]
		}
		if mom {
			bi := gi
			if !first {
				bi = mu*bb[i] + damp*gi
			}
			bb[i] = bi
			if nest {
				gi += mu * bi
			} else {
				gi = bi
			}
		}
		w[i] += -lr * gi
	}
}

// sgdComposed is SGDUpdate built from device ops.
func sgdComposed(w, g, buf *Tensor, h SGDHyper) {
	if h.WeightDecay != 0 {
		g = Add(g, Affine(w, h.WeightDecay, 0))
	}
	if h.Momentum != 0 {
		if h.First {
			buf.CopyFrom(g)
		} else {
			UnaryInto(OpAffine, buf, buf, h.Momentum, 0)
			AddInto(buf, buf, Affine(g, 1-h.Dampening, 0))
		}
		if h.Nesterov {
			g = Add(g, Affine(buf, h.Momentum, 0))
		} else {
			g = buf
		}
	}
	AddInto(w, w, Affine(g, -h.LR, 0))
}
