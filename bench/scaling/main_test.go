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
		computeBatches: []int{8, 16, 32}, concurrent: true, syncSteps: 4,
		configs: []config{{strategy: "allreduce", bucketMiB: 25, overlap: true}, {strategy: "sharded-ps"}, {strategy: "allreduce", bucketMiB: 25, overlap: true, strong: true}}}
	res := newResults()
	for _, n := range []int{1, 2} {
		require.NoError(t, oneWorld(n, st, res))
	}
	cal, err := res.fit(st, 2)
	require.NoError(t, err)
	assert.Positive(t, cal.Link.Beta)
	assert.Equal(t, 9, cal.Link.Samples, "3 operations x 3 sizes on 2 ranks")
	// The straggler and central-server calibrations, on the 2-rank world.
	require.Contains(t, cal.Sync, 2)
	assert.Len(t, cal.Sync[2].Arrivals, 2*4, "2 ranks x 4 steps")
	assert.GreaterOrEqual(t, cal.Sync[2].Factor, 1.0)
	assert.Positive(t, cal.Sync[2].ComputeMs)
	assert.Equal(t, 3, cal.P2P.Samples, "send-receive at 3 sizes")
	assert.Positive(t, cal.P2P.Beta)
	assert.Zero(t, cal.P2P.Gamma)
	assert.Positive(t, cal.AddNsPerB)
	require.Contains(t, cal.Server, 2)
	assert.Positive(t, cal.Server[2].PushMs)
	assert.Positive(t, cal.Server[2].PullMs)
	assert.Equal(t, cal.P2P.Beta, cal.serverLink().Beta)
	require.Contains(t, cal.Compute, 1)
	require.Contains(t, cal.Compute, 2)
	assert.GreaterOrEqual(t, cal.Compute[1].PerSample, 0.0)
	assert.Positive(t, cal.Compute[1].Fixed+16*cal.Compute[1].PerSample)
	require.Contains(t, cal.CopyNsPerB, 1)
	require.Contains(t, cal.CopyNsPerB, 2)
	assert.Positive(t, cal.CopyNsPerB[1])
	assert.Positive(t, cal.CopyNsPerB[2])
	assert.Positive(t, cal.CopyAloneNsPerB[2])
	// The server's reduction, timed as central-ps runs it: one addition on
	// 2 ranks, none on one.
	require.Contains(t, cal.ServerSum, 1)
	require.Contains(t, cal.ServerSum, 2)
	for _, n := range []int{1, 2} {
		assert.Positive(t, cal.ServerSum[n].CopyNsPerB, n)
		assert.Positive(t, cal.ServerSum[n].ScaleNsPerB, n)
	}
	assert.Positive(t, cal.ServerSum[2].AddNsPerB)
	assert.Less(t, cal.ServerSum[1].AddNsPerB, cal.ServerSum[2].AddNsPerB, "one rank adds nothing")
	rows := res.rows(st, cal, []int{1, 2})
	require.Len(t, rows, 6)
	var lines []byte
	for _, r := range rows {
		assert.Positive(t, r.MeasuredMs, r.Config)
		assert.Positive(t, r.PredictedMs, r.Config)
		assert.Positive(t, r.PredPrevMs, r.Config)
		if r.Ranks == 1 {
			assert.Zero(t, r.PredStraggleMs, r.Config)
		}
		if r.Ranks == 2 {
			assert.GreaterOrEqual(t, r.PredStraggleMs, 0.0, r.Config)
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
	// sharded-ps on one rank: its reduce-scatter and all-gather are copies
	// (collectives/self.go), which the previous model left out.
	assert.Greater(t, rows[1].PredictedMs, rows[1].PredPrevMs)
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

// The bench's model on a synthetic calibration: the copies are the
// strategy's passes over the gradient at the measured copy speed, and on a
// machine whose cores the ranks fill, overlap predicts what no overlap does.
func TestModelCoresAndCopies(t *testing.T) {
	cal := Calib{Cores: 2, GradB: 8e6, CopyNsPerB: map[int]float64{1: 0.25, 2: 0.5, 4: 0.5},
		CopyAloneNsPerB: map[int]float64{1: 0.25, 2: 0.3, 4: 0.3}}
	cal.Link.Beta = 1e-9
	comp := paired([]scaling.StepSample{{Batch: 64, Forward: 4e-3, Backward: 8e-3, Optimizer: 2e-3}})
	buckets := []float64{1e6, 3e6, 4e6}
	for _, n := range []int{2, 4} {
		on := cal.model(comp, config{strategy: "allreduce", bucketMiB: 1, overlap: true}, buckets, n, false)
		off := cal.model(comp, config{strategy: "allreduce", bucketMiB: 1}, buckets, n, false)
		assert.Zero(t, on.OverlapShare(n))
		assert.InDelta(t, off.Step(n, 64).Total, on.Step(n, 64).Total, 1e-15, "%d ranks", n)
	}
	want := map[string]float64{"allreduce": 0, "fusion": 2, "sharded-ps": 1, "central-ps": 3}
	for s, k := range want {
		assert.Equal(t, k, copyPasses(s), s)
		for _, n := range []int{1, 2} {
			m := cal.model(comp, config{strategy: s}, nil, n, false)
			prev := cal.model(comp, config{strategy: s}, nil, n, true)
			ns, passes := cal.CopyNsPerB[n], k
			if s == "central-ps" {
				ns = cal.CopyAloneNsPerB[n] // the server copies while the workers wait
			}
			assert.InDelta(t, k*8e6*ns*1e-9, prev.Step(n, 64).Copy, 1e-15, "%s, %d ranks", s, n)
			if s == "sharded-ps" && n == 1 {
				passes += 2 // the one-rank backend's reduce-scatter and all-gather copy
			}
			assert.InDelta(t, passes*8e6*ns*1e-9, m.Step(n, 64).Copy, 1e-15, "%s, %d ranks", s, n)
		}
	}
	// With the server's reduction calibrated, central-ps takes its prices
	// from it: its copies (own gradient in, scaling, parameters out) and the
	// additions (γ of the server's link).
	cal.ServerSum = map[int]serverSum{2: {CopyNsPerB: 0.4, AddNsPerB: 0.7, ScaleNsPerB: 0.5}}
	cal.P2P.Samples, cal.P2P.Alpha, cal.P2P.Beta, cal.AddNsPerB = 6, 1e-6, 0.1e-9, 0.2
	m := cal.model(comp, config{strategy: "central-ps"}, nil, 2, false)
	assert.InDelta(t, 8e6*(0.4+0.5+0.4)*1e-9, m.Step(2, 64).Copy, 1e-15)
	assert.InDelta(t, 0.7e-9, m.ServerLink.Gamma, 1e-24)
	prev := cal.model(comp, config{strategy: "central-ps"}, nil, 2, true)
	assert.InDelta(t, 0.2e-9, prev.ServerLink.Gamma, 1e-24)
	assert.InDelta(t, 3*8e6*0.3*1e-9, prev.Step(2, 64).Copy, 1e-15)
}
