package cudatensor

import (
	"fmt"
	"testing"

	"github.com/tessera-ml/tessera/tensor"
)

// GPU benchmarks of the device's primitives, the same cases as
// testdata/torch_gpu_bench.py runs in PyTorch (scripts/gpu-tests.sh runs
// both and prints them side by side). Each iteration queues one op; the
// timer stops after the device has finished all of them, so ns/op is the
// device time per op (plus launch overhead where that dominates). Without
// a GPU they skip (they fail under TESSERA_REQUIRE_GPU=1).

func benchView(b *testing.B, d *Device, dt tensor.DType, shape ...int) tensor.View {
	b.Helper()
	n := numel(shape)
	st, err := d.Alloc(dt, n)
	if err != nil {
		b.Fatal(err)
	}
	v := tensor.View{Storage: st, Shape: shape, Strides: tensor.ContiguousStrides(shape)}
	d.RandomFill(v, tensor.Uniform, 1, 0, -1, 1)
	return v
}

// benchLoop runs op b.N times after a warm-up and reports per-op device time.
func benchLoop(b *testing.B, d *Device, op func()) {
	b.Helper()
	op()
	if err := d.Synchronize(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		op()
	}
	if err := d.Synchronize(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

func BenchmarkGPUMatMul(b *testing.B) {
	d := gpuDevice(b)
	for _, c := range []struct {
		dt   tensor.DType
		n    int
		tf32 bool
	}{
		{tensor.Float32, 1024, false}, {tensor.Float32, 4096, false}, {tensor.Float32, 4096, true},
		{tensor.BFloat16, 4096, false}, {tensor.Float16, 4096, false},
	} {
		name := fmt.Sprintf("%v/%d", c.dt, c.n)
		if c.tf32 {
			name += "/tf32"
		}
		b.Run(name, func(b *testing.B) {
			d.TF32.Store(c.tf32)
			defer d.TF32.Store(false)
			x, y, z := benchView(b, d, c.dt, c.n, c.n), benchView(b, d, c.dt, c.n, c.n), benchView(b, d, c.dt, c.n, c.n)
			defer func() { ReleaseStorage(x.Storage); ReleaseStorage(y.Storage); ReleaseStorage(z.Storage) }()
			benchLoop(b, d, func() { d.MatMul(z, x, y) })
			flops := 2 * float64(c.n) * float64(c.n) * float64(c.n)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
	}
}

// elementwise and row-wise cases over n float32 elements (64 MiB each).
const benchElems = 1 << 24

func BenchmarkGPUElementwise(b *testing.B) {
	d := gpuDevice(b)
	rows, cols := 4096, benchElems/4096
	x, y, z := benchView(b, d, tensor.Float32, rows, cols), benchView(b, d, tensor.Float32, rows, cols), benchView(b, d, tensor.Float32, rows, cols)
	defer func() { ReleaseStorage(x.Storage); ReleaseStorage(y.Storage); ReleaseStorage(z.Storage) }()
	sum := benchView(b, d, tensor.Float32, rows)
	defer ReleaseStorage(sum.Storage)
	// bcast is y's first row broadcast over the rows (a bias add).
	bcast := tensor.View{Storage: y.Storage, Shape: []int{rows, cols}, Strides: []int{0, 1}}
	cases := []struct {
		name  string
		bytes int64 // memory traffic per op
		op    func()
	}{
		{"add", 12 * benchElems, func() { d.Binary(tensor.OpAdd, z, x, y) }},
		{"add_bcast_row", 8 * benchElems, func() { d.Binary(tensor.OpAdd, z, x, bcast) }},
		{"exp", 8 * benchElems, func() { d.Unary(tensor.OpExp, z, x, 0, 0) }},
		{"gelu_tanh", 8 * benchElems, func() { d.Unary(tensor.OpGELUTanh, z, x, 0, 0) }},
		{"copy_transpose", 8 * benchElems, func() {
			xt := tensor.View{Storage: x.Storage, Shape: []int{cols, rows}, Strides: []int{1, cols}}
			zt := tensor.View{Storage: z.Storage, Shape: []int{cols, rows}, Strides: []int{rows, 1}}
			d.Copy(zt, xt)
		}},
		{"sum_rows", 4 * benchElems, func() { d.Reduce(tensor.ReduceSum, sum, x, 1) }},
		{"softmax_rows", 8 * benchElems, func() { d.Softmax(z, x, false) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(c.bytes)
			benchLoop(b, d, c.op)
		})
	}
}
