package main

import (
	"math"
	"runtime"
	"testing"
)

// BenchmarkTinyMLPStep is the mlp case at batch 10 on one thread.
func BenchmarkTinyMLPStep(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	step, _ := newMLPStep(10)
	step()
	b.ReportAllocs()
	for b.Loop() {
		step()
	}
}

// The tiny-MLP step's allocations (issue 21): 286 before backward
// temporaries were recycled and written with Into forms, 140 after
// (bench/RESULTS.md; 149 under -race); the bound leaves a margin for the
// runtime.
func TestTinyMLPStepAllocs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	step, ps := newMLPStep(10)
	step()
	step()
	n := testing.AllocsPerRun(50, step)
	bound := 160.0
	if raceEnabled {
		bound = 170
	}
	t.Logf("%.0f allocations per step", n)
	if n > bound {
		t.Errorf("tiny-MLP step: %.0f allocations, want at most %.0f", n, bound)
	}
	for _, p := range ps {
		for _, v := range p.Value().Float32s() {
			if math.IsNaN(float64(v)) {
				t.Fatal("NaN parameter")
			}
		}
	}
}
