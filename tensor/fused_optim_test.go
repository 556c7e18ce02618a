package tensor

import (
	"math"
	"testing"
)

// TestAdamUpdateFusedMatchesComposed checks the fused CPU kernel against the
// composed device-op path (forced by a non-contiguous view) and against a
// float64 reference (relative 1e-5 for float32, 1e-12 for float64).
func TestAdamUpdateFusedMatchesComposed(t *testing.T) {
	for _, dt := range []DType{Float32, Float64} {
		for _, dec := range []bool{false, true} {
			g := NewGenerator(7)
			w0 := g.Normal(0, 1, dt, 6, 5)
			w1, w2 := w0.Clone(), w0.Clone().T().Contiguous().T() // w2 is a transposed (non-contiguous) view
			m1, v1 := ZerosLike(w0), ZerosLike(w0)
			m2, v2 := ZerosLike(w0).T().Contiguous().T(), ZerosLike(w0).T().Contiguous().T()
			wr := w0.Float64s()
			mr, vr := make([]float64, len(wr)), make([]float64, len(wr))
			h := AdamHyper{LR: 1e-2, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1, Decoupled: dec}
			for s := 1; s <= 5; s++ {
				grad := g.Normal(0, 1, dt, 6, 5)
				h.Step = s
				AdamUpdate(w1, grad, m1, v1, h)
				AdamUpdate(w2, grad.T().Contiguous().T(), m2, v2, h)
				gr := grad.Float64s()
				for i := range wr {
					gi := gr[i]
					if dec {
						wr[i] *= 1 - h.LR*h.WeightDecay
					} else {
						gi += h.WeightDecay * wr[i]
					}
					mr[i] = h.Beta1*mr[i] + (1-h.Beta1)*gi
					vr[i] = h.Beta2*vr[i] + (1-h.Beta2)*gi*gi
					mh := mr[i] / (1 - math.Pow(h.Beta1, float64(s)))
					vh := vr[i] / (1 - math.Pow(h.Beta2, float64(s)))
					wr[i] -= h.LR * mh / (math.Sqrt(vh) + h.Eps)
				}
			}
			if w2.IsContiguous() {
				t.Fatal("test setup: w2 should be non-contiguous")
			}
			tol := 1e-5
			if dt == Float64 {
				tol = 1e-12
			}
			a, b := w1.Float64s(), w2.Float64s()
			for i := range wr {
				if math.Abs(a[i]-wr[i]) > tol*(1+math.Abs(wr[i])) || math.Abs(b[i]-wr[i]) > tol*(1+math.Abs(wr[i])) {
					t.Fatalf("%v decoupled=%v: element %d fused %v composed %v reference %v", dt, dec, i, a[i], b[i], wr[i])
				}
			}
		}
	}
}

func TestAdamUpdateMisuse(t *testing.T) {
	w := Zeros(Float32, 3)
	if Try(func() { AdamUpdate(w, Zeros(Float32, 4), Zeros(Float32, 3), Zeros(Float32, 3), AdamHyper{Step: 1}) }) == nil {
		t.Fatal("shape mismatch accepted")
	}
	if Try(func() { AdamUpdate(w, Zeros(Float32, 3), Zeros(Float32, 3), Zeros(Float32, 3), AdamHyper{}) }) == nil {
		t.Fatal("step 0 accepted")
	}
}

func BenchmarkAdamUpdate(b *testing.B) {
	const n = 1 << 20
	w, g, m, v := Randn(n), Randn(n), Zeros(Float32, n), Zeros(Float32, n)
	h := AdamHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	b.SetBytes(n * 4 * 7)
	for i := 0; b.Loop(); i++ {
		h.Step = i + 1
		AdamUpdate(w, g, m, v, h)
	}
}

// TestSGDUpdateFusedMatchesComposed: the fused CPU loop and the composed
// path (forced by non-contiguous views) agree bit for bit, for every option.
func TestSGDUpdateFusedMatchesComposed(t *testing.T) {
	for _, dt := range []DType{Float32, Float64} {
		for _, h := range []SGDHyper{
			{LR: 0.1},
			{LR: 0.1, WeightDecay: 0.01},
			{LR: 0.05, Momentum: 0.9},
			{LR: 0.05, Momentum: 0.9, Dampening: 0.2, WeightDecay: 1e-3},
			{LR: 0.05, Momentum: 0.8, Nesterov: true, WeightDecay: 1e-2},
		} {
			g := NewGenerator(11)
			w0 := g.Normal(0, 1, dt, 4, 6)
			w1, w2 := w0.Clone(), w0.Clone().T().Contiguous().T()
			var b1, b2 *Tensor
			if h.Momentum != 0 {
				b1, b2 = ZerosLike(w0), ZerosLike(w0).T().Contiguous().T()
			}
			for s := range 4 {
				grad := g.Normal(0, 1, dt, 4, 6)
				h.First = s == 0
				SGDUpdate(w1, grad, b1, h)
				SGDUpdate(w2, grad.T().Contiguous().T(), b2, h)
			}
			if w2.IsContiguous() {
				t.Fatal("test setup: w2 should be non-contiguous")
			}
			if !Equal(w1, w2) {
				t.Fatalf("%v %+v: fused %v, composed %v", dt, h, w1, w2)
			}
		}
	}
}
