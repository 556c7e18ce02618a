package tensor_test

import (
	"fmt"
	"testing"

	"github.com/tessera-ml/tessera/tensor"
)

// Benchmarks of each op family on the CPU device. b.SetBytes counts the
// bytes an op must read and write (inputs once, output once), so the MB/s
// column is effective memory bandwidth; MatMul reports GFLOP/s instead.

var benchSizes = []int{1 << 10, 1 << 16, 1 << 20}

func benchRand(dt tensor.DType, shape ...int) *tensor.Tensor {
	return tensor.NewGenerator(1).Uniform(0.5, 2, dt, shape...)
}

func BenchmarkAdd(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%v/n=%d", dt, n), func(b *testing.B) {
				x, y, out := benchRand(dt, n), benchRand(dt, n), tensor.Empty(dt, n)
				b.SetBytes(int64(3 * n * dt.Size()))
				for b.Loop() {
					tensor.AddInto(out, x, y)
				}
			})
		}
	}
	b.Run("float32/broadcast-row/1024x1024", func(b *testing.B) {
		x, row, out := benchRand(tensor.Float32, 1024, 1024), benchRand(tensor.Float32, 1024), tensor.Empty(tensor.Float32, 1024, 1024)
		b.SetBytes(2 * 1024 * 1024 * 4)
		for b.Loop() {
			tensor.AddInto(out, x, row)
		}
	})
	b.Run("float32/transposed/1024x1024", func(b *testing.B) {
		x, out := benchRand(tensor.Float32, 1024, 1024), tensor.Empty(tensor.Float32, 1024, 1024)
		b.SetBytes(3 * 1024 * 1024 * 4)
		for b.Loop() {
			tensor.AddInto(out, x, x.T())
		}
	})
}

func BenchmarkMul(b *testing.B) {
	n := 1 << 20
	x, y, out := benchRand(tensor.Float32, n), benchRand(tensor.Float32, n), tensor.Empty(tensor.Float32, n)
	b.SetBytes(int64(3 * n * 4))
	for b.Loop() {
		tensor.MulInto(out, x, y)
	}
}

func BenchmarkCompare(b *testing.B) {
	n := 1 << 20
	x, y, out := benchRand(tensor.Float32, n), benchRand(tensor.Float32, n), tensor.Empty(tensor.Bool, n)
	b.SetBytes(int64(n * (4 + 4 + 1)))
	for b.Loop() {
		tensor.BinaryInto(tensor.OpLt, out, x, y)
	}
}

func BenchmarkUnary(b *testing.B) {
	ops := []struct {
		name string
		op   tensor.UnaryOp
	}{{"Exp", tensor.OpExp}, {"Tanh", tensor.OpTanh}, {"Sigmoid", tensor.OpSigmoid}, {"ReLU", tensor.OpReLU}, {"GELU", tensor.OpGELUTanh}, {"Sqrt", tensor.OpSqrt}}
	for _, o := range ops {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			n := 1 << 20
			b.Run(fmt.Sprintf("%s/%v/n=%d", o.name, dt, n), func(b *testing.B) {
				x, out := benchRand(dt, n), tensor.Empty(dt, n)
				b.SetBytes(int64(2 * n * dt.Size()))
				for b.Loop() {
					tensor.UnaryInto(o.op, out, x, 0, 0)
				}
			})
		}
	}
}

func BenchmarkExp(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%v/n=%d", dt, n), func(b *testing.B) {
				x, out := benchRand(dt, n), tensor.Empty(dt, n)
				b.SetBytes(int64(2 * n * dt.Size()))
				for b.Loop() {
					tensor.UnaryInto(tensor.OpExp, out, x, 0, 0)
				}
			})
		}
	}
}

func BenchmarkSum(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		x := benchRand(dt, 1024, 1024)
		bytes := int64(1024 * 1024 * dt.Size())
		b.Run(fmt.Sprintf("%v/all/1024x1024", dt), func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				tensor.Sum(x, false)
			}
		})
		b.Run(fmt.Sprintf("%v/rows/1024x1024", dt), func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				tensor.Sum(x, false, 1)
			}
		})
		b.Run(fmt.Sprintf("%v/columns/1024x1024", dt), func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				tensor.Sum(x, false, 0)
			}
		})
	}
}

