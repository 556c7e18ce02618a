package cpu

import (
	"testing"
)

// BenchmarkMicroKernel times the active micro-kernel alone on L1-resident
// packed panels (kc=384): the ceiling the blocked driver can reach on one core.
func BenchmarkMicroKernel(b *testing.B) {
	const k = 384
	b.Run("float32", func(b *testing.B) {
		s := spec32
		x, y, z := make([]float32, s.mr*k), make([]float32, s.nr*k), make([]float32, s.mr*s.nr)
		for b.Loop() {
			s.kern(k, &x[0], &y[0], &z[0], s.mr, 1, 0)
		}
		b.ReportMetric(float64(2*s.mr*s.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("float64", func(b *testing.B) {
		s := spec64
		x, y, z := make([]float64, s.mr*k), make([]float64, s.nr*k), make([]float64, s.mr*s.nr)
		for b.Loop() {
			s.kern(k, &x[0], &y[0], &z[0], s.mr, 1, 0)
		}
		b.ReportMetric(float64(2*s.mr*s.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// BenchmarkSgemmThreads1 is BenchmarkSgemm on one goroutine.
func BenchmarkSgemmThreads1(b *testing.B) {
	defer SetMaxThreads(SetMaxThreads(1))
	benchGemm(b, Sgemm)
}

// BenchmarkDgemmThreads1 is BenchmarkDgemm on one goroutine.
func BenchmarkDgemmThreads1(b *testing.B) {
	defer SetMaxThreads(SetMaxThreads(1))
	benchGemm(b, Dgemm)
}
