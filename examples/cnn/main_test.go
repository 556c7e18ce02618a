package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/examples/internal/idxtrain"
)

// TestTrain runs one short epoch on small generated 28x28 IDX files.
func TestTrain(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, idxtrain.WriteSynthetic(dir, 96, 32, 28, 28, 2))
	cfg := defaults
	cfg.Data, cfg.Epochs, cfg.Batch = dir, 1, 32
	res, err := idxtrain.Train(model, cfg)
	require.NoError(t, err)
	require.Equal(t, 3, res.Steps)
	require.Len(t, res.EpochLoss, 1)
	require.Greater(t, res.EpochLoss[0], 0.0)
	require.GreaterOrEqual(t, res.TestAccuracy, 0.0)
}
