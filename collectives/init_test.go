package collectives_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/colltest"
	"github.com/tessera-ml/tessera/tensor"
)

func TestReadEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	e, err := collectives.ReadEnv(env(nil))
	require.NoError(t, err)
	require.Equal(t, collectives.Env{Rank: 0, Size: 1, LocalSize: 1, Backend: "self", Launcher: "none"}, e)
	e, err = collectives.ReadEnv(env(map[string]string{"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4", "RANK": "9",
		"OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "LOCAL_RANK": "1"}))
	require.NoError(t, err)
	require.Equal(t, collectives.Env{Rank: 2, Size: 4, LocalRank: 0, LocalSize: 2, Backend: "mpi", Launcher: "mpirun"}, e)
	e, err = collectives.ReadEnv(env(map[string]string{"RANK": "1", "WORLD_SIZE": "2", "TESSERA_BACKEND": "nccl", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}))
	require.NoError(t, err)
	require.Equal(t, collectives.Env{Rank: 1, Size: 2, LocalRank: 1, LocalSize: 2, Backend: "nccl", Launcher: "env"}, e)
	_, err = collectives.ReadEnv(env(map[string]string{"RANK": "3", "WORLD_SIZE": "2"}))
	require.Error(t, err)
	_, err = collectives.ReadEnv(env(map[string]string{"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "2"}))
	require.Error(t, err, "local rank outside the local size")

	// srun --mpi=pmix: Slurm's variables count only with PMIX_RANK set.
	slurm := map[string]string{"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4"}
	e, err = collectives.ReadEnv(env(slurm))
	require.NoError(t, err)
	require.Equal(t, collectives.Env{Rank: 0, Size: 1, LocalSize: 1, Backend: "self", Launcher: "none"}, e, "a batch script's shell")
	slurm["PMIX_RANK"] = "5"
	e, err = collectives.ReadEnv(env(slurm))
	require.NoError(t, err)
	require.Equal(t, collectives.Env{Rank: 5, Size: 8, LocalRank: 1, LocalSize: 4, Backend: "mpi", Launcher: "srun"}, e)
}

func TestInitSelf(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_RANK", "")
	t.Setenv("OMPI_COMM_WORLD_SIZE", "")
	t.Setenv("RANK", "")
	t.Setenv("WORLD_SIZE", "")
	t.Setenv("TESSERA_BACKEND", "")
	ctx := context.Background()
	c, err := collectives.Init(ctx)
	require.NoError(t, err)
	require.Equal(t, "self", c.Backend())
	for _, cs := range colltest.Cases(1, []int{0, 1, 17}, true) {
		require.NoError(t, colltest.Check(ctx, c, cs), cs.String())
	}
	sub, err := c.Split(ctx, 0, 0)
	require.NoError(t, err)
	require.Equal(t, 1, sub.Size())
	require.NoError(t, c.Close())

	t.Setenv("OMPI_COMM_WORLD_RANK", "0")
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	if _, err := collectives.Init(ctx); err != nil {
		require.Contains(t, err.Error(), "-tags mpi")
	}
}

func TestRedOpNames(t *testing.T) {
	for _, op := range collectives.RedOps() {
		got, err := collectives.ParseRedOp(op.String())
		require.NoError(t, err)
		require.Equal(t, op, got)
	}
	_, err := collectives.ParseRedOp("xor")
	require.Error(t, err)
	require.Equal(t, "float32[2 3]", collectives.Buffer{DType: tensor.Float32, Shape: tensor.Shape{2, 3}}.Desc())
}
