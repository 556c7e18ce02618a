package tensor_test

import (
	"fmt"
	"testing"

	"github.com/tessera-ml/tessera/tensor"
)

// Benchmarks of the op families bench_test.go leaves out: Fill, Im2Col and
// Col2Im (the convolution lowering), AddMatMul (the fused bias GEMM),
// IndexSelect, Pad, Prod/ArgMax/LogSumExp reductions, and the fused SGD and
// Adam updates on a non-contiguous parameter (the composed path).

func BenchmarkFill(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16, tensor.Int64} {
		n := 1 << 20
		b.Run(fmt.Sprintf("%v/n=%d", dt, n), func(b *testing.B) {
			x := tensor.Empty(dt, n)
			b.SetBytes(int64(n * dt.Size()))
			for b.Loop() {
				tensor.CPU.Fill(x.View(), 1.5)
			}
		})
	}
}

func BenchmarkIm2Col(b *testing.B) {
	for _, c := range []struct {
		name    string
		n, ch   int
		h, w    int
		p       tensor.ConvParams
		outChan int
	}{
		{"mnist-3x3", 64, 8, 28, 28, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 16},
		{"cifar-5x5-stride2", 32, 16, 32, 32, tensor.ConvParams{KH: 5, KW: 5, StrideH: 2, StrideW: 2, PadH: 2, PadW: 2}, 32},
	} {
		x := benchRand(tensor.Float32, c.n, c.ch, c.h, c.w)
		cols := tensor.Im2Col(x, c.p)
		b.Run("Im2Col/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(4 * (x.NumElements() + cols.NumElements())))
			for b.Loop() {
				tensor.Im2Col(x, c.p)
			}
		})
		b.Run("Col2Im/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(4 * (x.NumElements() + cols.NumElements())))
			for b.Loop() {
				tensor.Col2Im(cols, []int(x.Shape()), c.p)
			}
		})
	}
}

func BenchmarkAddMatMul(b *testing.B) {
	for _, s := range []int{64, 256} {
		a, w, bias := benchRand(tensor.Float32, s, s), benchRand(tensor.Float32, s, s), benchRand(tensor.Float32, s)
		b.Run(fmt.Sprintf("float32/%dx%d", s, s), func(b *testing.B) {
			for b.Loop() {
				tensor.AddMatMul(bias, a, w)
			}
			b.ReportMetric(2*float64(s*s*s)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkIndexSelect(b *testing.B) {
	emb := benchRand(tensor.Float32, 10000, 128)
	idx := tensor.NewGenerator(2).RandInt(0, 10000, 4096)
	b.SetBytes(4096 * 128 * 4 * 2)
	for b.Loop() {
		tensor.IndexSelect(emb, 0, idx)
	}
}

func BenchmarkPad(b *testing.B) {
	x := benchRand(tensor.Float32, 64, 8, 28, 28)
	b.SetBytes(int64(4 * (x.NumElements() + 64*8*30*30)))
	for b.Loop() {
		tensor.Pad(x, []int{1, 1, 1, 1}, 0)
	}
}

func BenchmarkReduceMore(b *testing.B) {
	x := benchRand(tensor.Float32, 1024, 1024)
	b.Run("Prod/rows", func(b *testing.B) {
		b.SetBytes(1024 * 1024 * 4)
		for b.Loop() {
			tensor.Prod(x, false, 1)
		}
	})
	b.Run("ArgMax/rows", func(b *testing.B) {
		b.SetBytes(1024 * 1024 * 4)
		for b.Loop() {
			tensor.ArgMax(x, 1, false)
		}
	})
	b.Run("LogSumExp/rows", func(b *testing.B) {
		b.SetBytes(1024 * 1024 * 4)
		for b.Loop() {
			tensor.LogSumExp(x, false, 1)
		}
	})
	b.Run("Var/columns", func(b *testing.B) {
		b.SetBytes(1024 * 1024 * 4)
		for b.Loop() {
			tensor.Var(x, 1, false, 0)
		}
	})
}

func BenchmarkOptimizerUpdate(b *testing.B) {
	n := 1 << 20
	for _, contiguous := range []bool{true, false} {
		mk := func() *tensor.Tensor {
			if contiguous {
				return benchRand(tensor.Float32, 1024, 1024)
			}
			return benchRand(tensor.Float32, 1024, 1024).T()
		}
		w, g, m, v := mk(), mk(), mk(), mk()
		b.Run(fmt.Sprintf("SGDMomentum/contiguous=%v", contiguous), func(b *testing.B) {
			b.SetBytes(int64(4 * 5 * n))
			for b.Loop() {
				tensor.SGDUpdate(w, g, m, tensor.SGDHyper{LR: 1e-3, Momentum: 0.9})
			}
		})
		b.Run(fmt.Sprintf("Adam/contiguous=%v", contiguous), func(b *testing.B) {
			b.SetBytes(int64(4 * 7 * n))
			step := 0
			for b.Loop() {
				step++
				tensor.AdamUpdate(w, g, m, v, tensor.AdamHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: step})
			}
		})
	}
}
