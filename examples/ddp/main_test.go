package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReachesSingleProcessAccuracy: 2 and 4 ranks at the global batch of
// single-process training reach its accuracy (>= 0.97) and follow its
// loss curve (the ranks' shards of a step are the single process's batch).
func TestReachesSingleProcessAccuracy(t *testing.T) {
	cfg := defaults
	cfg.Ranks = 1
	one, err := Train(cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, one.TestAccuracy, 0.97)
	ranks := []int{2, 4}
	if testing.Short() {
		ranks = ranks[:1] // 4 ranks in the full run
	}
	for _, n := range ranks {
		cfg.Ranks = n
		var out bytes.Buffer
		cfg.Progress = &out
		res, err := Train(cfg)
		require.NoError(t, err)
		assert.Equal(t, n, res.Ranks)
		assert.GreaterOrEqual(t, res.TestAccuracy, 0.97, "%d ranks", n)
		assert.InDelta(t, one.TestAccuracy, res.TestAccuracy, 0.01, "%d ranks", n)
		assert.Equal(t, one.Steps, res.Steps, "same number of global steps")
		assert.InEpsilon(t, one.EpochLoss[0], res.EpochLoss[0], 1e-3, "%d ranks: first epoch's loss", n)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		assert.Len(t, lines, cfg.Epochs, "one progress line per epoch, from rank 0 only")
		assert.Contains(t, lines[0], "samples/s")
	}
}

// TestStrategiesAndTrace: every strategy and the CNN train briefly, and
// -trace writes a Chrome trace with one track per rank.
func TestStrategiesAndTrace(t *testing.T) {
	cfg := defaults
	cfg.Epochs, cfg.Ranks, cfg.Hidden = 3, 2, 64
	ref, err := Train(cfg)
	require.NoError(t, err)
	require.Greater(t, ref.TestAccuracy, 0.7)
	for _, s := range []string{"fusion", "sharded-ps", "central-ps"} {
		cfg.Strategy = s
		res, err := Train(cfg)
		require.NoError(t, err, s)
		// Synchronous strategies train the same model as allreduce.
		assert.InDelta(t, ref.TestAccuracy, res.TestAccuracy, 0.01, s)
		assert.InEpsilon(t, ref.EpochLoss[2], res.EpochLoss[2], 1e-3, s)
	}
	cfg.Strategy, cfg.Model = "allreduce", "cnn"
	cfg.Trace = filepath.Join(t.TempDir(), "trace.json")
	res, err := Train(cfg)
	require.NoError(t, err)
	assert.Greater(t, res.TestAccuracy, 0.5)
	b, err := os.ReadFile(cfg.Trace)
	require.NoError(t, err)
	var tr struct {
		TraceEvents []struct {
			Name string `json:"name"`
			Ph   string `json:"ph"`
			Pid  int    `json:"pid"`
		} `json:"traceEvents"`
	}
	require.NoError(t, json.Unmarshal(b, &tr))
	names := map[int]map[string]bool{}
	for _, e := range tr.TraceEvents {
		if e.Ph == "X" {
			if names[e.Pid] == nil {
				names[e.Pid] = map[string]bool{}
			}
			names[e.Pid][e.Name] = true
		}
	}
	require.Len(t, names, 2)
	for pid, ns := range names {
		for _, want := range []string{"forward", "backward", "step", "allreduce bucket 0", "wait allreduce"} {
			assert.True(t, ns[want], "rank %d lacks %q", pid, want)
		}
	}
}
