package optim

import (
	"testing"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// benchParams are the parameters of bench/train's MLP 784-1024-1024-10
// (1.86 M float32) with gradients.
func benchParams() []*autograd.Var {
	return paramsWithGrads([]int{1024, 784}, []int{1024}, []int{1024, 1024}, []int{1024}, []int{10, 1024}, []int{10})
}

// paramsWithGrads are float32 parameters of the given shapes, N(0, 0.05),
// each with an N(0, 1) gradient, drawn from generator 1 in that order.
func paramsWithGrads(shapes ...[]int) []*autograd.Var {
	g := tensor.NewGenerator(1)
	var ps []*autograd.Var
	for _, sh := range shapes {
		p := autograd.Param(g.Normal(0, 0.05, tensor.Float32, sh...))
		p.SetGrad(g.Normal(0, 1, tensor.Float32, sh...))
		ps = append(ps, p)
	}
	return ps
}

func benchStep(b *testing.B, kind Kind, o Options) {
	ps := benchParams()
	opt := New(kind, ps, o)
	n := 0
	for _, p := range ps {
		n += p.Value().NumElements()
	}
	b.SetBytes(int64(n) * 4)
	for b.Loop() {
		if err := opt.Step(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAdam(b *testing.B)  { benchStep(b, KindAdam, Options{LR: 1e-4}) }
func BenchmarkAdamW(b *testing.B) { benchStep(b, KindAdamW, Options{LR: 1e-4, WeightDecay: 0.01}) }
func BenchmarkSGDMomentum(b *testing.B) {
	benchStep(b, KindSGD, Options{LR: 1e-4, Momentum: 0.9, WeightDecay: 1e-4})
}
func BenchmarkRMSProp(b *testing.B) { benchStep(b, KindRMSProp, Options{LR: 1e-5}) }
func BenchmarkLAMB(b *testing.B)    { benchStep(b, KindLAMB, Options{LR: 1e-5}) }
