package parallel_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/tensor"
)

func TestLaunchInProcessSharesTheCores(t *testing.T) {
	p := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	seen := map[int]int{}
	err := parallel.Launch(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
		mu.Lock()
		seen[c.Rank()] = tensor.Threads()
		mu.Unlock()
		assert.Equal(t, 3, c.Size())
		assert.Equal(t, "local", c.Backend())
		return c.Barrier(ctx)
	})
	require.NoError(t, err)
	for r := range 3 {
		assert.Equal(t, max(1, p/3), seen[r])
	}
	assert.Equal(t, p, tensor.Threads(), "restored")
}

func TestLaunchAloneIsOneRank(t *testing.T) {
	for _, k := range []string{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "RANK", "WORLD_SIZE", "PMIX_RANK", "TESSERA_BACKEND"} {
		t.Setenv(k, "")
	}
	ran := false
	err := parallel.Launch(context.Background(), 1, func(ctx context.Context, c collectives.Comm) error {
		ran = true
		assert.Equal(t, 1, c.Size())
		return nil
	})
	require.NoError(t, err)
	assert.True(t, ran)
}
