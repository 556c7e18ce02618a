package optim

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// State buffer names (as in PyTorch's optimizer state).
const (
	bufMomentum  = "momentum_buffer"
	bufExpAvg    = "exp_avg"
	bufExpAvgSq  = "exp_avg_sq"
	bufSquareAvg = "square_avg"
	bufGradAvg   = "grad_avg"
)

// bufNames lists the buffers each algorithm may keep.
func bufNames(k Kind) []string {
	switch k {
	case KindSGD, KindLARS:
		return []string{bufMomentum}
	case KindAdam, KindAdamW, KindLAMB:
		return []string{bufExpAvg, bufExpAvgSq}
	case KindRMSProp:
		return []string{bufSquareAvg, bufGradAvg, bufMomentum}
	}
	return nil
}

// buffer returns the named state buffer of st, creating it as zeros like w.
func buffer(st *paramState, name string, w *tensor.Tensor) *tensor.Tensor {
	b := st.bufs[name]
	if b == nil {
		b = tensor.ZerosLike(w)
		tensor.ChargeMemoryLike(b, tensor.MemoryOptimizerState, w)
		st.bufs[name] = b
	}
	return b
}

// scale sets y = a·y in place.
func scale(y *tensor.Tensor, a float64) {
	if a != 1 {
		tensor.UnaryInto(tensor.OpAffine, y, y, a, 0)
	}
}

// scratch caches the optimizers' small temporaries (a·x in axpy,
// RMSProp's intermediate terms): each is dead when the update that took it
// returns.
var scratch tensor.Pool

// tempLike returns a tensor of t's dtype, shape and device whose contents
// the caller overwrites: a cached one on the CPU.
func tempLike(t *tensor.Tensor) *tensor.Tensor {
	if t.Device() == tensor.CPU {
		return scratch.GetLike(t)
	}
	return tensor.EmptyLike(t)
}

// release gives a tempLike tensor back once nothing uses it.
func release(t *tensor.Tensor) {
	if t.Device() == tensor.CPU {
		scratch.Put(t)
	}
}

// axpy sets y = y + a·x in place.
func axpy(y *tensor.Tensor, a float64, x *tensor.Tensor) {
	if a == 1 {
		tensor.AddInto(y, y, x)
		return
	}
	if !x.DType().IsFloat() {
		tensor.AddInto(y, y, tensor.Affine(x, a, 0))
		return
	}
	// a·x into a temporary (the kernel of tensor.Affine), then the sum
	t := tensor.UnaryInto(tensor.OpAffine, tempLike(x), x, a, 0)
	tensor.AddInto(y, y, t)
	release(t)
}

// axpyOver sets y = y + a·x in place, overwriting x with a·x.
func axpyOver(y *tensor.Tensor, a float64, x *tensor.Tensor) {
	if a != 1 {
		tensor.UnaryInto(tensor.OpAffine, x, x, a, 0)
	}
	tensor.AddInto(y, y, x)
}

// ratioOr1 returns num/den where both are positive, else 1 (0-d tensors).
func ratioOr1(num, den, wn, dn *tensor.Tensor) *tensor.Tensor {
	if r, ok := ratioOr1Host(num, den, wn, dn); ok {
		return r
	}
	return ratioOr1Ops(num, den, wn, dn)
}

// ratioOr1Ops is ratioOr1 in tensor ops (any device and dtype).
func ratioOr1Ops(num, den, wn, dn *tensor.Tensor) *tensor.Tensor {
	ok := tensor.LogicalAnd(tensor.CompareScalar(tensor.OpGt, wn, 0), tensor.CompareScalar(tensor.OpGt, dn, 0))
	return tensor.Where(ok, tensor.Div(num, den), tensor.FullLike(num, 1))
}

// ratioOr1Host is ratioOr1 for 0-d float32 or float64 CPU tensors of one
// dtype, computed on the host: the comparisons, the division (rounded once
// in the dtype) and the choice are exact, so the result has the bits of
// the tensor ops', in one tensor instead of seven.
func ratioOr1Host(num, den, wn, dn *tensor.Tensor) (*tensor.Tensor, bool) {
	dt := num.DType()
	for _, t := range [...]*tensor.Tensor{num, den, wn, dn} {
		if t.Device() != tensor.CPU || t.NDim() != 0 || t.DType() != dt {
			return nil, false
		}
	}
	v := 1.0
	switch dt {
	case tensor.Float32:
		at := func(t *tensor.Tensor) float32 { return tensor.HostData(t.Storage()).([]float32)[t.Offset()] }
		if at(wn) > 0 && at(dn) > 0 {
			v = float64(at(num) / at(den))
		}
	case tensor.Float64:
		at := func(t *tensor.Tensor) float64 { return tensor.HostData(t.Storage()).([]float64)[t.Offset()] }
		if at(wn) > 0 && at(dn) > 0 {
			v = at(num) / at(den)
		}
	default:
		return nil, false
	}
	return tensor.FullLike(num, v), true
}

func (opt *Optimizer) update(o *Options, w, grad *tensor.Tensor, st *paramState) error {
	st.step++
	switch opt.kind {
	case KindSGD:
		sgd(o, w, grad, st)
	case KindAdam, KindAdamW:
		m, v := buffer(st, bufExpAvg, w), buffer(st, bufExpAvgSq, w)
		tensor.AdamUpdate(w, grad, m, v, tensor.AdamHyper{
			LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay,
			Step: int(st.step), Decoupled: opt.kind == KindAdamW,
		})
	case KindRMSProp:
		rmsprop(o, w, grad, st)
	case KindLARS:
		lars(o, w, grad, st)
	case KindLAMB:
		lamb(o, w, grad, st)
	}
	return nil
}

