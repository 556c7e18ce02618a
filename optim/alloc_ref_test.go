package optim

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// The optimizers' updates in their allocating forms, the references that
// the updates with cached temporaries (update.go) match bit for bit.

// norm returns the Euclidean norm of t as a 0-d tensor on t's device.
func norm(t *tensor.Tensor) *tensor.Tensor {
	return tensor.Sqrt(tensor.Sum(tensor.Square(t), false))
}

// rmspropAlloc is RMSProp's update with new tensors for its terms (the
// form before rmsprop's temporaries), the reference for its bits.
func rmspropAlloc(o *Options, w, grad *tensor.Tensor, st *paramState) {
	g := grad
	if o.WeightDecay != 0 {
		g = tensor.Add(grad, tensor.Affine(w, o.WeightDecay, 0))
	}
	sq := buffer(st, bufSquareAvg, w)
	scale(sq, o.Alpha)
	axpy(sq, 1-o.Alpha, tensor.Square(g))
	var avg *tensor.Tensor
	if o.Centered {
		ga := buffer(st, bufGradAvg, w)
		scale(ga, o.Alpha)
		axpy(ga, 1-o.Alpha, g)
		avg = tensor.Sub(sq, tensor.Square(ga))
		tensor.UnaryInto(tensor.OpSqrt, avg, avg, 0, 0)
	} else {
		avg = tensor.Sqrt(sq)
	}
	tensor.UnaryInto(tensor.OpAffine, avg, avg, 1, o.Eps)
	if o.Momentum > 0 {
		b := buffer(st, bufMomentum, w)
		scale(b, o.Momentum)
		tensor.AddInto(b, b, tensor.Div(g, avg))
		axpy(w, -o.LR, b)
		return
	}
	axpy(w, -o.LR, tensor.Div(g, avg))
}

// larsAlloc is LARS's update with new tensors for its terms (the form
// before lars's temporaries), the reference for its bits.
func larsAlloc(o *Options, w, grad *tensor.Tensor, st *paramState) {
	wn, gn := norm(w), norm(grad)
	den := tensor.Add(gn, tensor.Affine(wn, o.WeightDecay, o.Eps))
	trust := ratioOr1(tensor.Affine(wn, o.TrustCoefficient, 0), den, wn, gn)
	d := grad
	if o.WeightDecay != 0 {
		d = tensor.Add(grad, tensor.Affine(w, o.WeightDecay, 0))
	}
	d = tensor.Mul(d, trust)
	if o.Momentum != 0 {
		v := buffer(st, bufMomentum, w)
		scale(v, o.Momentum)
		axpy(v, o.LR, d)
		tensor.SubInto(w, w, v)
		return
	}
	axpy(w, -o.LR, d)
}

// lambAlloc is LAMB's update with new tensors for its terms (the form
// before lamb's temporaries), the reference for its bits.
func lambAlloc(o *Options, w, grad *tensor.Tensor, st *paramState) {
	m, v := buffer(st, bufExpAvg, w), buffer(st, bufExpAvgSq, w)
	scale(m, o.Beta1)
	axpy(m, 1-o.Beta1, grad)
	scale(v, o.Beta2)
	axpy(v, 1-o.Beta2, tensor.Square(grad))
	t := float64(st.step)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	den := tensor.Sqrt(tensor.Affine(v, 1/bc2, 0))
	tensor.UnaryInto(tensor.OpAffine, den, den, 1, o.Eps)
	r := tensor.Div(tensor.Affine(m, 1/bc1, 0), den)
	if o.WeightDecay != 0 {
		axpy(r, o.WeightDecay, w)
	}
	wn, rn := norm(w), norm(r)
	ratio := ratioOr1(wn, rn, wn, rn)
	tensor.MulInto(r, r, ratio)
	axpy(w, -o.LR, r)
}