func BenchmarkMax(b *testing.B) {
	x := benchRand(tensor.Float32, 1024, 1024)
	b.Run("rows", func(b *testing.B) {
		b.SetBytes(1024 * 1024 * 4)
		for b.Loop() {
			tensor.Max(x, false, 1)
		}
	})
	b.Run("ArgMax/rows", func(b *testing.B) {
		b.SetBytes(1024 * 1024 * 4)
		for b.Loop() {
			tensor.ArgMax(x, 1, false)
		}
	})
}

func BenchmarkMatMul(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16} {
		for _, n := range []int{64, 256, 512} {
			b.Run(fmt.Sprintf("%v/%dx%dx%d", dt, n, n, n), func(b *testing.B) {
				x, y, out := benchRand(dt, n, n), benchRand(dt, n, n), tensor.Empty(dt, n, n)
				b.SetBytes(int64(3 * n * n * dt.Size()))
				for b.Loop() {
					tensor.MatMulInto(out, x, y)
				}
				b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
	b.Run("float32/batched/64x(64x64x64)", func(b *testing.B) {
		x, y, out := benchRand(tensor.Float32, 64, 64, 64), benchRand(tensor.Float32, 64, 64, 64), tensor.Empty(tensor.Float32, 64, 64, 64)
		b.SetBytes(3 * 64 * 64 * 64 * 4)
		for b.Loop() {
			tensor.MatMulInto(out, x, y)
		}
		b.ReportMetric(2*64*64*64*64*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("float32/transposed-b/512", func(b *testing.B) {
		x, y, out := benchRand(tensor.Float32, 512, 512), benchRand(tensor.Float32, 512, 512), tensor.Empty(tensor.Float32, 512, 512)
		b.SetBytes(3 * 512 * 512 * 4)
		for b.Loop() {
			tensor.MatMulInto(out, x, y.T())
		}
		b.ReportMetric(2*512*512*512*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

func BenchmarkSoftmax(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, shape := range [][2]int{{1024, 128}, {256, 4096}} {
			x := benchRand(dt, shape[0], shape[1])
			bytes := int64(2 * shape[0] * shape[1] * dt.Size())
			b.Run(fmt.Sprintf("%v/%dx%d", dt, shape[0], shape[1]), func(b *testing.B) {
				b.SetBytes(bytes)
				for b.Loop() {
					tensor.Softmax(x, -1)
				}
			})
			b.Run(fmt.Sprintf("Log/%v/%dx%d", dt, shape[0], shape[1]), func(b *testing.B) {
				b.SetBytes(bytes)
				for b.Loop() {
					tensor.LogSoftmax(x, -1)
				}
			})
		}
	}
	x := benchRand(tensor.Float32, 128, 1024)
	b.Run("float32/axis0/128x1024", func(b *testing.B) {
		b.SetBytes(2 * 128 * 1024 * 4)
		for b.Loop() {
			tensor.Softmax(x, 0)
		}
	})
}

func BenchmarkGather(b *testing.B) {
	const rows, cols, picks = 1024, 1024, 256
	x := benchRand(tensor.Float32, rows, cols)
	idx := tensor.NewGenerator(2).RandInt(0, cols, rows, picks)
	b.Run("Gather/axis1", func(b *testing.B) {
		b.SetBytes(rows * picks * (4 + 8 + 4))
		for b.Loop() {
			tensor.Gather(x, 1, idx)
		}
	})
	sel := tensor.NewGenerator(3).RandInt(0, rows, 512)
	b.Run("IndexSelect/rows", func(b *testing.B) {
		b.SetBytes(512 * cols * 4 * 2)
		for b.Loop() {
			tensor.IndexSelect(x, 0, sel)
		}
	})
	emb := benchRand(tensor.Float32, 50000, 64)
	tokens := tensor.NewGenerator(4).RandInt(0, 50000, 4096)
	b.Run("IndexSelect/embedding-4096x64", func(b *testing.B) {
		b.SetBytes(4096 * 64 * 4 * 2)
		for b.Loop() {
			tensor.IndexSelect(emb, 0, tokens)
		}
	})
}

func BenchmarkScatterAdd(b *testing.B) {
	const rows, cols, picks = 1024, 1024, 256
	acc := tensor.Zeros(tensor.Float32, rows, cols)
	idx := tensor.NewGenerator(2).RandInt(0, cols, rows, picks)
	src := benchRand(tensor.Float32, rows, picks)
	b.SetBytes(rows * picks * (4 + 8 + 4 + 4))
	for b.Loop() {
		tensor.ScatterAddInto(acc, 1, idx, src)
	}
}

func BenchmarkCopyTranspose(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16} {
		for _, n := range []int{256, 1024, 2048} {
			b.Run(fmt.Sprintf("%v/%dx%d", dt, n, n), func(b *testing.B) {
				x, out := benchRand(dt, n, n), tensor.Empty(dt, n, n)
				b.SetBytes(int64(2 * n * n * dt.Size()))
				for b.Loop() {
					out.CopyFrom(x.T())
				}
			})
		}
	}
	x := benchRand(tensor.Float32, 64, 128, 128)
	b.Run("float32/permute(2,0,1)/64x128x128", func(b *testing.B) {
		b.SetBytes(2 * 64 * 128 * 128 * 4)
		for b.Loop() {
			x.Permute(2, 0, 1).Contiguous()
		}
	})
}

func BenchmarkCast(b *testing.B) {
	n := 1 << 20
	pairs := [][2]tensor.DType{{tensor.Float32, tensor.BFloat16}, {tensor.BFloat16, tensor.Float32}, {tensor.Float32, tensor.Float16}, {tensor.Float64, tensor.Float32}, {tensor.Int64, tensor.Float32}}
	for _, p := range pairs {
		b.Run(fmt.Sprintf("%v-to-%v", p[0], p[1]), func(b *testing.B) {
			x, out := benchRand(p[0], n), tensor.Empty(p[1], n)
			if p[0] == tensor.Int64 {
				x = tensor.NewGenerator(1).RandInt(-1000, 1000, n)
			}
			b.SetBytes(int64(n * (p[0].Size() + p[1].Size())))
			for b.Loop() {
				out.CopyFrom(x)
			}
		})
	}
}

func BenchmarkWhere(b *testing.B) {
	n := 1 << 20
	c := tensor.NewGenerator(1).Bernoulli(0.5, tensor.Bool, n)
	x, y := benchRand(tensor.Float32, n), benchRand(tensor.Float32, n)
	b.SetBytes(int64(n * (1 + 4 + 4 + 4)))
	for b.Loop() {
		tensor.Where(c, x, y)
	}
}

func BenchmarkRandom(b *testing.B) {
	n := 1 << 20
	g := tensor.NewGenerator(1)
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		out := tensor.Empty(dt, n)
		b.Run(fmt.Sprintf("Uniform/%v", dt), func(b *testing.B) {
			b.SetBytes(int64(n * dt.Size()))
			for b.Loop() {
				g.FillUniform(out, 0, 1)
			}
		})
		b.Run(fmt.Sprintf("Normal/%v", dt), func(b *testing.B) {
			b.SetBytes(int64(n * dt.Size()))
			for b.Loop() {
				g.FillNormal(out, 0, 1)
			}
		})
	}
}

func BenchmarkConcat(b *testing.B) {
	parts := []*tensor.Tensor{benchRand(tensor.Float32, 512, 256), benchRand(tensor.Float32, 512, 256), benchRand(tensor.Float32, 512, 512)}
	b.SetBytes(2 * 512 * 1024 * 4)
	for b.Loop() {
		tensor.Concat(parts, 1)
	}
}
