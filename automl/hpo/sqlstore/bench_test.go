package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tessera-ml/tessera/automl/hpo"
)

// BenchmarkTrialSQLite is the cost of one trial of a 3-parameter study
// (random sampler, trivial objective) in a SQLite file: claim, three
// parameters, finish, and the history read at the trial's start.
func BenchmarkTrialSQLite(b *testing.B) {
	st, err := OpenSQLite(filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := hpo.NewStudy(context.Background(), hpo.Options{Storage: st, Sampler: hpo.NewRandomSampler(1)})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := s.Optimize(context.Background(), func(t *hpo.Trial) (float64, error) {
		return t.SuggestFloat("x", 0, 1) + t.SuggestFloat("y", 1e-4, 1, hpo.Log()) + float64(len(t.SuggestCategorical("c", []string{"a", "b"}))), nil
	}, b.N, 1); err != nil {
		b.Fatal(err)
	}
}
