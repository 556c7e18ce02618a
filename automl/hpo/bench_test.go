package hpo

import (
	"context"
	"testing"
)

// BenchmarkTPE6D is one TPE trial of a 6-parameter study holding 100
// finished trials (memory storage): sampler overhead per trial.
func BenchmarkTPE6D(b *testing.B) {
	ctx := context.Background()
	s, err := NewStudy(ctx, Options{Sampler: NewTPESampler(TPEOptions{Seed: 1})})
	if err != nil {
		b.Fatal(err)
	}
	obj := func(t *Trial) (float64, error) {
		v := 0.0
		for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
			x := t.SuggestFloat(n, 0, 1)
			v += (x - 0.3) * (x - 0.3)
		}
		return v, nil
	}
	if err := s.Optimize(ctx, obj, 100, 1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		t, err := s.Ask(ctx)
		if err != nil {
			b.Fatal(err)
		}
		v, _ := obj(t)
		_ = v
		// Leave the history at 100 finished trials: fail this one.
		if err := s.Tell(t, 0, context.Canceled); err != nil {
			b.Fatal(err)
		}
	}
}