func sgd(o *Options, w, grad *tensor.Tensor, st *paramState) {
	var b *tensor.Tensor
	first := false
	if o.Momentum != 0 {
		b = st.bufs[bufMomentum]
		if b == nil {
			b, first = tensor.ZerosLike(w), true
			tensor.ChargeMemoryLike(b, tensor.MemoryOptimizerState, w)
			st.bufs[bufMomentum] = b
		}
	}
	tensor.SGDUpdate(w, grad, b, tensor.SGDHyper{
		LR: o.LR, Momentum: o.Momentum, Dampening: o.Dampening, WeightDecay: o.WeightDecay,
		Nesterov: o.Nesterov, First: first,
	})
}

// rmsprop is RMSProp's update with its intermediate terms in one
// temporary (the same ops as the allocating form rmspropAlloc in the
// tests, so the same bits). Step has checked that grad has w's shape,
// dtype and device.
func rmsprop(o *Options, w, grad *tensor.Tensor, st *paramState) {
	g := grad
	if o.WeightDecay != 0 {
		g = tensor.Add(grad, tensor.Affine(w, o.WeightDecay, 0))
	}
	ws := tempLike(w)
	sq := buffer(st, bufSquareAvg, w)
	scale(sq, o.Alpha)
	axpyOver(sq, 1-o.Alpha, tensor.UnaryInto(tensor.OpSquare, ws, g, 0, 0))
	avg := ws
	if o.Centered {
		ga := buffer(st, bufGradAvg, w)
		scale(ga, o.Alpha)
		axpy(ga, 1-o.Alpha, g)
		tensor.SubInto(avg, sq, tensor.UnaryInto(tensor.OpSquare, avg, ga, 0, 0))
		tensor.UnaryInto(tensor.OpSqrt, avg, avg, 0, 0)
	} else {
		tensor.UnaryInto(tensor.OpSqrt, avg, sq, 0, 0)
	}
	tensor.UnaryInto(tensor.OpAffine, avg, avg, 1, o.Eps)
	q := tensor.DivInto(avg, g, avg) // g / avg
	if o.Momentum > 0 {
		b := buffer(st, bufMomentum, w)
		scale(b, o.Momentum)
		tensor.AddInto(b, b, q)
		axpy(w, -o.LR, b)
	} else {
		axpyOver(w, -o.LR, q)
	}
	release(ws)
}

// normWith returns the Euclidean norm of t as a 0-d tensor on t's device,
// with t's square in the temporary tmp (t's shape and dtype).
func normWith(t, tmp *tensor.Tensor) *tensor.Tensor {
	return tensor.Sqrt(tensor.Sum(tensor.UnaryInto(tensor.OpSquare, tmp, t, 0, 0), false))
}

// lars is LARS's update with its full-size terms in cached temporaries
// (the same ops as the allocating form larsAlloc in the tests, so the same
// bits; the norms and the trust ratio stay 0-d tensors).
func lars(o *Options, w, grad *tensor.Tensor, st *paramState) {
	t := tempLike(w)
	wn, gn := normWith(w, t), normWith(grad, t)
	den := tensor.Add(gn, tensor.Affine(wn, o.WeightDecay, o.Eps))
	trust := ratioOr1(tensor.Affine(wn, o.TrustCoefficient, 0), den, wn, gn)
	d := grad
	if o.WeightDecay != 0 {
		d = tensor.AddInto(t, grad, tensor.UnaryInto(tensor.OpAffine, t, w, o.WeightDecay, 0))
	}
	d = tensor.MulInto(t, d, trust)
	if o.Momentum != 0 {
		v := buffer(st, bufMomentum, w)
		scale(v, o.Momentum)
		axpyOver(v, o.LR, d)
		tensor.SubInto(w, w, v)
	} else {
		axpyOver(w, -o.LR, d)
	}
	release(t)
}

// lamb is LAMB's update with its full-size terms in cached temporaries
// (the same ops as the allocating form lambAlloc in the tests, so the same
// bits; the norms and the trust ratio stay 0-d tensors).
func lamb(o *Options, w, grad *tensor.Tensor, st *paramState) {
	t, r := tempLike(w), tempLike(w)
	m, v := buffer(st, bufExpAvg, w), buffer(st, bufExpAvgSq, w)
	scale(m, o.Beta1)
	axpy(m, 1-o.Beta1, grad)
	scale(v, o.Beta2)
	axpyOver(v, 1-o.Beta2, tensor.UnaryInto(tensor.OpSquare, t, grad, 0, 0))
	step := float64(st.step)
	bc1 := 1 - math.Pow(o.Beta1, step)
	bc2 := 1 - math.Pow(o.Beta2, step)
	den := tensor.UnaryInto(tensor.OpAffine, t, v, 1/bc2, 0)
	tensor.UnaryInto(tensor.OpSqrt, den, den, 0, 0)
	tensor.UnaryInto(tensor.OpAffine, den, den, 1, o.Eps)
	tensor.DivInto(r, tensor.UnaryInto(tensor.OpAffine, r, m, 1/bc1, 0), den)
	if o.WeightDecay != 0 {
		axpy(r, o.WeightDecay, w)
	}
	wn, rn := normWith(w, t), normWith(r, t)
	ratio := ratioOr1(wn, rn, wn, rn)
	tensor.MulInto(r, r, ratio)
	axpyOver(w, -o.LR, r)
	release(t)
	release(r)
}
