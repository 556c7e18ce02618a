package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/nn"
)

// TestRowsMatchMegatronsCount: on a tiny GPT at TP 1, 2 and 3, each layer
// issues Megatron's 2 all-reduces forward and 2 backward (2 all-gathers and
// 2 reduce-scatters each way with sequence parallelism), the bytes a rank
// sends equal the ring formula for them, and the figure is written.
func TestRowsMatchMegatronsCount(t *testing.T) {
	st := settings{model: nn.GPTConfig{Vocab: 32, Context: 6, Embed: 12, Heads: 6, Layers: 2}, batch: 2, warmup: 1, steps: 1,
		degrees: []int{1, 2, 3}, sp: []bool{false, true}}
	var out bytes.Buffer
	rows, err := run(st, &out, false)
	require.NoError(t, err)
	require.Len(t, rows, 5) // TP 1 has no sequence-parallel row
	act := int64(2 * 6 * 12 * 4)
	for _, r := range rows {
		assert.Positive(t, r.MsPerStep)
		assert.Less(t, r.ParamsPerRank, rows[0].ParamsPerRank+1)
		if r.TP > 1 {
			assert.Less(t, r.ParamsPerRank, rows[0].ParamsPerRank*2/3, "sharded weights: about 1/TP of the blocks' and vocabulary's")
		}
		assert.Equal(t, 4*act, r.MegatronPayloadBytes)
		if r.TP == 1 {
			assert.Zero(t, r.StepCollectives)
			assert.Zero(t, r.LayerRingBytes)
			continue
		}
		if r.SequenceParallel {
			assert.Equal(t, []int{0, 2, 2, 0, 2, 2}, []int{r.FwdAllReduce, r.FwdAllGather, r.FwdReduceScatter, r.BwdAllReduce, r.BwdAllGather, r.BwdReduceScatter}, "%+v", r)
		} else {
			assert.Equal(t, []int{2, 0, 0, 2, 0, 0}, []int{r.FwdAllReduce, r.FwdAllGather, r.FwdReduceScatter, r.BwdAllReduce, r.BwdAllGather, r.BwdReduceScatter}, "%+v", r)
			assert.Equal(t, r.MegatronPayloadBytes, r.LayerPayloadBytes)
		}
		assert.Equal(t, r.MegatronRingBytes, r.LayerRingBytes, "%+v", r)
		assert.Equal(t, 4*act*2*int64(r.TP-1)/int64(r.TP), r.LayerRingBytes)
		// the step: every layer's 4, plus embedding, head and the loss's 3
		assert.GreaterOrEqual(t, r.StepCollectives, 4*st.model.Layers+5, "%+v", r)
	}
	assert.Equal(t, 1+len(rows)+1, len(strings.Split(strings.TrimSpace(out.String()), "\n")))
	dir := t.TempDir()
	var js bytes.Buffer
	_, err = run(st, &js, true)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rows.json"), js.Bytes(), 0o644))
	saved, err := readRows(filepath.Join(dir, "rows.json"))
	require.NoError(t, err)
	require.Len(t, saved, len(rows))
	assert.Equal(t, rows[2].LayerRingBytes, saved[2].LayerRingBytes)
	require.NoError(t, plotRows(saved, dir))
	fi, err := os.Stat(filepath.Join(dir, "tensorparallel.png"))
	require.NoError(t, err)
	assert.Positive(t, fi.Size())
}

func TestCurves(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	require.NoError(t, os.WriteFile(a, []byte("step 1\n{\"grid\":\"1x1x1\",\"losses\":[5.5,4,3]}\n"), 0o644))
	require.NoError(t, os.WriteFile(b, []byte(`{"grid":"1x2x2","losses":[5.5,4.00001,3]}`), 0o644))
	runs, err := readRuns([]string{a, b})
	require.NoError(t, err)
	require.Len(t, runs, 2)
	assert.Equal(t, "1x2x2", runs[1].Grid)
	require.NoError(t, plotCurves(runs, dir))
	_, err = os.Stat(filepath.Join(dir, "gpt-loss.png"))
	require.NoError(t, err)
	_, err = readRuns([]string{filepath.Join(dir, "missing.json")})
	require.Error(t, err)
}
