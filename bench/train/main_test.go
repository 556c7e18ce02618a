package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// TestCases runs each model for a few small steps (a smoke test, not a
// timing).
func TestCases(t *testing.T) {
	for _, name := range []string{"mlp", "cnn"} {
		r, err := runCase(name, 4, 1, 2, tensor.CPU)
		require.NoError(t, err)
		require.Equal(t, name, r.Model)
		require.Greater(t, r.MsPerStep, 0.0)
		require.Greater(t, r.Loss, 0.0)
	}
	_, err := runCase("rnn", 4, 1, 1, tensor.CPU)
	require.Error(t, err)
}
