package digitsmlp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/automl/hpo"
)

// A sensible configuration learns the digits in a few epochs; a learning
// rate far too small does not.
func TestRunLearns(t *testing.T) {
	ctx := context.Background()
	good, err := New(Config{LR: 3e-3, Width: 64, Depth: 1, Batch: 32, Epochs: 4, Seed: 1})
	require.NoError(t, err)
	var acc float64
	for range 4 {
		acc, err = good.Epoch(ctx)
		require.NoError(t, err)
	}
	assert.Greater(t, acc, 0.9)
	assert.Equal(t, 4, good.Epochs())
	bad, err := New(Config{LR: 1e-6, Width: 16, Depth: 1, Batch: 128, Epochs: 2, Seed: 1})
	require.NoError(t, err)
	accBad, err := bad.Epoch(ctx)
	require.NoError(t, err)
	assert.Less(t, accBad, 0.5)
	_, err = New(Config{LR: 0, Width: 4, Batch: 1, Epochs: 1})
	assert.Error(t, err)
}

func TestObjectiveReportsEpochs(t *testing.T) {
	ctx := context.Background()
	s, err := hpo.NewStudy(ctx, hpo.Options{Direction: hpo.Maximize, Sampler: hpo.NewRandomSampler(1)})
	require.NoError(t, err)
	epochs := 0
	require.NoError(t, s.Optimize(ctx, Objective(2, 1, func(*hpo.Trial, int, float64) { epochs++ }), 2, 1))
	ts, err := s.Trials(ctx)
	require.NoError(t, err)
	require.Len(t, ts, 2)
	assert.Equal(t, 4, epochs)
	for _, x := range ts {
		assert.Len(t, x.Intermediate, 2)
		assert.Equal(t, x.Intermediate[2], x.Value)
		assert.Len(t, x.Params, 5)
	}
}
