package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/scaling"
)

// A small run on 1 and 2 in-process ranks: every configuration gets a
// measured and a predicted time, the link fit and the compute fit exist,
// the JSON rows carry the fields the issue names, and the plots are drawn.
func TestSmallRun(t *testing.T) {
	st := settings{sizes: []int{32, 256, 10}, batch: 16, global: 32, warmup: 1, steps: 3, minB: 16 << 10, maxB: 256 << 10,
		computeBatches: []int{8, 16, 32}, concurrent: true,
		configs: []config{{strategy: "allreduce", bucketMiB: 25, overlap: true}, {strategy: "sharded-ps"}, {strategy: "allreduce", bucketMiB: 25, overlap: true, strong: true}}}
	res := &results{compute: map[int]map[int][]scaling.StepSample{}, measured: map[string][]float64{}, paired: map[string][]scaling.StepSample{}, wait: map[string][]float64{}, buckets: map[string][]float64{}}
	for _, n := range []int{1, 2} {
		require.NoError(t, oneWorld(n, st, res))
	}
	cal, err := res.fit(st, 2)
	require.NoError(t, err)
	assert.Positive(t, cal.Link.Beta)
	assert.Equal(t, 9, cal.Link.Samples, "3 operations x 3 sizes on 2 ranks")
	require.Contains(t, cal.Compute, 1)
	require.Contains(t, cal.Compute, 2)
	assert.GreaterOrEqual(t, cal.Compute[1].PerSample, 0.0)
	assert.Positive(t, cal.Compute[1].Fixed+16*cal.Compute[1].PerSample)
	rows := res.rows(st, cal, []int{1, 2})
	require.Len(t, rows, 6)
	var lines []byte
	for _, r := range rows {
		assert.Positive(t, r.MeasuredMs, r.Config)
		assert.Positive(t, r.PredictedMs, r.Config)
		if r.Ranks == 2 {
			assert.Positive(t, r.PredCommMs, r.Config)
			assert.Equal(t, "local", r.Backend)
		}
		b, err := json.Marshal(r)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		for _, k := range []string{"config", "ranks", "backend", "predicted_ms", "measured_ms"} {
			assert.Contains(t, m, k)
		}
		lines = append(append(lines, b...), '\n')
	}
	assert.Equal(t, 32, rows[2].BatchPerRank, "strong scaling: the global batch on one rank")
	assert.Equal(t, 16, rows[5].BatchPerRank, "strong scaling: half of it on each of 2 ranks")
	dir := t.TempDir()
	rowsPath, calPath := filepath.Join(dir, "rows.json"), filepath.Join(dir, "cal.json")
	require.NoError(t, os.WriteFile(rowsPath, lines, 0o644))
	cb, err := json.Marshal(cal)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(calPath, cb, 0o644))
	require.NoError(t, plotAll([]string{rowsPath}, calPath, dir))
	for _, f := range []string{"predicted_vs_measured.png", "weak_scaling.png", "strong_scaling.png"} {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.NoError(t, err, f)
	}
}
