package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/tensor"
)

// A short run of every operation on 3 ranks: rows for each size that fits,
// nccl-tests' bus-bandwidth factors.
func TestRunRows(t *testing.T) {
	cfg := config{ops: []string{"allreduce", "allgather", "reducescatter", "broadcast", "reduce", "alltoall"},
		minB: 12, maxB: 3 << 10, factor: 4, iters: 2, warmup: 1, dt: tensor.Float32, op: collectives.Sum,
		maxTime: 100 * time.Millisecond}
	var rows []Row
	err := local.Run(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
		return run(ctx, c, cfg, func(r Row) { rows = append(rows, r) })
	})
	require.NoError(t, err)
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.Op]++
		require.Equal(t, 3, r.Ranks)
		require.Greater(t, r.TimeUS, 0.0)
		require.InDelta(t, float64(r.Bytes)/(r.TimeUS*1e-6)/1e9, r.AlgBW, 1e-9*r.AlgBW+1e-12)
		require.InDelta(t, r.AlgBW*busFactor(r.Op, 3), r.BusBW, 1e-12)
		if r.Op == "allreduce" {
			require.Equal(t, "ring", r.Algo)
		}
	}
	// 12, 48, 192, 768, 3072 bytes: every size for the per-rank ops, and the
	// ones divisible by 3 elements for the split ops.
	require.Equal(t, 5, seen["allreduce"])
	require.Equal(t, 5, seen["broadcast"])
	require.Equal(t, 5, seen["allgather"])
	require.InDelta(t, 4.0/3, busFactor("allreduce", 3), 1e-12)
	require.InDelta(t, 2.0/3, busFactor("alltoall", 3), 1e-12)
	require.Equal(t, 1.0, busFactor("broadcast", 3))
}

func TestCompareFiles(t *testing.T) {
	dir := t.TempDir()
	g := filepath.Join(dir, "go.json")
	c := filepath.Join(dir, "c.json")
	require.NoError(t, os.WriteFile(g, []byte(`{"op":"allreduce","size":8,"time_us":2}
{"op":"allreduce","size":8,"time_us":1.5}
{"op":"allreduce","size":1048576,"time_us":100}
`), 0o644))
	require.NoError(t, os.WriteFile(c, []byte(`not json
{"op":"allreduce","size":8,"time_us":1}
{"op":"allreduce","size":1048576,"time_us":99}
`), 0o644))
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	err := compareFiles(g + "," + c)
	w.Close()
	os.Stdout = old
	require.NoError(t, err)
	buf := make([]byte, 4096)
	n, _ := r.Read(buf)
	out := string(buf[:n])
	require.Contains(t, out, "1.500") // best of the two Go rows over C
	require.True(t, strings.Contains(out, "worst ratio 1.500 over all sizes, 1.010 at >= 1 MiB"), out)
	require.Error(t, compareFiles(g))
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int{"8": 8, "4K": 4096, "64M": 64 << 20, "1G": 1 << 30} {
		got, err := parseSize(s)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}
