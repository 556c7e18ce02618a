package tensor_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/tessera-ml/tessera/tensor"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs f in b.Loop and also reports the CPU time per op (all
// threads), which a busy machine disturbs less than the wall time.
func loopCPU(b *testing.B, f func()) {
	t0 := cpuTime()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(cpuTime()-t0)/float64(n)/1e6, "cpu-ms/op")
}

// BenchmarkConvCNN times the convolution and pooling kernels at the shapes of
// bench/train's CNN (batch 128, float32): conv 1→32 3x3 on 28x28, max-pool 2
// on 26x26, conv 32→64 3x3 on 13x13, max-pool 2 on 11x11.
func BenchmarkConvCNN(b *testing.B) {
	g := tensor.NewGenerator(1)
	f32 := tensor.Float32
	k3 := tensor.ConvParams{KH: 3, KW: 3}
	for _, c := range []struct {
		name      string
		n, ci, hw int
		co        int
	}{{"conv1", 128, 1, 28, 32}, {"conv2", 128, 32, 13, 64}} {
		x := g.Normal(0, 1, f32, c.n, c.ci, c.hw, c.hw)
		w := g.Normal(0, 1, f32, c.co, c.ci, 3, 3)
		bias := g.Normal(0, 1, f32, c.co)
		y := tensor.Conv2d(x, w, bias, k3, 1)
		gy := g.Normal(0, 1, f32, y.Shape()...)
		b.Run(c.name+"/forward", func(b *testing.B) {
			loopCPU(b, func() {
				tensor.Conv2d(x, w, bias, k3, 1)
			})
		})
		b.Run(c.name+"/backward-input", func(b *testing.B) {
			loopCPU(b, func() {
				tensor.Conv2dBackwardInput(gy, w, x.Shape(), k3, 1)
			})
		})
		b.Run(c.name+"/backward-both", func(b *testing.B) {
			loopCPU(b, func() { tensor.Conv2dBackward(x, gy, w, k3, 1, true) })
		})
		b.Run(c.name+"/backward-weight", func(b *testing.B) {
			loopCPU(b, func() {
				tensor.Conv2dBackwardWeight(x, gy, w.Shape(), k3, 1, true)
			})
		})
	}
	// The yardstick: conv2's forward FLOPs as one contiguous GEMM.
	a, bm := g.Normal(0, 1, f32, 64, 288), g.Normal(0, 1, f32, 288, 128*11*11)
	b.Run("gemm-64x288x15488", func(b *testing.B) {
		loopCPU(b, func() { tensor.MatMul(a, bm) })
	})
	p2 := tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	for _, c := range []struct {
		name     string
		n, c, hw int
	}{{"pool1", 128, 32, 26}, {"pool2", 128, 64, 11}} {
		x := g.Normal(0, 1, f32, c.n, c.c, c.hw, c.hw)
		y, idx := tensor.MaxPool2d(x, p2)
		gy := g.Normal(0, 1, f32, y.Shape()...)
		b.Run(c.name+"/max-forward", func(b *testing.B) {
			loopCPU(b, func() {
				tensor.MaxPool2d(x, p2)
			})
		})
		b.Run(c.name+"/max-backward", func(b *testing.B) {
			loopCPU(b, func() {
				tensor.MaxPool2dBackward(gy, idx, x.Shape(), p2)
			})
		})
	}
}
