package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTinyPreset(t *testing.T) {
	var out, errOut bytes.Buffer
	cfg := presets["tiny"]
	require.NoError(t, mainErr(cfg, true, &out, &errOut))
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var r row
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		assert.Equal(t, methods[n], r.Method)
		assert.Equal(t, cfg.Ways, r.Ways)
		assert.Equal(t, 1, r.Shots)
		assert.True(t, r.Accuracy >= 0 && r.Accuracy <= 1, "%v", r)
		n++
	}
	assert.Equal(t, len(methods), n)
	assert.Contains(t, errOut.String(), "meta-test accuracy")
}
