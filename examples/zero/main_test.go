package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two epochs of a small MLP on 2 ranks at every stage: the stages end with
// plain data parallelism's weights (1e-5), learn (test accuracy well above
// chance), need fewer model-state bytes per rank stage by stage, and the
// consolidated checkpoint scores what the sharded model scored.
func TestStagesQuick(t *testing.T) {
	var out, errb bytes.Buffer
	cfg, err := parseArgs([]string{"-ranks", "2", "-hidden", "32", "-epochs", "2", "-batch", "32", "-json", "-ckpt", t.TempDir()}, &out, &errb)
	require.NoError(t, err)
	res, err := run(cfg, &out)
	require.NoError(t, err)
	require.Len(t, res, 4)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	for i, l := range lines {
		var r Result
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		assert.Equal(t, i, r.Stage)
		assert.LessOrEqual(t, r.MaxDiffFromDP, 1e-5)
		assert.Greater(t, r.TestAccuracy, 0.5)
		if i > 0 {
			assert.Less(t, r.ModelStateBytes, res[i-1].ModelStateBytes)
		}
	}
	assert.Equal(t, res[3].TestAccuracy, res[3].CkptAccuracy)
	assert.Contains(t, errb.String(), "epoch 2/2")
}

func TestBadArgs(t *testing.T) {
	var out, errb bytes.Buffer
	for _, a := range [][]string{{"-stages", "4"}, {"-dtype", "int8"}, {"-ranks", "3", "-batch", "64"}} {
		_, err := parseArgs(a, &out, &errb)
		assert.Error(t, err, "%v", a)
	}
}
