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

// A tiny model (3 layers of 6x6: Ψ = 108, divisible by every world size
// used, so no padding) through every stage on 1, 2 and 4 ranks: the
// measured model-state bytes and traffic equal the formulas exactly, in
// mixed precision and in float32; the figures are written.
func TestRowsMatchFormulas(t *testing.T) {
	for _, dt := range []string{"bfloat16", "float32"} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		err := run([]string{"-ranks", "1,2,4", "-layers", "3", "-width", "6", "-batch", "2", "-steps", "2",
			"-dtype", dt, "-json", "-plot", dir}, &out, &errb)
		require.NoError(t, err, errb.String())
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		require.Len(t, lines, 12)
		for _, l := range lines {
			var raw map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &raw))
			for _, k := range []string{"stage", "ranks", "params", "model_state_bytes_per_rank", "formula_bytes", "comm_bytes_per_rank", "ms_per_step"} {
				assert.Contains(t, raw, k)
			}
			var r Row
			require.NoError(t, json.Unmarshal([]byte(l), &r))
			assert.Equal(t, 108, r.Params)
			assert.Equal(t, r.FormulaBytes, r.ModelStateBytes, "%s %+v", dt, r)
			assert.Equal(t, r.ParamBytes+r.GradBytes+r.OptimBytes, r.ModelStateBytes, "%+v", r)
			assert.Equal(t, r.FormulaComm, r.CommBytes, "%s %+v", dt, r)
			assert.Positive(t, r.MsPerStep)
		}
		for _, f := range []string{"zero-memory.png", "zero-comm.png"} {
			st, err := os.Stat(filepath.Join(dir, f))
			require.NoError(t, err)
			assert.Positive(t, st.Size())
		}
	}
}

func TestBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Error(t, run([]string{"-dtype", "int8"}, &out, &errb))
	assert.Error(t, run([]string{"-stages", "5"}, &out, &errb))
	assert.Error(t, run([]string{"-ranks", "x"}, &out, &errb))
}
