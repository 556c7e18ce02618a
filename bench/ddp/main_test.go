package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunWorldRows: a tiny model through every strategy on 1 and 3
// in-process ranks; bytes per rank equal each strategy's formula, DDP
// issues one all-reduce per bucket per step, and the trace has one track
// per rank with each bucket's communication.
func TestRunWorldRows(t *testing.T) {
	st := settings{sizes: []int{12, 16, 4}, model: "12-16-4", batch: 4, warmup: 1, steps: 2,
		trace: filepath.Join(t.TempDir(), "trace.json")}
	st.configs = []config{
		{strategy: "allreduce", overlap: true, bucketMiB: 1e-4},
		{strategy: "allreduce", overlap: false, bucketMiB: 25},
		{strategy: "fusion", overlap: true},
		{strategy: "sharded-ps"}, {strategy: "central-ps"}, {strategy: "central-ps", staleness: 1, overlap: true},
	}
	var all []Row
	for _, w := range []int{1, 3} {
		rows, err := runWorld(w, st)
		all = append(all, rows...)
		require.NoError(t, err)
		require.Len(t, rows, len(st.configs))
		for i, r := range rows {
			assert.Equal(t, w, r.World)
			assert.Equal(t, st.configs[i].strategy, r.Strategy)
			assert.Positive(t, r.MsPerStep)
			assert.LessOrEqual(t, r.MinMs, r.MsPerStep)
			assert.Equal(t, r.FormulaBytes, r.BytesPerRank, "%+v", r)
			if w > 1 {
				assert.Positive(t, r.BytesPerRank, "%+v", r)
			}
			if r.Strategy == "allreduce" {
				assert.Equal(t, float64(r.Buckets), r.AllReducePerStep, "%+v", r)
			}
		}
		assert.Equal(t, 4, rows[0].Buckets, "4 parameters, tiny buckets")
		assert.Equal(t, 1, rows[1].Buckets)
	}
	b, err := os.ReadFile(st.trace)
	require.NoError(t, err)
	var tr struct {
		TraceEvents []struct {
			Name string `json:"name"`
			Ph   string `json:"ph"`
			Pid  int    `json:"pid"`
			Tid  int    `json:"tid"`
		} `json:"traceEvents"`
	}
	require.NoError(t, json.Unmarshal(b, &tr))
	comm := map[int]int{}
	for _, e := range tr.TraceEvents {
		if e.Ph == "X" && e.Tid == 1 {
			comm[e.Pid]++
		}
	}
	assert.Equal(t, map[int]int{0: 4, 1: 4, 2: 4}, comm, "one span per bucket per rank")

	// The figures: a two-point bucket sweep, the strategies, the trace.
	dir := t.TempDir()
	sweep := append([]Row{}, all...)
	for i := range sweep {
		if sweep[i].Strategy == "allreduce" && sweep[i].World > 1 {
			sweep[i].BucketMiB = float64(1 + i)
		}
	}
	require.NoError(t, plotRows(sweep, dir))
	tracePNG := filepath.Join(dir, "t.png")
	require.NoError(t, plotTrace(st.trace, tracePNG))
	for _, f := range []string{"ddp-buckets.png", "ddp-strategies.png", "t.png"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.Greater(t, fi.Size(), int64(1000), f)
	}
}
